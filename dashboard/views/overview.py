"""Overview: every scenario in the store side by side (milestones, takeoff classes, peak growth, freshness)."""

import pandas as pd
import streamlit as st

from dashboard import charts, meta, store, ui

st.title("AI futures: the scenarios side by side")
st.caption(
    "Monte Carlo ensembles precomputed by `python -m pipelines run`; every number below comes from "
    "the stored runs (see the SQL page to check any of them)."
)

if not ui.require_store():
    st.stop()

current = store.current_ensembles()
ids = dict(zip(current["scenario"], current["ensemble_id"]))
by_id = {v: k for k, v in ids.items()}


# ---------------------------------------------------------------------------------------- summary
pct = store.milestone_percentiles(list(ids.values()), probs=(0.1, 0.5, 0.9))
pct["scenario"] = pct["ensemble_id"].map(by_id)
milestones = [m for m in store.milestone_names() if m in store.MILESTONE_ORDER] or store.milestone_names()
pct = pct[pct["milestone"].isin(milestones)]  # the headline milestones; every one is on the Milestones page
summary = current[["scenario", "mc_runs", "finished_at", "duration_s", "model_version"]].copy()
ends = store.horizon_ends()
summary.insert(2, "end_year", current["ensemble_id"].map(ends).round().astype("Int64"))
summary["finished_at"] = pd.to_datetime(summary["finished_at"]).dt.strftime("%Y-%m-%d %H:%M")
summary["duration_s"] = summary["duration_s"].astype(float).round(1)
fresh = meta.freshness(store.fingerprint())
if fresh is not None:
    summary["freshness"] = current["ensemble_id"].map(lambda e: fresh.get(e, fresh.get("?", "unknown")))
else:  # the staleness check loads the simulator to hash the parameter files: it runs in the background
    summary["freshness"] = "checking …"

    @st.fragment(run_every=1.0)
    def _refresh_when_ready() -> None:
        if meta.freshness(store.fingerprint()) is not None:
            st.rerun()

    _refresh_when_ready()
for m in milestones:
    sub = pct[pct["milestone"] == m].set_index("scenario")
    summary[f"{m} median (10–90%)"] = summary["scenario"].map(
        lambda s, sub=sub: (
            (
                f"{ui.fmt_year(sub.loc[s, 'p50'], sub.loc[s, 'end_year'])} "
                f"({ui.fmt_year(sub.loc[s, 'p10'], sub.loc[s, 'end_year'])} – "
                f"{ui.fmt_year(sub.loc[s, 'p90'], sub.loc[s, 'end_year'])})"
            )
            if s in sub.index
            else "—"
        )
    )

classes = store.class_shares(list(ids.values()))
classes["scenario"] = classes["ensemble_id"].map(by_id)
if not classes.empty:
    top = classes.sort_values("share", ascending=False).drop_duplicates("scenario").set_index("scenario")
    summary["most common takeoff class (growth / labor share / wages)"] = summary["scenario"].map(
        lambda s: (
            (
                f"{top.loc[s, 'growth_class']} / {top.loc[s, 'labor_share_class']} / "
                f"{top.loc[s, 'wages_class']} ({top.loc[s, 'share']:.0%})"
            )
            if s in top.index
            else "—"
        )
    )

run_metrics = store.run_metric_columns()
peak = next((c for c in run_metrics if "peak" in c and "growth" in c and not c.endswith("year")), None)
if peak:
    peaks = store.run_metric_percentiles(list(ids.values()), peak).set_index("ensemble_id")
    summary[f"{peak} median (10–90%)"] = current["ensemble_id"].map(
        lambda e: (
            f"{peaks.loc[e, 'p50']:.1%} ({peaks.loc[e, 'p10']:.1%}–{peaks.loc[e, 'p90']:.1%})"
            if e in peaks.index
            else "—"
        )
    )

st.subheader("Scenarios")
st.dataframe(
    summary.rename(
        columns={
            "mc_runs": "runs",
            "end_year": "simulated to",
            "finished_at": "computed (UTC)",
            "duration_s": "took (s)",
            "model_version": "model",
        }
    ),
    hide_index=True,
    width="stretch",
)
ui.download(summary, "overview_summary")

# ---------------------------------------------------------------------------------- milestone dots
left, right = st.columns(2)
with left:
    st.subheader("When the AI milestones arrive")
    plot = pct.copy()
    for c in ("p10", "p50", "p90"):
        plot[c] = plot[c].where(plot[c].abs() < float("inf"))
    plot["p90_shown"] = plot["p90"].fillna(plot["end_year"])
    x_max = charts.milestone_axis_end(plot)
    ui.chart("milestone_dots", plot, milestones, list(ids), x_max)
    st.caption(
        "Dot: median year, bar: 10–90 % of runs. Runs that never reach a milestone count as reaching it "
        "after the end of their simulation (`simulated to` in the table), so a bar ending there means the "
        f"90th percentile is beyond that scenario's horizon. The axis stops at {x_max:.0f}: bars that "
        "run off the right edge go further (hover for the numbers)."
    )
    ui.download(
        pct[["scenario", "milestone", "runs", "reached", "p10", "p50", "p90", "end_year"]],
        "overview_milestones",
    )

with right:
    st.subheader("Share of runs per growth class")
    if classes.empty:
        st.info("No takeoff classes in this store.")
    else:
        growth = classes.groupby(["scenario", "growth_class"], as_index=False)[["runs", "share"]].sum()
        ui.chart(
            "class_share_chart",
            growth,
            "growth_class",
            "growth class",
            store.CLASS_ORDER["growth_class"],
            scenarios=list(ids),
        )
        st.caption(
            "Growth classes (Trammell & Korinek): `--`/`-` slower, `=` unchanged, `+` modest rise, "
            "`++` new higher rate, `I` ever-accelerating growth, `II` finite-time singularity. "
            "Details on the Takeoff classes page."
        )
        ui.download(growth, "overview_growth_classes")

# ------------------------------------------------------------------------------ actors: compute shares
SHARE_METRIC, SHARE_YEAR = "share_of_world_compute", 2030
st.subheader(f"Who has the compute: each actor's share of world AI compute in {SHARE_YEAR}")
shares = store.actor_values_at(list(ids.values()), SHARE_METRIC, SHARE_YEAR)
if shares.empty:
    st.info(
        ui.md(
            f"This store has no per-actor `{SHARE_METRIC}` series (it is recorded by the compute supply chain, "
            "`compute.supply_chain = 1`; stores computed before it, or with the exogenous compute trend only, "
            "have none). Rebuild the store with `python -m pipelines run --all` once the model records it."
        )
    )
else:
    shares["scenario"] = shares["ensemble_id"].map(by_id)
    kinds = [k for k in ("nation", "project") if k in set(shares["kind"])] or [None]
    columns = st.columns(len(kinds))
    for column, kind in zip(columns, kinds):
        part = shares if kind is None else shares[shares["kind"] == kind]
        with column:
            title = {"nation": "nations", "project": "AI projects"}.get(kind, "actors")
            ui.chart("actor_share_chart", part, f"{title} ({SHARE_YEAR})", list(ids))
    off = shares[(shares["year"] - SHARE_YEAR).abs() > 1e-6]
    st.caption(
        ui.md(
            f"`{SHARE_METRIC}` per actor from the `actor_quantiles` table: bar = median over the Monte Carlo runs, "
            "line = 10–90 % of runs. Medians of shares need not add up to 100 %."
            + (
                " Scenarios whose grid has no "
                + f"{SHARE_YEAR} point show their nearest year ({', '.join(sorted(set(off['scenario'])))})."
                if len(off)
                else ""
            )
        )
    )
    ui.download(shares.drop(columns=["ensemble_id"]), "overview_compute_shares")

# ---------------------------------------------------------------------------------------------- events
events = store.event_counts(list(ids.values()))
if not events.empty:
    st.subheader("Events: when the simulated worlds change course")
    events["scenario"] = events["ensemble_id"].map(by_id)
    events["label"] = events["event"] + [("" if a == "(world)" else f" [{a}]") for a in events["actor"]]
    # the faceted chart is as wide as the years it spans: full width, the totals table below it
    ui.chart("event_chart", events[["scenario", "label", "year", "firings", "runs"]], list(ids))
    totals = (
        events.groupby(["scenario", "event", "actor"], as_index=False)
        .agg(firings=("firings", "sum"), first_year=("year", "min"), last_year=("year", "max"))
        .astype({"first_year": int, "last_year": int})
    )
    st.dataframe(totals, hide_index=True, width="stretch")
    st.caption(
        ui.md(
            "Discrete events the modules define (a phase change, a policy switching on, the wake-up marker), "
            "counted per calendar year over the Monte Carlo runs (bar height: firings, one row per scenario), from "
            "the `events` table; an event that repeats counts each firing."
        )
    )
    ui.download(events.drop(columns=["ensemble_id"]), "overview_events")

with st.expander("Ensembles in the store"):
    every = store.ensembles().drop(columns=["label", "complete"], errors="ignore")
    st.dataframe(every, hide_index=True, width="stretch")
    ui.download(every, "ensembles")

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

with st.expander("Ensembles in the store"):
    every = store.ensembles().drop(columns=["label", "complete"], errors="ignore")
    st.dataframe(every, hide_index=True, width="stretch")
    ui.download(every, "ensembles")

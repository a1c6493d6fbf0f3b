"""Policy: slowdown agreements in phases, hidden (covert) projects and their detection, who has the compute, and
the milestone dates of each AI project against ``no_agreement`` (issue 12; every number from the store)."""

import math

import pandas as pd
import streamlit as st

from dashboard import charts, meta, store, ui

REFERENCE = "no_agreement"
STOCK_METRIC, SHARE_METRIC = "covert_stock_h100e", "share_of_world_compute"
HEADLINE = ["AC", "ASI"]

st.title("Policy: agreements, covert compute and detection")
st.caption(
    ui.md(
        "Slowdown agreements move through phases (none → negotiating → signed → in force → collapsed); while one "
        "binds a nation, that nation may divert chips to a hidden project, which evidence (leaks, chip and energy "
        "accounting) may expose. From the `events`, `actor_quantiles` and `project_milestones` tables."
    )
)

if not ui.require_store():
    st.stop()

current = store.current_ensembles()
all_ids = dict(zip(current["scenario"], current["ensemble_id"]))
events = store.event_counts(list(all_ids.values()))
policy_events = events[events["event"].str.startswith(("agreement_", "covert_", "export_control"))]
hidden_all = store.hidden_projects(list(all_ids.values()))
policy_ids = set(policy_events["ensemble_id"]) | set(hidden_all["ensemble_id"])
policy_scenarios = [s for s, e in all_ids.items() if e in policy_ids and s != REFERENCE]
if not policy_scenarios:
    st.info(
        ui.md(
            "This store has no policy scenario: no ensemble has agreement, covert-project or export-control events, "
            "or a hidden project. Build them with `python -m pipelines run --scenario us_prc_cap_2028 "
            "--scenario no_agreement` (also `pause_at_sar`, `export_controls_strict`, `export_controls_leaky`)."
        )
    )
    st.stop()

default = policy_scenarios[:2] + ([REFERENCE] if REFERENCE in all_ids else [])
picked = ui.scenario_picker(default=default, include_user=False)
ids = ui.ensemble_ids(picked)
if not ids:
    st.info("Pick at least one scenario.")
    st.stop()
by_id = {v: k for k, v in ids.items()}
years = store.policy_grid(list(ids.values()))

# ------------------------------------------------------------------------------------- agreement phases
st.subheader("Agreement phases: share of runs in each phase by year")
phases = store.agreement_phase_shares(list(ids.values()), years).copy()
if phases.empty:
    st.info(ui.md("None of the picked scenarios has an agreement phase event (`agreement_<phase>` in `events`)."))
else:
    phases["scenario"] = phases["ensemble_id"].map(by_id)
    phases["label"] = phases["scenario"] + " · " + phases["agreement"]
    phases["phase_order"] = phases["phase"].map({p: i for i, p in enumerate(store.PHASES)})
    for label, part in phases.groupby("label", sort=False):
        scenario, agreement = label.split(" · ", 1)
        st.markdown(f"**{scenario}**: agreement `{agreement}`")
        ui.chart("phase_area", part[["year", "phase", "phase_order", "share", "runs"]], list(store.PHASES))
    st.caption(
        ui.md(
            "A run is in the last phase it entered by that year (`agreement_<phase>` events; a quarter-year grid); "
            "before its first event an agreement is `none`. Shares add up to 100 % of the Monte Carlo runs."
        )
    )
    ui.download(phases[["scenario", "agreement", "year", "phase", "runs", "share"]], "policy_phases")

# ---------------------------------------------------------------------------------- covert projects
hidden = hidden_all[hidden_all["ensemble_id"].isin(ids.values())]
left, right = st.columns(2)
with left:
    st.subheader("P(hidden project detected by year)")
    detection = store.detection_by_year(list(ids.values()), years).copy()
    if detection.empty:
        st.info("None of the picked scenarios has a hidden project (`covert.ACTOR.hidden = 1`).")
    else:
        detection["scenario"] = detection["ensemble_id"].map(by_id) + " · " + detection["actor"]
        plot = detection.rename(columns={"probability": "cdf"})[["scenario", "year", "cdf"]]
        ui.chart("cdf_chart", plot, "detection", None, None, None, "P(hidden project detected by year)")
        ever = detection.groupby("scenario")["probability"].transform("max") > 0
        marks = detection[ever & detection["year"].isin([2030.0, 2035.0, 2040.0])]
        st.caption(
            ui.md(
                "Share of Monte Carlo runs whose first `covert_detected` event is at or before the year. "
                + "; ".join(f"{r.scenario}: {r.probability:.0%} by {r.year:.0f}" for r in marks.itertuples())
                + (". " if len(marks) else "")
                + "A scenario without an agreement never diverts chips, so it is never detected."
            )
        )
        ui.download(detection.drop(columns=["ensemble_id"]), "policy_detection")

with right:
    st.subheader("Covert stock (H100e)")
    bands = []
    for row in hidden.itertuples():
        part = store.actor_quantiles([row.ensemble_id], STOCK_METRIC, row.actor).copy()
        part["scenario"] = by_id[row.ensemble_id] + " · " + row.actor
        bands.append(part)
    bands = pd.concat(bands, ignore_index=True) if bands else pd.DataFrame()
    if bands.empty or not (bands["p95"].fillna(0) > 0).any():
        st.info(ui.md(f"No hidden project of the picked scenarios holds chips (`{STOCK_METRIC}` is zero or absent)."))
    else:
        bands = bands[bands.groupby("scenario")["p95"].transform("max") > 0]  # a project never diverting: flat 0
        info = meta.metric(STOCK_METRIC)
        ui.chart("fan_chart", bands.drop(columns=["ensemble_id"]), info, False, None, 320)
        st.caption(
            ui.md(
                f"`{STOCK_METRIC}` from `actor_quantiles`: chips diverted to the hidden project (median and 5–95 / "
                "10–90 / 25–75 % of runs). After detection diverted chips stop flowing in and the stock decays."
            )
        )
        ui.download(bands.drop(columns=["ensemble_id"]), "policy_covert_stock")

# ------------------------------------------------------------------------------------- compute shares
st.subheader("Each nation's share of world compute")
shares = []
for eid, scenario in by_id.items():
    for actor in store.metric_actors([eid], SHARE_METRIC):
        part = store.actor_quantiles([eid], SHARE_METRIC, actor)
        shares.append(part.assign(scenario=scenario, actor=actor))
actors = store.actors(list(ids.values()))
nations = set(actors.loc[actors["kind"] == "nation", "actor"])
shares = pd.concat(shares, ignore_index=True) if shares else pd.DataFrame()
if shares.empty or not shares["actor"].isin(nations).any():
    st.info(ui.md(f"No per-nation `{SHARE_METRIC}` in the picked scenarios (it needs `compute.supply_chain = 1`)."))
else:
    shares = shares[shares["actor"].isin(nations)][["scenario", "actor", "year", "n", "p10", "p50", "p90"]]
    ui.chart("actor_lines", shares, "Share of world compute (median of runs)", list(ids))
    st.caption(
        ui.md(
            f"Median over runs of `{SHARE_METRIC}` per nation (`actor_quantiles`); line style = scenario. An agreement "
            "caps training runs, not chip purchases, so its lines lie on those of `no_agreement`; export controls "
            "move them."
        )
    )
    ui.download(shares, "policy_compute_shares")

# --------------------------------------------------------------------------------- milestones vs reference
st.subheader(f"When each AI project reaches {' and '.join(HEADLINE)}, against `{REFERENCE}`")
pct = store.project_milestone_percentiles(list(ids.values())).copy()
pct = pct[pct["milestone"].isin(HEADLINE)]
if pct.empty:
    st.info("No per-project milestones (`project_milestones`) in the picked scenarios.")
else:
    ends = store.horizon_ends()
    pct["scenario"] = pct["ensemble_id"].map(by_id)
    pct["end_year"] = pct["ensemble_id"].map(ends).astype(float)
    pct["share_reached"] = pct["reached"] / pct["runs"]
    plot = pct.copy()
    for c in ("p10", "p50", "p90"):
        plot[c] = plot[c].where(plot[c].abs() < float("inf"))
    plot["p90_shown"] = plot["p90"].fillna(plot["end_year"])
    plot["scenario"] = plot["actor"] + " · " + pct["scenario"]
    rows = [f"{a} · {s}" for a in dict.fromkeys(pct["actor"]) for s in ids]
    ui.chart("milestone_dots", plot, HEADLINE, rows, charts.milestone_axis_end(plot))
    table = pct[["scenario", "actor", "milestone", "runs", "reached", "p10", "p50", "p90", "end_year"]].copy()
    if REFERENCE in ids:
        ref = table[table["scenario"] == REFERENCE].set_index(["actor", "milestone"])["p50"]
        base = [ref.get((a, m), float("nan")) for a, m in zip(table["actor"], table["milestone"])]
        table["median delay vs " + REFERENCE] = [  # NaN where either median is after the end of the run
            (p - b) if math.isfinite(p) and math.isfinite(b) else float("nan")
            for p, b in zip(table["p50"], base)
        ]
        paired = []
        for scenario, eid in ids.items():
            if scenario != REFERENCE:
                part = store.paired_milestone_delays(eid, ids[REFERENCE], HEADLINE)
                paired.append(part.assign(scenario=scenario))
        if paired:
            paired = pd.concat(paired, ignore_index=True)
            table = table.merge(
                paired.rename(columns={"p10": "delay p10", "p50": "delay p50 (paired)", "p90": "delay p90"})[
                    ["scenario", "actor", "milestone", "delay p10", "delay p50 (paired)", "delay p90"]
                ],
                on=["scenario", "actor", "milestone"],
                how="left",
            )
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption(
        ui.md(
            "Dot: median year, bar: 10–90 % of runs (`project_milestones`; the p-th percentile is the earliest year by "
            "which p % of all runs reach it, `inf` = after the end of the run). Delays in years: the difference of "
            f"medians, and the 10/50/90 % of the run-by-run delay against `{REFERENCE}` (runs paired by sample index, "
            "so equal seeds compare the same worlds; unreached milestones counted at the horizon end)."
            + ("" if REFERENCE in ids else f" Add `{REFERENCE}` to the scenarios to see delays.")
        )
    )
    ui.download(table, "policy_project_milestones")

"""Milestones: when AI milestones arrive, per scenario (CDFs, histograms, percentiles, P(by year))."""

import math

import pandas as pd
import streamlit as st

from dashboard import store, ui

st.title("Milestones")
st.caption(
    "AC: automated coder · SAR: superhuman AI researcher · SIAR: superintelligent AI researcher · "
    "TED-AI: top-expert-dominating AI · ASI: artificial superintelligence (AI Futures Project definitions). "
    "Shares are over all runs: runs that never reach a milestone by the end of the simulation count as not reached."
)

if not ui.require_store():
    st.stop()

names = store.milestone_names()
if not names:
    st.warning("The store has no milestones.")
    st.stop()
start, _ = store.year_range()
horizons = store.horizon_ends()

c1, c2, c3 = st.columns([3, 1.5, 2])
with c1:
    picked = ui.scenario_picker(default=list(store.current_ensembles()["scenario"][:3]))
ids = ui.ensemble_ids(picked)
label_of = {v: k for k, v in ids.items()}
ordered = list(ids)
ends = {label: horizons.get(eid, float("nan")) for label, eid in ids.items()}  # each scenario's last year
end = store.horizon_end(list(ids.values())) if ids else store.horizon_end()
with c2:
    milestone = st.selectbox("Milestone", names, key="milestone", bind="query-params")
with c3:
    lo_year, hi_year = math.ceil(start), max(int(end), math.ceil(start) + 1)
    if "by_year" in st.session_state:  # keep a chosen year inside the range of the scenarios picked now
        st.session_state["by_year"] = min(max(int(st.session_state["by_year"]), lo_year), hi_year)
    by_year = st.slider(
        "Probability by year",
        min_value=lo_year,
        max_value=hi_year,
        value=min(hi_year, 2035),
        step=1,
        key="by_year",
        bind="query-params",
    )
if not picked:
    st.info("Pick at least one scenario.")
    st.stop()

# ------------------------------------------------------------------------------------- CDF, histogram
cdf = store.milestone_cdf(list(ids.values()), step=0.25).copy()
cdf["scenario"] = cdf["ensemble_id"].map(label_of)
one = cdf[cdf["milestone"] == milestone]
left, right = st.columns(2)
with left:
    st.subheader(f"P({milestone} by year)")
    if one.empty:
        st.info(f"No run reaches {milestone} before {end:.0f}.")
    else:
        # each curve starts at zero on the first year and runs flat to its scenario's last year
        first = pd.DataFrame({"scenario": ordered, "year": start, "cdf": 0.0})
        final = one.groupby("scenario", as_index=False)["cdf"].max()
        final["year"] = final["scenario"].map(ends)
        plot = pd.concat([first, one[["scenario", "year", "cdf"]], final.dropna()], ignore_index=True)
        plot["scenario"] = pd.Categorical(plot["scenario"], ordered)
        plot = plot.sort_values(["scenario", "year"]).assign(scenario=lambda f: f["scenario"].astype(str))
        # the year axis follows the milestone (plus some room), not a 300-year horizon
        x_max = min(end, max(float(one["year"].max()) + 5.0, start + 10.0))
        ui.chart("cdf_chart", plot, milestone, ends, order=ordered, x_max=x_max)
        beyond = [f"{s} ({e:.0f})" for s, e in ends.items() if e > x_max]
        st.caption(
            "Dashed: where each scenario's simulation ends; a curve stays flat after its last run reaches "
            f"{milestone}." + (f" Simulated beyond this axis: {', '.join(beyond)}." if beyond else "")
        )
        ui.download(one[["scenario", "milestone", "year", "count", "cdf"]], f"cdf_{milestone}")
with right:
    st.subheader(f"{milestone} year: histogram")
    hist = store.milestone_cdf(list(ids.values()), step=1.0).copy()
    hist = hist[hist["milestone"] == milestone]
    if hist.empty:
        st.info(f"No run reaches {milestone} before {end:.0f}.")
    else:
        totals = store.run_counts(list(ids.values()))
        hist["scenario"] = hist["ensemble_id"].map(label_of)
        hist["bin_end"] = hist["year"]
        hist["bin_start"] = hist["year"] - 1.0
        hist["share"] = hist["count"] / hist["ensemble_id"].map(totals)
        ui.chart(
            "histogram",
            hist[["scenario", "bin_start", "bin_end", "count", "share"]],
            milestone,
            order=ordered,
        )
        ui.download(hist[["scenario", "bin_start", "bin_end", "count", "share"]], f"histogram_{milestone}")

# ------------------------------------------------------------------------------------ percentiles table
st.subheader("Percentiles of every milestone")
pct = store.milestone_percentiles(list(ids.values())).copy()
pct["scenario"] = pct["ensemble_id"].map(label_of)
pct["scenario"] = pd.Categorical(pct["scenario"], ordered)
pct["milestone"] = pd.Categorical(pct["milestone"], names)
pct = pct.sort_values(["milestone", "scenario"])
shown = (
    pct[["milestone", "scenario", "runs", "share_reached"]].astype({"milestone": str, "scenario": str}).copy()
)
for c in ("p5", "p10", "p25", "p50", "p75", "p90", "p95"):
    shown[c] = [ui.fmt_year(v, e) for v, e in zip(pct[c], pct["end_year"])]
shown["share_reached"] = (pct["share_reached"] * 100).round(1).astype(str) + " %"
shown.insert(3, "simulated to", pct["end_year"].round().astype("Int64"))
st.dataframe(shown.rename(columns={"share_reached": "reached by the end"}), hide_index=True)
st.caption(
    "p-th percentile: the earliest year by which p % of all runs have reached the milestone (the same "
    "definition as the store's `milestone_percentiles` view and `python -m sim run`). `>2060`: fewer than "
    "p % of the runs reach it by the end of that scenario's simulation."
)
ui.download(
    pct.drop(columns="ensemble_id").astype({"milestone": str, "scenario": str}), "milestone_percentiles"
)

# ---------------------------------------------------------------------------------------- P(by year)
st.subheader(f"Probability of each milestone by {by_year}")
prob = store.milestone_by_year(list(ids.values()), float(by_year)).copy()
prob["scenario"] = prob["ensemble_id"].map(label_of)
prob["milestone"] = pd.Categorical(prob["milestone"], names)
prob = prob.sort_values(["milestone", "scenario"]).astype({"milestone": str})
a, b = st.columns([3, 2])
with a:
    ui.chart("probability_bars", prob[["scenario", "milestone", "probability"]], by_year, order=ordered)
with b:
    table = prob.pivot(index="milestone", columns="scenario", values="probability").reindex(names)[ordered]
    st.dataframe((table * 100).round(1).astype(str) + " %")
    ui.download(
        prob[["scenario", "milestone", "probability"]].assign(year=by_year), f"p_milestones_by_{by_year}"
    )

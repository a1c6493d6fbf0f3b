"""Fan charts: 5-95 / 10-90 / 25-75 % bands and the median of any metric, for one or two scenarios."""

import math

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import meta, store, ui

st.title("Fan charts")
st.caption(
    "Quantile bands over the Monte Carlo runs of each ensemble, read from the precomputed `quantiles` table."
)

if not ui.require_store():
    st.stop()

world_metrics = store.quantile_metrics()
actor_metric_names = store.actor_metrics()  # recorded per actor (nation or project): an actor picker appears
metrics = meta.metric_order(sorted(set(world_metrics) | set(actor_metric_names)))
if not metrics:
    st.warning("The store has no quantiles yet.")
    st.stop()
default_metric = next(
    (m for m in ("time_horizon_minutes", "effective_compute_ooms", "gdp") if m in metrics), metrics[0]
)

c1, c2, c3, c4 = st.columns([3, 3, 2, 1.3])
with c1:
    picked = ui.scenario_picker("Scenarios (pick two to overlay)", max_selections=4)
with c2:
    metric_name = ui.url_select(
        "Metric",
        metrics,
        key="metric",
        default=default_metric,
        format_func=lambda m: meta.metric(m).axis_title,
    )
with c3:
    scale = st.segmented_control(
        "Y scale",
        ["auto", "linear", "log"],
        default="auto",
        key="scale",
        bind="query-params",
        help="auto: log when the metric spans orders of magnitude",
    )
with c4:
    n_samples = st.number_input(
        "Sample runs",
        min_value=0,
        max_value=20,
        value=0,
        step=1,
        key="samples",
        bind="query-params",
        help="Overlay a few individual runs (dashed lines)",
    )

if not picked:
    st.info("Pick at least one scenario.")
    st.stop()

ids = ui.ensemble_ids(picked)
info = meta.metric(metric_name)
# per-actor metrics: pick whose series (default: the world-level one, i.e. the frontier project's)
actor = store.WORLD
actor_options = store.metric_actors(list(ids.values()), metric_name) if metric_name in actor_metric_names else []
if actor_options:
    kinds = store.actors(list(ids.values())).drop_duplicates("actor").set_index("actor")
    options = ([store.WORLD] if metric_name in world_metrics else []) + actor_options

    def _actor_label(a: str) -> str:
        if a == store.WORLD:
            return "world (frontier project)"
        if a not in kinds.index:
            return a
        owner = kinds.loc[a, "owner"]
        return f"{a} ({kinds.loc[a, 'kind']}" + (f" of {owner})" if isinstance(owner, str) and owner else ")")

    a1, _ = st.columns([3, 6])
    actor = ui.url_select("Actor", options, key="actor", default=options[0], format_func=_actor_label, where=a1,
                          help="This metric is recorded for every actor: pick whose series to show")
if actor == store.WORLD:
    bands = store.quantiles(list(ids.values()), metric_name).copy()
else:
    bands = store.actor_quantiles(list(ids.values()), metric_name, actor).copy()
    ids = {f"{label} · {actor}": eid for label, eid in ids.items()}
    picked = list(ids)
label_of = {v: k for k, v in ids.items()}
bands.insert(0, "scenario", bands.pop("ensemble_id").map(label_of))
if bands.empty:
    st.warning(f"No quantiles of {metric_name} for the chosen scenarios.")
    st.stop()

positive = pd.to_numeric(bands["p50"], errors="coerce")
finite_vals = positive[positive.abs() < float("inf")]
low = float(bands[["p5", "p50"]].min().min()) if len(finite_vals) else 0.0
high = float(finite_vals.max()) if len(finite_vals) else 0.0
log = {"log": True, "linear": False}.get(scale or "auto", meta.wants_log(metric_name, low, high))
if log and low <= 0 and scale == "log":
    st.caption("Values at or below zero are left out of the log axis.")

samples = None
if n_samples:
    parts = []
    for label, eid in ids.items():
        s = (
            store.sample_trajectories(eid, metric_name, int(n_samples))
            if actor == store.WORLD
            else store.actor_sample_trajectories(eid, metric_name, actor, int(n_samples))
        ).copy()
        s["scenario"], s["run"] = label, s["sample_index"].map(lambda i, label=label: f"{label} #{i}")
        parts.append(s)
    samples = pd.concat(parts, ignore_index=True) if parts else None

chart_area = st.container()  # the chart goes here, above the y range control that shapes it
y_domain = None
if log:  # values that explode after takeoff can span hundreds of powers of ten: let the reader zoom in
    shown = bands[["p10", "p50", "p90"]].to_numpy(dtype=float)
    shown = shown[np.isfinite(shown) & (shown > 0)]
    if shown.size:
        lo_exp, hi_exp = math.floor(math.log10(shown.min())), math.ceil(math.log10(shown.max()))
        default_hi, ceiling_note = hi_exp, ""
        ceiling_param = meta.DECISION_CEILING.get(metric_name)
        if ceiling_param:  # the decision-relevant range: up to 10x the parameter's 90th percentile
            tops = []
            for eid in ids.values():
                specs = store.parameter_specs(eid)
                row = specs[specs["name"] == ceiling_param] if "name" in specs else specs
                if len(row):
                    top = row["p90"].iloc[0] if pd.notna(row["p90"].iloc[0]) else row["value"].iloc[0]
                    tops.append(float(top))
            if tops and max(tops) > 0:
                default_hi = min(hi_exp, max(lo_exp + 1, math.ceil(math.log10(max(tops))) + 1))
                ceiling_note = (f"Default range: up to 10× the 90th percentile of `{ceiling_param}` "
                                f"(1e{default_hi}); the model's values run on to 1e{hi_exp} after AC.")
        if hi_exp - lo_exp > 6:
            picked_range = st.select_slider(
                "Y axis range (powers of ten; what lies beyond is clipped)",
                options=list(range(lo_exp, hi_exp + 1)),
                value=(lo_exp, default_hi),
                format_func=lambda k: f"1e{k}",
                key=f"yrange_{metric_name}_{lo_exp}_{hi_exp}_{default_hi}",  # new data, new range
            )
            if ceiling_note and default_hi < hi_exp:
                st.caption(ui.md(ceiling_note))
            if tuple(picked_range) != (lo_exp, hi_exp):
                y_domain = (10.0 ** picked_range[0], 10.0 ** picked_range[1])
with chart_area:
    ui.chart("fan_chart", bands, info, log, samples, order=picked, y_domain=y_domain)
# runs that stop (finite-time singularity, divergence) have no values after they stop: say so, since the
# bands after that year describe only the runs still going
if "n" in bands.columns:
    thinned = []
    for label, part in bands.groupby("scenario", sort=False):
        n = pd.to_numeric(part["n"], errors="coerce")
        if len(n) and n.max() > 0 and n.iloc[-1] < n.max():
            first = part.loc[n < n.max(), "year"].min()
            thinned.append(
                f"{label}: {int(n.iloc[-1]):,} of {int(n.max()):,} runs still have a value at "
                f"{part['year'].iloc[-1]:.0f} (fewer from {first:.0f})"
            )
    if thinned:
        st.caption(
            ui.md(
                "Runs drop out of the bands once they stop (singularity or divergence; the store leaves "
                "their later years empty), so later bands describe the runs still going — "
                + "; ".join(thinned)
                + "."
            )
        )
desc = info.description or "not in the metric catalogue"
st.caption(
    ui.md(f"`{metric_name}` ({info.unit or 'no unit'}): {desc}.")
    + (f" Actor: `{actor}` (from the `actor_quantiles` table)." if actor != store.WORLD else "")
    + " Shaded: 5–95 %, 10–90 %, 25–75 % of runs; "
    "line: median; the axis spans the 10–90 % band (wider bands are clipped at the edge; on a log axis that spans "
    "many powers of ten the range control under the chart zooms in). Quantiles at each year are "
    "over the runs whose value is still finite (hover shows how many). Hover for values; scroll to zoom the years."
)

d1, d2 = st.columns(2)
with d1:
    ui.download(
        bands.assign(metric=metric_name, unit=info.unit, actor=actor or "world"),
        f"fan_{metric_name}" + (f"_{actor}" if actor else ""),
        "Download bands (CSV)",
    )
if samples is not None and not samples.empty:
    with d2:
        ui.download(
            samples.assign(metric=metric_name, unit=info.unit),
            f"samples_{metric_name}",
            "Download sample runs (CSV)",
        )

with st.expander("Values at selected years"):
    years = sorted({int(y) for y in bands["year"] if float(y).is_integer()})
    table = bands[bands["year"].isin([y for y in years if y % 5 == 0])]
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={c: st.column_config.NumberColumn(format="%.4g") for c in store.QUANTILE_COLUMNS},
    )

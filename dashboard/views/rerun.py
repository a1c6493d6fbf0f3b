"""Rerun: change the most important parameters, run a batched ensemble in the background, compare to the stored one."""

import math
import re

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import jobs, meta, store, ui

MIN_SAMPLES, MAX_SAMPLES = 10, 10_000
KEY_PARAMETERS = 8  # how many of the most influential parameters are marked and listed first

st.title("Rerun with your assumptions")
st.caption(
    "Pin any parameter to a value of your choice, run a Monte Carlo ensemble of the rest, and compare it "
    "with the precomputed scenario. Runs are stored as *user* ensembles (same tables, `kind = 'user'`); "
    "the same request twice is served from the store."
)

if not ui.require_store():
    st.stop()

current = store.current_ensembles()
named = list(current["scenario"])
# rerun a scenario from the same definition its stored ensemble came from (a name, or an override file's path)
sources = {
    s: (src if isinstance(src, str) and src else s)
    for s, src in zip(current["scenario"], current.get("source", current["scenario"]))
}
board = jobs.board()


# ----------------------------------------------------------------------------------------- helpers
def _nice_step(span: float) -> float:
    if not math.isfinite(span) or span <= 0:
        return 0.01
    return float(10.0 ** math.floor(math.log10(span / 200)))


def _slider_range(row) -> tuple[float, float]:
    """The plausible 10-90% range widened by a quarter each side, kept inside the hard bounds and the sign."""
    value, p10, p90 = float(row.value), float(row.p10), float(row.p90)
    lo, hi = min(p10, value), max(p90, value)
    pad = 0.25 * (hi - lo) if hi > lo else max(abs(value) * 0.5, 0.1)
    lo2, hi2 = lo - pad, hi + pad
    if lo >= 0:
        lo2 = max(lo2, lo / 2 if lo > 0 else 0.0)
    if not pd.isna(row.min) and math.isfinite(row.min):
        lo2 = max(lo2, float(row.min))
    if not pd.isna(row.max) and math.isfinite(row.max):
        hi2 = min(hi2, float(row.max))
    return lo2, hi2


def _choices(distribution: str) -> list[float] | None:
    """The values of a ``choice(v1:p1;v2:p2)`` distribution, else None."""
    match = re.fullmatch(r"\s*choice\((.*)\)\s*", str(distribution))
    if not match:
        return None
    try:
        return sorted(float(item.split(":")[0]) for item in match.group(1).split(";") if item.strip())
    except ValueError:
        return None


def _control(row, key: str, label: str, help_text: str, lo: float, hi: float, current) -> float:
    """A slider for one parameter: discrete values for a choice, a log-spaced grid when the
    plausible range spans orders of magnitude (Streamlit sliders are linear), else a linear slider."""
    central = float(row.value)
    choices = _choices(row.distribution)
    if choices is None and lo > 0 and hi / lo > 30:
        grid = [float(f"{v:.3g}") for v in np.geomspace(lo, hi, 61)]
        choices = sorted(set(grid))
    # a value seeded from the URL sits in session state already; passing a default too would warn
    default = {} if key in st.session_state else {"value": central}
    if choices is not None:
        extra = [v for v in (central, current) if isinstance(v, (int, float)) and math.isfinite(v)]
        options = sorted(set(choices) | set(extra))
        return float(
            st.select_slider(
                label, options=options, key=key, help=help_text, format_func=lambda v: f"{v:.4g}", **default
            )
        )
    return float(
        st.slider(
            label,
            min_value=float(lo),
            max_value=float(hi),
            step=_nice_step(hi - lo),
            key=key,
            help=help_text,
            format="%.4g",
            **default,
        )
    )


def _url_overrides() -> tuple[dict[str, float], dict[str, str]]:
    """``?set=name:value`` pairs from the URL, and problems with the ones that cannot be read."""
    values, problems = {}, {}
    for item in st.query_params.get_all("set"):
        name, sep, text = item.partition(":")
        if not sep:
            problems[item] = "expected name:value"
            continue
        try:
            values[name] = float(text)
        except ValueError:
            problems[name] = f"{text!r} is not a number"
    return values, problems


@st.cache_data(show_spinner=False)
def _validate(scenario: str, overrides: tuple) -> dict[str, str]:
    try:
        from pipelines import validate_overrides
    except Exception as err:  # noqa: BLE001
        return {"": f"the simulator cannot be loaded: {err}"}
    return validate_overrides(scenario, dict(overrides))


def _importance(scenario: str) -> list[str]:
    """Parameters ranked by how much they move the AC year in the stored ensemble (most first)."""
    ids = store.resolve([scenario])
    outcomes = store.outcomes()
    key = next((k for k in ("AC year", "ASI year") if k in outcomes), None)
    if not ids or key is None:
        return []
    kind, name = outcomes[key]
    return list(store.sensitivity(ids[scenario], kind, name)["name"])


# ------------------------------------------------------------------------------------------ inputs
top = st.columns([2, 1, 1, 2])
with top[0]:
    base = st.selectbox("Scenario to start from", named, key="base", bind="query-params")
with top[1]:
    n = st.number_input(
        "Samples",
        value=1000,
        step=100,
        key="n",
        bind="query-params",
        help=f"Monte Carlo samples, {MIN_SAMPLES:,} to {MAX_SAMPLES:,}",
    )
    n_problem = None
    if not (float(n).is_integer() and MIN_SAMPLES <= n <= MAX_SAMPLES):
        n_problem = f"Samples must be a whole number from {MIN_SAMPLES:,} to {MAX_SAMPLES:,}."
        st.error(n_problem, icon=":material/error:")
with top[2]:
    seed = st.number_input(
        "Seed",
        value=0,
        step=1,
        key="seed",
        bind="query-params",
        help="Random seed of the parameter draws (same seed, same samples)",
    )
    seed_problem = None
    if not (float(seed).is_integer() and 0 <= seed < 2**31):
        seed_problem = "Seed must be a whole number from 0 to 2,147,483,647."
        st.error(seed_problem, icon=":material/error:")

results = st.container()  # progress and results go here, above the long list of sliders

specs = meta.parameter_table(base)
random = specs[specs["is_random"]] if "is_random" in specs else specs[specs["distribution"] != "point"]
random = random[random["module"] != "simulation"]
ranked = _importance(base)
order = {name: i for i, name in enumerate(ranked)}
key_names = set(ranked[:KEY_PARAMETERS])
url_values, url_problems = _url_overrides()

# seed the sliders from the URL once per session and scenario (a shared link reproduces the inputs)
seeded = st.session_state.setdefault("_rerun_seeded", set())
if base not in seeded:
    for name, value in url_values.items():
        st.session_state[f"p:{base}:{name}"] = value
    seeded.add(base)

st.subheader("Parameters")
st.caption(
    "Sliders start at each parameter's central value and span its documented plausible range "
    "(10th–90th percentile, widened a little). A parameter you move is pinned at that value for every "
    f"sample; the others keep their distributions. ★ = the {KEY_PARAMETERS} that move the AC year most "
    "in the stored ensemble."
)
unknown = [n for n in url_values if n not in set(specs["name"])] + [
    n for n in url_problems if n not in set(specs["name"])
]
for name in unknown:
    st.error(f"`{name}` in the link is not a parameter of `{base}`; ignored.", icon=":material/error:")

overrides: dict[str, float] = {}
slider_at: dict = {}
modules = sorted(
    random["module"].unique(),
    key=lambda m: min((order.get(n, 999) for n in random.loc[random["module"] == m, "name"]), default=999),
)
cols = st.columns(2)
for i, module in enumerate(modules):
    rows = random[random["module"] == module].copy()
    rows["_rank"] = rows["name"].map(lambda n: order.get(n, 999))
    rows = rows.sort_values(["_rank", "name"])
    with cols[i % 2].expander(f"{module} ({len(rows)})", expanded=i < 2):
        for row in rows.itertuples():
            key = f"p:{base}:{row.name}"
            lo, hi = _slider_range(row)
            current = st.session_state.get(key, float(row.value))
            if isinstance(current, (int, float)) and math.isfinite(current):
                lo, hi = min(lo, current), max(hi, current)  # a valid URL value outside the usual range
            if not (hi > lo):
                continue
            short = row.name.split(".", 1)[-1]
            label = ui.md(
                ("★ " if row.name in key_names else "") + short + (f" ({row.unit})" if row.unit else "")
            )
            help_text = ui.md(
                f"{row.description or ''}\n\nCentral value {row.value:g}; plausible range "
                f"{row.p10:g} – {row.p90:g} ({row.distribution}). Source: {row.source or '—'}"
            )
            value = _control(row, key, label, help_text, lo, hi, current)
            slider_at[row.name] = st.empty()
            if abs(value - float(row.value)) > 1e-12:
                overrides[row.name] = float(value)
        for name, problem in url_problems.items():
            if name in set(rows["name"]):
                st.error(f"`{name}` in the link: {problem}; ignored.", icon=":material/error:")

# keep the inputs in the URL: ?base=...&n=...&set=name:value
if overrides:
    st.query_params["set"] = [f"{k}:{v:.6g}" for k, v in sorted(overrides.items())]
elif "set" in st.query_params and not url_problems:
    del st.query_params["set"]

problems = _validate(sources[base], tuple(sorted(overrides.items()))) if overrides else {}
for name, message in problems.items():
    target = slider_at.get(name)
    (target or st).error(f"Refused: {message}", icon=":material/error:")

with top[3]:
    st.markdown("&nbsp;")
    pinned = ", ".join(f"{k.split('.', 1)[-1]} = {v:.4g}" for k, v in sorted(overrides.items())) or "none"
    blocked = bool(n_problem or seed_problem or problems)
    run = st.button(
        "Run",
        type="primary",
        key="run",
        icon=":material/play_arrow:",
        disabled=blocked,
        help=f"Pinned: {pinned}",
    )
    st.caption(f"Pinned: {pinned}")

if run and not blocked:
    job, cached = board.submit(sources[base], overrides, int(n), int(seed), store.db_path())
    st.session_state["rerun_job"] = job.key
    st.session_state["rerun_cached"] = cached


# ----------------------------------------------------------------------------------------- progress
@st.fragment(run_every=0.5)
def _progress(key: str) -> None:
    job = board.get(key)
    if job is None:
        return
    if job.active:
        text = (
            "Waiting for an earlier run to finish …"
            if job.state == "queued"
            else f"Simulating {job.done:,} / {job.total:,} runs ({job.seconds or 0:.1f} s)"
        )
        st.progress(job.fraction, text=text)
    else:
        st.rerun()


with results:
    job = board.get(st.session_state.get("rerun_job"))
    shown_id = None
    if job is not None:
        if job.active:
            _progress(job.key)
        elif job.state == "failed":
            st.error(f"The run failed: {job.error}", icon=":material/error:")
        else:
            shown_id = job.ensemble_id
            how = (
                "identical request: served from the cache"
                if st.session_state.get("rerun_cached") or (job.seconds or 0) < 0.5
                else f"computed in {job.seconds:.1f} s"
            )
            st.success(
                f"Ensemble `{job.ensemble_id}` ready ({job.n:,} samples, {how}).", icon=":material/check:"
            )

    # -------------------------------------------------------------------------------------- results
    users = store.user_ensembles()
    if shown_id is None and st.query_params.get("ensemble") in set(users["ensemble_id"]):
        shown_id = st.query_params.get("ensemble")
    if shown_id is None and not users.empty:
        st.divider()
        st.caption("Your earlier reruns are in the store:")
    if not users.empty:
        labels = {
            row.ensemble_id: f"{row.label} · {row.scenario} · {int(row.mc_runs):,} runs · "
            f"{row.overrides or '{}'}"
            for row in users.itertuples()
        }
        ids = list(labels)
        pick = st.selectbox(
            "Rerun to show",
            ids,
            index=ids.index(shown_id) if shown_id in ids else 0,
            format_func=labels.get,
            key=f"show_{shown_id}",
        )
        shown_id = pick
    if shown_id is None:
        st.stop()
    if shown_id not in set(users["ensemble_id"]) and shown_id not in set(
        store.current_ensembles()["ensemble_id"]
    ):
        st.info("The new ensemble is being published; this page shows it in a moment.")
        st.stop()
    st.query_params["ensemble"] = shown_id

    info_row = store.ensembles().set_index("ensemble_id").loc[shown_id]
    base_of = str(info_row["scenario"])
    base_id = store.resolve([base_of]).get(base_of)
    pair = (
        {f"{base_of} (stored)": base_id, "your rerun": shown_id}
        if base_id and base_id != shown_id
        else {"your rerun": shown_id}
    )
    label_of = {v: k for k, v in pair.items()}

    st.subheader("Your rerun against the stored scenario")
    metrics = meta.metric_order(store.quantile_metrics())
    default_metric = next(
        (m for m in ("time_horizon_minutes", "effective_compute", "gdp") if m in metrics), metrics[0]
    )
    metric_name = st.selectbox(
        "Metric",
        metrics,
        index=metrics.index(default_metric),
        key="rerun_metric",
        format_func=lambda m: meta.metric(m).axis_title,
    )
    bands = store.quantiles(list(pair.values()), metric_name).copy()
    bands.insert(0, "scenario", bands.pop("ensemble_id").map(label_of))
    info = meta.metric(metric_name)
    vals = pd.to_numeric(bands["p50"], errors="coerce")
    vals = vals[vals.abs() < float("inf")]
    log = meta.wants_log(
        metric_name,
        float(bands[["p5", "p50"]].min().min()) if len(vals) else 0.0,
        float(vals.max()) if len(vals) else 0.0,
    )
    ui.chart("fan_chart", bands, info, log, order=list(pair))
    ui.download(bands, f"rerun_{shown_id}_{metric_name}", "Download bands (CSV)")

    pct = store.milestone_percentiles(list(pair.values()), probs=(0.1, 0.5, 0.9)).copy()
    pct["scenario"] = pct["ensemble_id"].map(label_of)
    wide = pct.pivot(index="milestone", columns="scenario", values=["p10", "p50", "p90"])
    end_of = dict(zip(pct["scenario"], pct["end_year"]))  # "> end" is relative to each ensemble's horizon
    rows = []
    for m in [m for m in store.milestone_names() if m in wide.index]:
        row = {"milestone": m}
        for label in pair:
            end = end_of.get(label)
            row[label] = (
                (
                    f"{ui.fmt_year(wide.loc[m, ('p50', label)], end)} "
                    f"({ui.fmt_year(wide.loc[m, ('p10', label)], end)} – "
                    f"{ui.fmt_year(wide.loc[m, ('p90', label)], end)})"
                )
                if ("p50", label) in wide.columns
                else "—"
            )
        rows.append(row)
    st.markdown("**Milestones: median (10–90%)**")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    ui.download(pct.drop(columns="ensemble_id"), f"rerun_{shown_id}_milestones")

"""Altair chart builders. Pure functions: data frame in, chart out (no Streamlit, no SQL).

Every chart labels its axes with units, has tooltips, and takes the same frame the page offers
as a CSV download, so what is drawn is what is downloaded.
"""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from dashboard.meta import Metric

BANDS = (("5–95%", "p5", "p95", 0.14), ("10–90%", "p10", "p90", 0.18), ("25–75%", "p25", "p75", 0.28))
YEAR_AXIS = alt.Axis(format="d", title="Year")
PALETTE = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
    "#bcbd22", "#7f7f7f", "#aec7e8", "#ff9896", "#98df8a", "#c5b0d5", "#ffbb78", "#c49c94",
    "#f7b6d2", "#9edae5", "#dbdb8d", "#393b79",
]  # fmt: skip


def palette(n: int) -> list[str]:
    """``n`` scenario colours (distinct up to 20, then repeating)."""
    return (PALETTE * (n // len(PALETTE) + 1))[:n]


def scenario_order(frame: pd.DataFrame, order: list[str] | None) -> list[str]:
    """Scenarios of ``frame`` in the caller's ``order`` (else first appearance)."""
    present = set(frame["scenario"])
    return [s for s in (order or []) if s in present] or list(dict.fromkeys(frame["scenario"]))


def scenario_color(scenarios: list[str]) -> alt.Color:
    """One distinct colour per scenario, in the given order, with its legend."""
    return alt.Color("scenario:N", title="Scenario", sort=scenarios,
                     scale=alt.Scale(domain=scenarios, range=palette(len(scenarios))),
                     legend=alt.Legend(labelLimit=260))


#: Colours that read as the economics, per class dimension (the same symbol means different things in
#: each: wages ``I`` is good for workers, growth ``I`` is explosive): blues for slower growth, reds for
#: explosive growth; for workers, green is good (labor share kept, wages rising) and red is collapse.
CLASS_COLORS = {
    "growth_class": {
        "--": "#08519c",
        "-": "#6baed6",
        "=": "#bdbdbd",
        "+": "#fdd0a2",
        "++": "#fd8d3c",
        "I": "#d62728",
        "II": "#67000d",
    },
    "labor_share_class": {"C": "#41ab5d", "->0": "#cb181d"},
    "wages_class": {
        "->0": "#cb181d",
        "=": "#bdbdbd",
        "C": "#fdae6b",
        "L": "#c7e9c0",
        "++": "#41ab5d",
        "I": "#00441b",
    },
}
#: Milestones in the order they arrive, light to dark.
MILESTONE_COLORS = ["#9ecae1", "#4292c6", "#2171b5", "#e6550d", "#a63603", "#54278f", "#756bb1", "#bcbddc"]


def class_colors(column: str, classes: list[str]) -> list[str]:
    """Colours of ``classes`` of one class dimension (``growth_class`` ...); unknown ones grey."""
    known = CLASS_COLORS.get(column, {})
    return [known.get(c, "#eeeeee" if c == "?" else "#999999") for c in classes]


def finite(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Replace +-inf by NaN in ``columns`` (Vega cannot draw them)."""
    frame = frame.copy()
    for c in columns:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").replace([np.inf, -np.inf], np.nan)
    return frame


def _fmt(log: bool) -> str:
    return ".3~e" if log else ",.4~g"


def _scale(log: bool, frame: pd.DataFrame, columns: list[str]) -> alt.Scale:
    """Y scale whose domain spans ``columns`` (finite values; positive ones on a log axis)."""
    values = frame[columns].to_numpy(dtype=float)
    values = values[np.isfinite(values) & ((values > 0) if log else True)]
    if values.size == 0:
        return alt.Scale(type="log") if log else alt.Scale(zero=False)
    lo, hi = float(values.min()), float(values.max())
    if log:
        return alt.Scale(type="log", domain=[lo, hi], nice=False)
    pad = 0.03 * (hi - lo) if hi > lo else max(abs(hi) * 0.1, 1e-9)
    return alt.Scale(domain=[lo - pad, hi + pad], zero=False, nice=False)


def fan_chart(
    bands: pd.DataFrame,
    metric: Metric,
    log: bool,
    samples: pd.DataFrame | None = None,
    height: int = 420,
    order: list[str] | None = None,
    y_domain: tuple[float, float] | None = None,
) -> alt.Chart:
    """Quantile bands (5-95, 10-90, 25-75) and the median per scenario, from the ``quantiles`` table.

    ``y_domain``: the y axis range (default: the 10-90% band); what lies outside is clipped.

    ``bands``: ``scenario, year, p5 ... p95``. ``samples`` (optional): ``scenario, run, year, value``.
    """
    cols = ["p5", "p10", "p25", "p50", "p75", "p90", "p95"]
    data = finite(bands, cols)
    if log:  # a log axis cannot show values <= 0
        for c in cols:
            data[c] = data[c].where(data[c] > 0)
    scenarios = scenario_order(data, order)
    color = scenario_color(scenarios)
    y_title = metric.axis_title + (" — log scale" if log else "")
    # the axis spans the 10-90% band: the 5-95% band of a metric that explodes after takeoff can
    # cover hundreds of orders of magnitude and would flatten everything else (it is clipped, not hidden)
    scale = _scale(log, data, ["p10", "p90", "p50"])
    if y_domain is not None:
        scale = alt.Scale(
            type="log" if log else "linear", domain=[float(v) for v in y_domain], nice=False, zero=False
        )
    long = pd.concat(
        [
            data[["scenario", "year", lo, hi]].rename(columns={lo: "lo", hi: "hi"}).assign(band=name)
            for name, lo, hi, _ in BANDS
        ],
        ignore_index=True,
    ).dropna(subset=["lo", "hi"])
    base = alt.Chart(long)
    area = base.mark_area(interpolate="monotone", clip=True).encode(
        x=alt.X("year:Q", axis=YEAR_AXIS, scale=alt.Scale(zero=False, nice=False)),
        y=alt.Y("lo:Q", title=y_title, scale=scale),
        y2="hi:Q",
        color=color,
        opacity=alt.Opacity(
            "band:N",
            title="Band",
            sort=[b[0] for b in BANDS],
            scale=alt.Scale(domain=[b[0] for b in BANDS], range=[b[3] for b in BANDS]),
            legend=alt.Legend(symbolType="square", symbolFillColor="#555", symbolStrokeWidth=0),
        ),
        detail="scenario:N",
    )
    median = (
        alt.Chart(data.dropna(subset=["p50"]))
        .mark_line(strokeWidth=2.5, clip=True)
        .encode(x="year:Q", y=alt.Y("p50:Q", scale=scale), color=color)
    )
    hover = alt.selection_point(
        nearest=True, on="pointerover", fields=["year"], empty=False, clear="pointerout"
    )
    fmt = _fmt(log)
    points = (
        alt.Chart(data.dropna(subset=["p50"]))
        .mark_point(size=60, filled=True, clip=True)
        .encode(
            x="year:Q",
            y=alt.Y("p50:Q", scale=scale),
            color=color,
            opacity=alt.condition(hover, alt.value(1), alt.value(0)),
            tooltip=[
                alt.Tooltip("scenario:N", title="Scenario"),
                alt.Tooltip("year:Q", format=".2f", title="Year"),
            ]
            + [
                alt.Tooltip(
                    f"{c}:Q",
                    format=fmt,
                    title=("median" if c == "p50" else c) + (f" ({metric.unit})" if metric.unit else ""),
                )
                for c in ("p5", "p10", "p25", "p50", "p75", "p90", "p95")
            ]
            + ([alt.Tooltip("n:Q", title="runs with a finite value")] if "n" in data.columns else []),
        )
        .add_params(hover)
    )
    rule = (
        alt.Chart(data.dropna(subset=["p50"]))
        .mark_rule(color="#888")
        .encode(x="year:Q")
        .transform_filter(hover)
    )
    layers = [area, median]
    if samples is not None and not samples.empty:
        s = finite(samples, ["value"])
        if log:
            s["value"] = s["value"].where(s["value"] > 0)
        s = s.dropna(subset=["value"])
        layers.append(
            alt.Chart(s)
            .mark_line(strokeWidth=1, strokeDash=[4, 2], opacity=0.8, clip=True)
            .encode(
                x="year:Q",
                y=alt.Y("value:Q", scale=scale),
                color=color,
                detail="run:N",
                tooltip=[
                    alt.Tooltip("scenario:N"),
                    alt.Tooltip("run:N", title="Run"),
                    alt.Tooltip("year:Q", format=".2f"),
                    alt.Tooltip("value:Q", format=fmt, title=metric.unit or "value"),
                ],
            )
        )
    layers += [rule, points]
    return alt.layer(*layers).properties(height=height).interactive(bind_y=False)


def milestone_axis_end(frame: pd.DataFrame) -> float:
    """Right end of the milestone-dots year axis: every median shows with room to spare, but a
    90th percentile far in the future (or beyond a 300-year horizon) does not squash the rest."""
    p50 = pd.to_numeric(frame["p50"], errors="coerce")
    p50 = p50[np.isfinite(p50)]
    shown = pd.to_numeric(frame["p90_shown"], errors="coerce")
    shown = shown[np.isfinite(shown)]
    if p50.empty:
        return float(shown.max()) if len(shown) else 2100.0
    lo = float(pd.to_numeric(frame["p10"], errors="coerce").min())
    lo = lo if math.isfinite(lo) else float(p50.min())
    hi = float(p50.max()) + max(5.0, 0.6 * (float(p50.max()) - lo))
    return float(math.ceil(min(hi, float(shown.max())) if len(shown) else hi))


def milestone_dots(
    frame: pd.DataFrame, milestones: list[str], scenarios: list[str], x_max: float | None = None
) -> alt.Chart:
    """Median year (dot) and 10-90% range (bar) of each milestone, one row of bars per scenario.

    ``frame``: ``scenario, milestone, p10, p50, p90, p90_shown, share_reached`` (and ``end_year``);
    ``p90_shown`` is ``p90`` with "not by the end year" drawn at the ensemble's end year. Scenarios are
    named on the axis (colour would not tell sixteen of them apart); colour is the milestone. The year
    axis ends at ``x_max`` (:func:`milestone_axis_end` by default); longer bars are clipped there.
    """
    present = [m for m in milestones if m in set(frame["milestone"])]
    data = frame[frame["milestone"].isin(present)].copy()
    if x_max is None:
        x_max = milestone_axis_end(data) if len(data) else 2100.0
    lo = pd.to_numeric(data["p10"], errors="coerce").min() if len(data) else float("nan")
    lo = math.floor(lo) if math.isfinite(lo) else None
    x_scale = alt.Scale(domain=[lo, x_max] if lo is not None else None, zero=False, nice=False)
    color = alt.Color(
        "milestone:N",
        title="Milestone",
        sort=present,
        scale=alt.Scale(domain=present, range=(MILESTONE_COLORS * 2)[: len(present)]),
        legend=alt.Legend(orient="top", direction="horizontal"),
    )
    y = alt.Y("scenario:N", sort=scenarios, title=None, axis=alt.Axis(labelLimit=220))
    offset = alt.YOffset("milestone:N", sort=present)
    tooltip = [
        alt.Tooltip("scenario:N", title="Scenario"),
        alt.Tooltip("milestone:N", title="Milestone"),
        alt.Tooltip("p10:Q", format=".1f", title="10th pct"),
        alt.Tooltip("p50:Q", format=".1f", title="median"),
        alt.Tooltip("p90:Q", format=".1f", title="90th pct (empty: after the end)"),
        alt.Tooltip("share_reached:Q", format=".0%", title="reached by the end"),
    ]
    if "end_year" in data.columns:
        tooltip.append(alt.Tooltip("end_year:Q", format=".0f", title="simulation ends"))
    dots = (
        alt.Chart(data.dropna(subset=["p50"]))
        .mark_point(filled=True, size=40, opacity=1, clip=True)
        .encode(
            x=alt.X(
                "p50:Q",
                title="Year (dot: median, bar: 10–90% of runs)",
                scale=x_scale,
                axis=alt.Axis(format="d"),
            ),
            y=y,
            yOffset=offset,
            color=color,
            tooltip=tooltip,
        )
    )
    bars = (
        alt.Chart(data.dropna(subset=["p10"]))
        .mark_rule(strokeWidth=2, clip=True)
        .encode(
            x=alt.X("p10:Q", scale=x_scale),
            x2="p90_shown:Q",
            y=y,
            yOffset=offset,
            color=color,
            tooltip=tooltip,
        )
    )
    # with a yOffset the step is per milestone within a scenario's row
    return alt.layer(bars, dots).properties(height=alt.Step(7 if len(present) > 2 else 12))


def cdf_chart(
    cdf: pd.DataFrame,
    milestone: str,
    end_year: float | dict[str, float] | None = None,
    order: list[str] | None = None,
    x_max: float | None = None,
    y_title: str | None = None,
) -> alt.Chart:
    """P(milestone reached by year): ``scenario, year, cdf``, a step line per scenario.

    ``y_title``: the axis title (default ``P(<milestone> reached by year)``).

    ``end_year``: where the simulation ends (one year, or one per scenario), drawn as dashed rules.
    ``x_max``: right end of the year axis (lines beyond it are clipped).
    """
    data = cdf.copy()
    scenarios = scenario_order(data, order)
    color = scenario_color(scenarios)
    x_scale = alt.Scale(zero=False, nice=False)
    if x_max is not None and len(data):
        x_scale = alt.Scale(domain=[float(data["year"].min()), float(x_max)], zero=False, nice=False)
    chart = (
        alt.Chart(data)
        .mark_line(interpolate="step-after", strokeWidth=2, clip=True)
        .encode(
            x=alt.X("year:Q", axis=YEAR_AXIS, scale=x_scale),
            y=alt.Y(
                "cdf:Q",
                title=y_title or f"P({milestone} reached by year)",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1]),
            ),
            color=color,
            tooltip=[
                alt.Tooltip("scenario:N"),
                alt.Tooltip("year:Q", format=".2f", title="Year"),
                alt.Tooltip("cdf:Q", format=".1%", title="P(reached by year)"),
            ],
        )
    )
    layers = [chart]
    if isinstance(end_year, dict):
        ends = pd.DataFrame(
            [
                (s, float(e))
                for s, e in end_year.items()
                if s in scenarios and e is not None and math.isfinite(e)
            ],
            columns=["scenario", "year"],
        )
    elif end_year is not None and math.isfinite(end_year):
        ends = pd.DataFrame({"scenario": ["all"], "year": [float(end_year)]})
    else:
        ends = pd.DataFrame(columns=["scenario", "year"])
    if x_max is not None:
        ends = ends[ends["year"] <= x_max]
    if len(ends):
        rule = alt.Chart(ends).mark_rule(strokeDash=[3, 3], clip=True)
        tip = [alt.Tooltip("year:Q", title="Simulation ends", format=".0f")]
        if isinstance(end_year, dict):
            rule = rule.encode(
                x=alt.X("year:Q", scale=x_scale), color=color, tooltip=[alt.Tooltip("scenario:N"), *tip]
            )
        else:
            rule = rule.encode(x=alt.X("year:Q", scale=x_scale), color=alt.value("#666"), tooltip=tip)
        layers.append(rule)
    return alt.layer(*layers).properties(height=300)


def histogram(frame: pd.DataFrame, milestone: str, order: list[str] | None = None) -> alt.Chart:
    """Share of each scenario's runs first reaching the milestone in each one-year bin, as step outlines.

    ``frame``: ``scenario, bin_start, bin_end, share``.
    """
    scenarios = scenario_order(frame, order)
    color = scenario_color(scenarios)
    return (
        alt.Chart(frame)
        .mark_bar(opacity=0.35, binSpacing=0, stroke=None)
        .encode(
            x=alt.X("bin_start:Q", axis=YEAR_AXIS, bin="binned", scale=alt.Scale(zero=False)),
            x2="bin_end:Q",
            y=alt.Y(
                "share:Q",
                title=f"Share of runs reaching {milestone} that year",
                axis=alt.Axis(format="%"),
                stack=None,
            ),
            color=color,
            tooltip=[
                alt.Tooltip("scenario:N"),
                alt.Tooltip("bin_start:Q", format=".0f", title="From"),
                alt.Tooltip("bin_end:Q", format=".0f", title="To"),
                alt.Tooltip("share:Q", format=".1%", title="Share of runs"),
            ],
        )
        .properties(height=300)
    )


def probability_bars(frame: pd.DataFrame, year: float, order: list[str] | None = None) -> alt.Chart:
    """P(milestone by year) per scenario: ``scenario, milestone, probability``."""
    scenarios = scenario_order(frame, order)
    order = list(dict.fromkeys(frame["milestone"]))
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("milestone:N", sort=order, title="Milestone"),
            xOffset=alt.XOffset("scenario:N", sort=scenarios),
            y=alt.Y(
                "probability:Q",
                title=f"P(reached by {year:g})",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1]),
            ),
            color=alt.Color(
                "scenario:N",
                title="Scenario",
                sort=scenarios,
                scale=alt.Scale(domain=scenarios, range=palette(len(scenarios))),
            ),
            tooltip=[
                alt.Tooltip("scenario:N"),
                alt.Tooltip("milestone:N"),
                alt.Tooltip("probability:Q", format=".1%"),
            ],
        )
        .properties(height=280)
    )


def class_share_chart(
    frame: pd.DataFrame,
    column: str,
    title: str,
    order: list[str],
    scenarios: list[str] | None = None,
    labels: bool = True,
) -> alt.Chart:
    """Stacked share of runs per class, one bar per scenario: ``scenario, <column>, share``.

    Discrete axes size by step (``alt.Step``): a fixed pixel height is squashed by Streamlit for band scales.
    ``labels=False`` leaves the scenario names off (charts side by side share the first one's names).
    """
    present = [c for c in order if c in set(frame[column])] + sorted(set(frame[column]) - set(order))
    scenarios = [s for s in (scenarios or []) if s in set(frame["scenario"])] or sorted(
        set(frame["scenario"])
    )
    data = frame.assign(rank=frame[column].map({c: i for i, c in enumerate(present)}))
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y(
                "scenario:N",
                title=None,
                sort=scenarios,
                axis=alt.Axis(labelLimit=220) if labels else alt.Axis(labels=False, ticks=False),
            ),
            x=alt.X(
                "share:Q",
                title="Share of runs",
                axis=alt.Axis(format="%", values=[0, 0.25, 0.5, 0.75, 1]),
                scale=alt.Scale(domain=[0, 1]),
            ),
            color=alt.Color(
                f"{column}:N",
                title=None,
                sort=present,
                scale=alt.Scale(domain=present, range=class_colors(column, present)),
                legend=alt.Legend(orient="bottom", columns=4, symbolType="square"),
            ),
            order=alt.Order("rank:Q"),
            tooltip=[
                alt.Tooltip("scenario:N"),
                alt.Tooltip(f"{column}:N", title=title),
                alt.Tooltip("share:Q", format=".1%"),
                alt.Tooltip("runs:Q", title="Runs"),
            ],
        )
        .properties(height=alt.Step(26), title=alt.Title(title[:1].upper() + title[1:], anchor="start"))
    )


def class_scatter(
    frame: pd.DataFrame, x: str, y: str, color: str, x_title: str, y_title: str, order: list[str]
) -> alt.Chart:
    """Which parameters drive the class: one point per run at (x, y), coloured by class.

    Parameter names contain dots, which Vega-Lite reads as nested fields, so they are renamed here.
    """
    present = [c for c in order if c in set(frame[color])] + sorted(set(frame[color].dropna()) - set(order))
    data = pd.DataFrame({"x": frame[x], "y": frame[y], "cls": frame[color], "sample": frame["sample_index"]})
    return (
        alt.Chart(data)
        .mark_circle(size=60, opacity=0.8, stroke="#444", strokeWidth=0.3)
        .encode(
            x=alt.X("x:Q", title=x_title, scale=alt.Scale(zero=False)),
            y=alt.Y("y:Q", title=y_title, scale=alt.Scale(zero=False)),
            color=alt.Color(
                "cls:N",
                title=color.replace("_", " "),
                sort=present,
                scale=alt.Scale(domain=present, range=class_colors(color, present)),
            ),
            tooltip=[
                alt.Tooltip("sample:Q", title="Sample"),
                alt.Tooltip("x:Q", format=".3~g", title=x_title),
                alt.Tooltip("y:Q", format=".3~g", title=y_title),
                alt.Tooltip("cls:N", title="Class"),
            ],
        )
        .properties(height=380)
        .interactive()
    )


def tornado(frame: pd.DataFrame, outcome: str, unit: str = "", is_year: bool = False) -> alt.Chart:
    """Median outcome when each parameter sits in its bottom vs top decile, around the overall median.

    ``frame``: ``name, low, high, median, spearman`` and, from :func:`dashboard.store.sensitivity`, the
    permutation noise (``noise``, ``within_noise``): a grey band of that width around the median, and bars
    no longer than it drawn faint (what shuffled outcomes give: sampling noise, not an effect).
    """
    data = finite(frame, ["low", "high", "median"]).dropna(subset=["low", "high"]).copy()
    if "within_noise" not in data:
        data["within_noise"] = False
    data["within_noise"] = data["within_noise"].astype(bool)
    data["reads_as"] = np.where(data["within_noise"], "within sampling noise", "beyond sampling noise")
    order = list(data["name"])
    median = float(data["median"].iloc[0]) if len(data) else 0.0
    title = f"{outcome}" + (f" ({unit})" if unit else "")
    long = pd.concat(
        [
            data.assign(end=data["low"], which="parameter at its 10th percentile"),
            data.assign(end=data["high"], which="parameter at its 90th percentile"),
        ]
    )
    long["base"] = median
    bars = (
        alt.Chart(long)
        .mark_bar(height={"band": 0.7})
        .encode(
            y=alt.Y("name:N", sort=order, title=None, axis=alt.Axis(labelLimit=320)),
            x=alt.X(
                "base:Q",
                title=f"Median {title}",
                scale=alt.Scale(zero=False),
                axis=alt.Axis(format="d" if is_year else ",.3~g"),
            ),
            x2="end:Q",
            opacity=alt.condition("datum.within_noise", alt.value(0.3), alt.value(1.0)),
            color=alt.Color(
                "which:N",
                title=None,
                scale=alt.Scale(
                    domain=["parameter at its 10th percentile", "parameter at its 90th percentile"],
                    range=["#6baed6", "#fd8d3c"],
                ),
                legend=alt.Legend(orient="top", labelLimit=400),
            ),
            tooltip=[
                alt.Tooltip("name:N", title="Parameter"),
                alt.Tooltip("which:N", title="Runs with"),
                alt.Tooltip("end:Q", format=",.4~g", title=f"median {outcome}"),
                alt.Tooltip("spearman:Q", format="+.2f", title="Spearman ρ"),
                alt.Tooltip("reads_as:N", title="Bar"),
            ],
        )
    )
    rule = alt.Chart(pd.DataFrame({"m": [median]})).mark_rule(color="#333").encode(x="m:Q")
    layers = [bars, rule]
    noise = float(frame["noise"].iloc[0]) if "noise" in frame and len(frame) else float("nan")
    if math.isfinite(noise) and noise > 0:
        band = pd.DataFrame({"lo": [median - noise / 2], "hi": [median + noise / 2], "noise": [noise]})
        shade = alt.Chart(band).mark_rect(color="#bbbbbb", opacity=0.35).encode(
            x="lo:Q", x2="hi:Q",
            tooltip=[alt.Tooltip("noise:Q", format=",.3~g", title="95% permutation band (bar length)")])
        layers = [shade, *layers]
    return alt.layer(*layers).properties(height=alt.Step(26))


def actor_share_chart(frame: pd.DataFrame, title: str, scenarios: list[str] | None = None) -> alt.Chart:
    """Each actor's share (median bar, 10-90% whisker) per scenario: ``scenario, actor, p10, p50, p90``.

    One row of bars per scenario, one bar per actor (colour), on a 0-100% axis.
    """
    data = finite(frame, ["p10", "p50", "p90"])
    scenarios = [s for s in (scenarios or []) if s in set(data["scenario"])] or list(dict.fromkeys(data["scenario"]))
    actors = list(dict.fromkeys(data["actor"]))
    y = alt.Y("scenario:N", sort=scenarios, title=None, axis=alt.Axis(labelLimit=220))
    y_offset = alt.YOffset("actor:N", sort=actors)
    x_axis = alt.Axis(format="%", values=[0, 0.25, 0.5, 0.75, 1])
    color = alt.Color("actor:N", title="Actor", sort=actors, scale=alt.Scale(range=palette(len(actors))),
                      legend=alt.Legend(orient="bottom", columns=3, symbolType="square"))
    tooltip = [
        alt.Tooltip("scenario:N", title="Scenario"),
        alt.Tooltip("actor:N", title="Actor"),
        alt.Tooltip("p50:Q", format=".1%", title="median"),
        alt.Tooltip("p10:Q", format=".1%", title="10th pct"),
        alt.Tooltip("p90:Q", format=".1%", title="90th pct"),
        alt.Tooltip("year:Q", format=".0f", title="Year"),
    ]
    base = alt.Chart(data).encode(y=y, yOffset=y_offset, tooltip=tooltip)
    bars = base.mark_bar(opacity=0.85).encode(
        x=alt.X("p50:Q", title="Share of world compute (bar: median, line: 10–90% of runs)", axis=x_axis,
                scale=alt.Scale(domain=[0, 1])),
        color=color,
    )
    whiskers = base.mark_rule(color="#333", strokeWidth=1.5).encode(x="p10:Q", x2="p90:Q")
    return (bars + whiskers).properties(
        height=alt.Step(14), title=alt.Title(title[:1].upper() + title[1:], anchor="start")
    )


def event_chart(frame: pd.DataFrame, scenarios: list[str] | None = None) -> alt.Chart:
    """Event firings per calendar year, stacked by event: ``scenario, label, year, firings``."""
    scenarios = [s for s in (scenarios or []) if s in set(frame["scenario"])] or list(dict.fromkeys(frame["scenario"]))
    labels = list(dict.fromkeys(frame["label"]))
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("year:O", title="Year"),
            y=alt.Y("firings:Q", title="Firings", stack=True),
            color=alt.Color("label:N", title="Event", sort=labels, scale=alt.Scale(range=palette(len(labels))),
                            legend=alt.Legend(orient="bottom", columns=3)),
            row=alt.Row("scenario:N", sort=scenarios, title=None, header=alt.Header(labelAngle=0, labelAlign="left")),
            tooltip=[
                alt.Tooltip("scenario:N", title="Scenario"),
                alt.Tooltip("label:N", title="Event"),
                alt.Tooltip("year:O", title="Year"),
                alt.Tooltip("firings:Q", title="Firings"),
                alt.Tooltip("runs:Q", title="Runs"),
            ],
        )
        .properties(height=120)
    )


#: Agreement phases, in order, coloured from "nothing yet" (grey) through negotiation to in force (green) and
#: collapse (red).
PHASE_COLORS = {"none": "#d9d9d9", "negotiating": "#9ecae1", "signed": "#4292c6", "in_force": "#31a354",
                "collapsed": "#de2d26"}


def phase_area(frame: pd.DataFrame, phases: list[str]) -> alt.Chart:
    """Share of runs in each phase of one agreement by year, stacked to 100%: ``year, phase, phase_order, share,
    runs`` (one chart per agreement and scenario, so each spans the page's width)."""
    return (
        alt.Chart(frame)
        .mark_area(interpolate="step-after")
        .encode(
            x=alt.X("year:Q", axis=YEAR_AXIS, scale=alt.Scale(zero=False, nice=False)),
            y=alt.Y("share:Q", title="Share of runs", stack="zero", axis=alt.Axis(format="%"),
                    scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("phase:N", title="Phase", sort=phases,
                            scale=alt.Scale(domain=phases, range=[PHASE_COLORS.get(p, "#999") for p in phases]),
                            legend=alt.Legend(symbolType="square")),
            order=alt.Order("phase_order:Q"),
            tooltip=[
                alt.Tooltip("year:Q", format=".2f", title="Year"),
                alt.Tooltip("phase:N", title="Phase"),
                alt.Tooltip("share:Q", format=".1%", title="Share of runs"),
                alt.Tooltip("runs:Q", title="Runs"),
            ],
        )
        .properties(height=240)
    )


def actor_lines(frame: pd.DataFrame, y_title: str, scenarios: list[str] | None = None) -> alt.Chart:
    """Median of a per-actor series over time: ``scenario, actor, year, p50`` (and ``p10, p90`` for the tooltip);
    colour = actor, dash = scenario."""
    data = finite(frame, ["p10", "p50", "p90"])
    scenarios = scenario_order(data, scenarios)
    actors = list(dict.fromkeys(data["actor"]))
    dashes = [[1, 0], [6, 3], [2, 2], [8, 2, 2, 2]]
    return (
        alt.Chart(data.dropna(subset=["p50"]))
        .mark_line(strokeWidth=2.5)
        .encode(
            x=alt.X("year:Q", axis=YEAR_AXIS, scale=alt.Scale(zero=False, nice=False)),
            y=alt.Y("p50:Q", title=y_title, axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("actor:N", title="Actor", sort=actors, scale=alt.Scale(domain=actors,
                                                                                   range=palette(len(actors)))),
            strokeDash=alt.StrokeDash("scenario:N", title="Scenario", sort=scenarios,
                                      scale=alt.Scale(domain=scenarios, range=(dashes * 5)[: len(scenarios)]),
                                      legend=alt.Legend(symbolType="stroke", symbolStrokeWidth=2.5,
                                                        symbolStrokeColor="#333", labelLimit=260)),
            detail="scenario:N",
            tooltip=[
                alt.Tooltip("scenario:N", title="Scenario"),
                alt.Tooltip("actor:N", title="Actor"),
                alt.Tooltip("year:Q", format=".0f", title="Year"),
                alt.Tooltip("p50:Q", format=".1%", title="median"),
                alt.Tooltip("p10:Q", format=".1%", title="10th pct"),
                alt.Tooltip("p90:Q", format=".1%", title="90th pct"),
            ],
        )
        .properties(height=320)
    )

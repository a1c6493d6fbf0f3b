"""Takeoff classification and per-run takeoff metrics: pure functions of a run's trajectory.

**Classes** follow Trammell & Korinek's scenario tables ("Economic growth under transformative AI",
GPI WP 8-2020; ``shared/seeds/inside_view_transcripts.md``), evaluated on the last
``window_years`` of each run's valid trajectory (values after a singularity are NaN):

growth (of GDP): the class names the **long-run regime**, not a transition. The decisions read the
long-run rate g∞ that the last three windows point to (:meth:`EndRates.long_run`: a rate converging
geometrically is extrapolated to its limit, Aitken's Δ²; a steady, accelerating or too slowly
converging one is read at its last window), so a rate still settling at the end of the horizon is
classed by where it goes:
    ``II``  the integrator flagged a finite-time blow-up (status ``singularity``, with its year);
    ``I``   growth at the end ≥ ``significant_growth`` and still rising: the end-window rate exceeds
            the previous window's by more than the factor ``1 + acceleration``;
    ``++``  a long-run rate ≥ ``significant_growth``;
    ``--``  g∞ below the reference by more than ``same_band`` and either ≤ ``zero_growth`` or still
            falling (by more than the fraction ``decline`` from the previous window);
    ``-``   a lower long-run rate (below the reference by more than ``same_band``);
    ``+``   a modest rise: g∞ exceeds the reference by at least ``modest_rise``, or a level effect:
            growth rose by at least ``modest_rise`` and settled back within ``same_band`` of the
            reference, leaving output at least ``level_effect`` (ln) above the reference growth path
            (Trammell & Korinek's robotics-LS row);
    ``=``   otherwise: no change, or a transitional hump smaller than ``level_effect``.
labor_share
    ``->0`` the human labour share at the end is ≤ ``labor_share_zero``, or it fell by more than the
            fraction ``labor_share_decline`` over the last window and is below its start value;
    ``C``   otherwise (stays at, or converges to, a positive constant).
wages (growth rate of the human wage, the marginal product of labour)
    ``I``   end rate ≥ ``significant_growth`` and rising by more than ``1 + acceleration``;
    ``->0`` end rate ≤ −``wage_fall`` (falling towards zero);
    ``++``  end rate ≥ reference wage growth + ``wage_rise``;
    ``C``   |end rate| ≤ ``wage_flat`` while the labour share is ``C`` (a constant level);
    ``L``   a low rate: the labour share goes to zero while wages grow no faster than the
            reference + ``wage_rise``, or the rate is below the reference by more than ``same_band``
            (includes stagnation);
    ``=``   otherwise (unchanged path).

Every threshold is a parameter in ``parameters/takeoff.csv``.

**Run metrics** are the compute-centric takeoff model's (Davidson 2023, ``epoch-research/ftm``
``get_takeoff_metrics``): years from 20% to 100% automation, years from 5% to 20% GDP growth, the
first GDP doubling times, and the peak GDP growth with its year.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from sim.milestones import first_crossing

GROWTH_CLASSES = ("--", "-", "=", "+", "++", "I", "II")
LABOR_SHARE_CLASSES = ("C", "->0")
WAGE_CLASSES = ("->0", "=", "C", "L", "++", "I")


#: Where every classifier threshold is set (one row each): the only source of their values.
TAKEOFF_CSV = "parameters/takeoff.csv"


@dataclass(frozen=True)
class Thresholds:
    """Classifier thresholds (each ``[B]`` or a float); see the module docstring. No defaults here: every
    value comes from a row of ``parameters/takeoff.csv`` (:meth:`from_params`, :meth:`from_csv`)."""

    window_years: Tensor | float
    reference_growth: Tensor | float
    reference_wage_growth: Tensor | float
    significant_growth: Tensor | float
    modest_rise: Tensor | float
    same_band: Tensor | float
    acceleration: Tensor | float
    decline: Tensor | float
    zero_growth: Tensor | float
    labor_share_zero: Tensor | float
    labor_share_decline: Tensor | float
    wage_fall: Tensor | float
    wage_flat: Tensor | float
    wage_rise: Tensor | float
    level_effect: Tensor | float

    @classmethod
    def from_params(cls, params) -> Thresholds:
        """From simulation parameters; a missing ``takeoff.*`` row is an error naming it (never a silent default)."""
        names = [f"takeoff.{f.name}" for f in fields(cls)]
        missing = [n for n in names if n not in params]
        if missing:
            raise KeyError(f"{TAKEOFF_CSV}: missing row(s) {', '.join(missing)} (the takeoff classifier's thresholds)")
        return cls(**{f.name: params[n].detach() for f, n in zip(fields(cls), names)})

    @classmethod
    def from_csv(cls) -> Thresholds:
        """The central values of ``parameters/takeoff.csv`` (as floats)."""
        from sim.parameters.table import PARAMETERS_DIR, load_module_csv

        specs = load_module_csv(PARAMETERS_DIR / "takeoff.csv")
        return cls.from_params({name: torch.tensor(spec.value, dtype=torch.float64) for name, spec in specs.items()})


# -- series helpers -------------------------------------------------------------------------------


def _last_valid(series: Tensor) -> Tensor:
    """Index of the last finite value per row (0 if none)."""
    finite = torch.isfinite(series)
    T = series.shape[1]
    idx = torch.arange(T).expand_as(series)
    return torch.where(finite, idx, torch.zeros_like(idx)).amax(1)


def _interp_rows(years: Tensor, series: Tensor, at: Tensor) -> Tensor:
    """Linear interpolation of each row of ``series`` [B, T] at times ``at`` [B, ...] (clamped)."""
    shape = at.shape
    flat = at.reshape(shape[0], -1).clamp(float(years[0]), float(years[-1]))
    T = len(years)
    step = (years[-1] - years[0]) / (T - 1)
    if T > 2 and torch.allclose(years[1:] - years[:-1], step, rtol=1e-9, atol=1e-12):
        # uniform grid (the usual case): the interval by arithmetic, not a search per value
        hi = (torch.floor((flat - years[0]) / step).long() + 1).clamp(1, T - 1)
    else:
        hi = torch.searchsorted(years.contiguous(), flat.contiguous()).clamp(1, T - 1)
    lo = hi - 1
    y0, y1 = years[lo], years[hi]
    v0, v1 = series.gather(1, lo), series.gather(1, hi)
    frac = ((flat - y0) / (y1 - y0)).clamp(0.0, 1.0)
    return (v0 + frac * (v1 - v0)).reshape(shape)


def _shifted_rows(years: Tensor, series: Tensor, window: Tensor) -> Tensor:
    """x(t − W) for every t of each row ([B, T]; W per row, [B]): on a uniform grid, a row whose
    W is a whole number of steps is the row shifted (no search, no interpolation: one slice per
    distinct shift); the others are interpolated. Entries before the start are left unset (the
    caller masks them)."""
    B, T = series.shape
    step = (years[-1] - years[0]) / (T - 1) if T > 1 else years.new_tensor(1.0)
    uniform = T > 2 and torch.allclose(years[1:] - years[:-1], step, rtol=1e-9, atol=1e-12)
    if not uniform:
        return _interp_rows(years, series, years.expand(B, -1) - window[:, None])
    steps = window / step
    whole = steps.round()
    exact = ((steps - whole).abs() < 1e-9) & (whole >= 1) & (whole < T)
    past = torch.full_like(series, math.nan)
    for m in torch.unique(whole[exact]).long().tolist():
        rows = (exact & (whole == m)).nonzero().squeeze(1)
        past[rows, m:] = series[rows, : T - m]
    rest = (~exact).nonzero().squeeze(1)
    if len(rest):
        past[rest] = _interp_rows(years, series[rest], years.expand(len(rest), -1) - window[rest, None])
    return past


def window_rates(years: Tensor, log_series: Tensor, window: Tensor | float) -> Tensor:
    """Average growth rate over the preceding ``window`` years, (ln x(t) − ln x(t − W)) / W, [B, T];
    NaN where t − W is before the start."""
    B = log_series.shape[0]
    window = torch.as_tensor(window, dtype=years.dtype).expand(B)
    t = years.expand(B, -1)
    past = _shifted_rows(years, log_series, window)
    rate = (log_series - past) / window[:, None]
    return torch.where(t - window[:, None] >= years[0] - 1e-9, rate, torch.full_like(rate, math.nan))


@dataclass
class EndRates:
    end: Tensor  # average rate over the last window
    previous: Tensor  # average rate over the window before it
    peak: Tensor  # highest window rate along the run
    trend: Tensor | None = None  # [B, 3] rates over the last three windows (oldest first), for long_run
    total: Tensor | None = None  # ln x(t_end) - ln x(t_0): the whole run's log change
    span: Tensor | None = None  # t_end - t_0 (years)

    def long_run(self, max_ratio: float = 0.9) -> Tensor:
        """The asymptotic rate the last three windows point to (Aitken's delta-squared extrapolation).

        With window rates g_2, g_1, g_0 (oldest first) and steps d_1 = g_1 - g_2, d_0 = g_0 - g_1, a
        rate converging geometrically (ratio q = d_0 / d_1 in (0, ``max_ratio``]) tends to
        g_0 + d_0 q / (1 - q). A rate that is steady, oscillating, accelerating (q >= 1) or converging
        too slowly to extrapolate (q > ``max_ratio``) is read at its last-window value.
        """
        if self.trend is None:
            return self.end
        g2, g1, g0 = self.trend.unbind(1)
        d1, d0 = g1 - g2, g0 - g1
        q = d0 / torch.where(d1 == 0, torch.ones_like(d1), d1)
        converging = (d1 != 0) & (q > 0) & (q <= max_ratio)
        q = torch.where(converging, q, torch.zeros_like(q))
        return torch.where(converging, g0 + d0 * q / (1 - q), self.end)


def end_rates(years: Tensor, log_series: Tensor, window: Tensor | float) -> EndRates:
    B = log_series.shape[0]
    window_t = torch.as_tensor(window, dtype=years.dtype).expand(B)
    last = _last_valid(log_series)
    t_end = years[last]
    horizon = (t_end - years[0]).clamp_min(1e-9)
    w = torch.minimum(window_t, horizon / 2)  # short runs: two half-horizon windows
    w3 = torch.minimum(window_t, horizon / 3)  # the trend's three windows fit in the run too
    at = torch.stack([t_end, t_end - w, t_end - 2 * w, t_end - w3, t_end - 2 * w3, t_end - 3 * w3], dim=1)
    values = _interp_rows(years, torch.nan_to_num(log_series, nan=0.0), at)
    end = (values[:, 0] - values[:, 1]) / w
    previous = (values[:, 1] - values[:, 2]) / w
    trend = torch.stack([values[:, 4] - values[:, 5], values[:, 3] - values[:, 4], values[:, 0] - values[:, 3]],
                        dim=1) / w3[:, None]
    rates = window_rates(years, log_series, w)
    peak = torch.where(torch.isfinite(rates), rates, torch.full_like(rates, -math.inf)).amax(1)
    total = values[:, 0] - torch.nan_to_num(log_series[:, 0], nan=0.0)
    return EndRates(end, previous, peak, trend=trend, total=total, span=horizon)


# -- classification -------------------------------------------------------------------------------


def _t(x, like: Tensor) -> Tensor:
    return torch.as_tensor(x, dtype=like.dtype).expand_as(like)


def growth_codes(r: EndRates, singular: Tensor, th: Thresholds) -> list[str]:
    end, prev, peak = r.end, r.previous, r.peak
    g = r.long_run()  # the asymptotic rate: the class names the long-run regime, not a transition
    sig, ref = _t(th.significant_growth, g), _t(th.reference_growth, g)
    accel = (end >= sig) & (end > prev * (1.0 + _t(th.acceleration, g))) & (end > prev)
    lower = g < ref - _t(th.same_band, g)
    falling = (g <= _t(th.zero_growth, g)) | (end < prev * (1.0 - _t(th.decline, g)))
    back = (g - ref).abs() <= _t(th.same_band, g)  # settled back at (or never left) the reference rate
    # a level effect: a rise that settled back, leaving output at least level_effect (ln) above the
    # reference path; a smaller transitional hump is "="
    level = r.total - ref * r.span if r.total is not None else torch.zeros_like(g)
    bump = back & (peak >= ref + _t(th.modest_rise, g)) & (level >= _t(th.level_effect, g))
    rise = (g >= ref + _t(th.modest_rise, g)) | bump
    # plain lists for the per-sample decision (indexing tensors element by element is slow)
    accel, at_sig, lower, falling, rise = (x.tolist() for x in (accel, g >= sig, lower, falling, rise))
    out = []
    for i in range(len(accel)):
        if singular[i]:
            out.append("II")
        elif accel[i]:
            out.append("I")
        elif at_sig[i]:
            out.append("++")
        elif lower[i] and falling[i]:
            out.append("--")
        elif lower[i]:
            out.append("-")
        elif rise[i]:
            out.append("+")
        else:
            out.append("=")
    return out


def labor_share_codes(years: Tensor, labor_share: Tensor, th: Thresholds) -> list[str]:
    last = _last_valid(labor_share)
    t_end = years[last]
    window = torch.minimum(_t(th.window_years, t_end), ((t_end - years[0]) / 2).clamp_min(1e-9))
    at = torch.stack([t_end, t_end - window], dim=1)
    values = _interp_rows(years, torch.nan_to_num(labor_share, nan=0.0), at)
    end, prev, start = values[:, 0], values[:, 1], labor_share[:, 0]
    zero = end <= _t(th.labor_share_zero, end)
    falling = (end < prev * (1.0 - _t(th.labor_share_decline, end))) & (end < start)
    return ["->0" if gone else "C" for gone in (zero | falling).tolist()]


def wage_codes(r: EndRates, labour: list[str], th: Thresholds) -> list[str]:
    g, prev = r.end, r.previous
    ref = _t(th.reference_wage_growth, g)
    sig = _t(th.significant_growth, g)
    accel = (g >= sig) & (g > prev * (1.0 + _t(th.acceleration, g))) & (g > prev)
    fall = g <= -_t(th.wage_fall, g)
    rise = g >= ref + _t(th.wage_rise, g)
    flat = g.abs() <= _t(th.wage_flat, g)
    below = g < ref - _t(th.same_band, g)
    accel, fall, rise, flat, below = (x.tolist() for x in (accel, fall, rise, flat, below))
    out = []
    for i in range(len(accel)):
        if accel[i]:
            out.append("I")
        elif fall[i]:
            out.append("->0")
        elif rise[i]:
            out.append("++")
        elif labour[i] == "C" and flat[i]:
            out.append("C")
        elif labour[i] == "->0" or below[i]:
            out.append("L")
        else:
            out.append("=")
    return out


def classify(years: Tensor, *, log_gdp: Tensor, labor_share: Tensor, log_wage: Tensor, status: list[str],
             status_year: Tensor, thresholds: Thresholds | None = None) -> dict[str, list[str]]:
    """Takeoff classes per sample: ``{"growth": [...], "labor_share": [...], "wages": [...]}``.

    ``log_gdp``, ``labor_share``, ``log_wage``: ``[B, T]`` on ``years`` ``[T]`` (NaN after a
    sample's status year); ``status``: ``ok`` / ``diverged`` / ``singularity`` per sample.
    ``thresholds``: default :meth:`Thresholds.from_csv`.
    """
    thresholds = thresholds if thresholds is not None else Thresholds.from_csv()
    with torch.no_grad():
        years = years.detach().to(log_gdp.dtype)
        log_gdp, labor_share, log_wage = log_gdp.detach(), labor_share.detach(), log_wage.detach()
        singular = [s == "singularity" for s in status]
        g = end_rates(years, log_gdp, thresholds.window_years)
        labour = labor_share_codes(years, labor_share, thresholds)
        w = end_rates(years, log_wage, thresholds.window_years)
        return {"growth": growth_codes(g, singular, thresholds), "labor_share": labour,
                "wages": wage_codes(w, labour, thresholds)}


# -- FTM-style takeoff metrics -----------------------------------------------------------------------


def takeoff_metrics(years: Tensor, log_gdp: Tensor, gdp_growth: Tensor, automation: Tensor, params=None
                    ) -> dict[str, Tensor]:
    """Per-run scalars ``[B]`` (NaN where a threshold is never reached).

    automation: share of the start's human tasks automated (0..1); "100%" means at least
    ``takeoff.full_automation_threshold`` (automation approaches 1 gradually through the adoption lag).
    """
    def par(name: str) -> Tensor | float:
        if params is not None and name in params:
            return params[name].detach()
        if params is not None:
            raise KeyError(f"{TAKEOFF_CSV}: missing row {name} (a takeoff-metric threshold)")
        from sim.parameters.table import PARAMETERS_DIR, load_module_csv

        return load_module_csv(PARAMETERS_DIR / "takeoff.csv")[name].value

    with torch.no_grad():
        years = years.detach().to(log_gdp.dtype)
        log_gdp, gdp_growth, automation = log_gdp.detach(), gdp_growth.detach(), automation.detach()
        full = par("takeoff.full_automation_threshold")
        t20 = first_crossing(years, automation, 0.2)
        t100 = first_crossing(years, automation, full)
        g5 = first_crossing(years, gdp_growth, par("takeoff.growth_start_rate"))
        g20 = first_crossing(years, gdp_growth, par("takeoff.growth_end_rate"))
        out = {
            "automation_20pct_year": t20,
            "automation_100pct_year": t100,
            "years_20_to_100pct_automation": t100 - t20,
            "years_5_to_20pct_growth": g20 - g5,
        }
        start = log_gdp[:, :1]
        previous = years[0].expand(log_gdp.shape[0])
        for k in range(1, 5):
            reached = first_crossing(years, log_gdp - start, k * math.log(2.0))
            out[f"gdp_doubling_time_{k}"] = reached - previous
            previous = reached
        finite = torch.where(torch.isfinite(gdp_growth), gdp_growth, torch.full_like(gdp_growth, -math.inf))
        peak, where = finite.max(dim=1)
        out["peak_gdp_growth"] = torch.where(torch.isfinite(peak), peak, torch.full_like(peak, math.nan))
        out["peak_gdp_growth_year"] = torch.where(torch.isfinite(peak), years[where], torch.full_like(peak, math.nan))
        return out


RUN_METRIC_DOCS = {
    "automation_20pct_year": ("yr", "Year 20% of the start's human tasks are automated"),
    "automation_100pct_year": ("yr", "Year (effectively) all of them are (takeoff.full_automation_threshold)"),
    "years_20_to_100pct_automation": ("yr", "Years from 20% to 100% task automation (FTM full_automation)"),
    "years_5_to_20pct_growth": ("yr", "Years from 5% to 20% annual GDP growth (FTM gwp_growth)"),
    "gdp_doubling_time_1": ("yr", "First GDP doubling time, counted from the start of the run"),
    "gdp_doubling_time_2": ("yr", "Second GDP doubling time"),
    "gdp_doubling_time_3": ("yr", "Third GDP doubling time"),
    "gdp_doubling_time_4": ("yr", "Fourth GDP doubling time"),
    "peak_gdp_growth": ("1/yr", "Highest instantaneous GDP growth rate d ln Y/dt"),
    "peak_gdp_growth_year": ("yr", "Year of the peak GDP growth rate"),
}

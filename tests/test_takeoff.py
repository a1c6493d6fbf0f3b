"""The takeoff classifier and FTM-style run metrics on hand-made trajectories with known answers."""

from __future__ import annotations

import math

import pytest
import torch

from sim import takeoff
from sim.parameters import load_scenario

T = torch.float64
YEARS = torch.arange(2024.0, 2325.0, 1.0, dtype=T)
t = YEARS - 2024.0


def log_path(rate_fn) -> torch.Tensor:
    """ln x(t) = ∫ g(s) ds on the grid (trapezoid, fine grid)."""
    fine = torch.linspace(0.0, 300.0, 30001, dtype=T)
    g = rate_fn(fine)
    integral = torch.cat([torch.zeros(1, dtype=T), torch.cumsum((g[1:] + g[:-1]) / 2 * (fine[1] - fine[0]), 0)])
    return integral[::100]


def const(x):
    return lambda s: torch.full_like(s, x)


GROWTH_CASES = {
    "=": const(0.03),
    "+": lambda s: 0.03 + 0.02 * (1 - torch.exp(-s / 30)),  # a sustained modest rise, to 5%/yr
    "++": lambda s: 0.03 + 0.2 * (1 - torch.exp(-s / 20)),  # a one-off rise to a new rate
    "I": lambda s: 0.03 * torch.exp(0.015 * s),  # the growth rate itself grows exponentially
    "-": const(0.015),
    "--": lambda s: 0.03 / (1 + 0.1 * s),  # falls towards zero
}


def classify(log_gdp, labor_share, log_wage, status=None, status_year=None):
    B = log_gdp.shape[0]
    return takeoff.classify(YEARS, log_gdp=log_gdp, labor_share=labor_share, log_wage=log_wage,
                            status=status or ["ok"] * B,
                            status_year=status_year if status_year is not None else torch.full((B,), math.nan))


def test_growth_classes_on_known_paths():
    labels = list(GROWTH_CASES)
    log_gdp = torch.stack([log_path(GROWTH_CASES[k]) for k in labels])
    share = torch.full_like(log_gdp, 0.6)
    out = classify(log_gdp, share, log_gdp - 0.01 * t)
    assert out["growth"] == labels


#: Transitions the class must see through (the class names the long-run regime). Each was classified by the
#: end-window rate or the peak before; the comment gives the old class.
TRANSITIONS = {
    # a century-long hump back to the old rate, output 0.02 * 25 sqrt(pi) = 0.89 (ln) above the
    # reference path: below takeoff.level_effect (1.0), so unchanged (old: "+", from the peak)
    "=": lambda s: 0.03 + 0.02 * torch.exp(-((s - 100) / 25) ** 2),
    # still 11.7%/yr in the last window but converging (ratio e^(-20/120) = 0.85 per window) to 9%/yr:
    # a modest long-run rise (old: "++", from the end window)
    "+": lambda s: 0.09 + 0.3 * torch.exp(-s / 120),
    # converging from below to 12%/yr with the end window at 9.7%/yr: significant (old: "+")
    "++": lambda s: 0.12 - 0.09 * torch.exp(-s / 115),
    # a large level effect: growth rises by 3 points for a century and settles back, output e^2.13 above
    # the reference path (the robotics-LS row's shape): a modest rise "+" (old: "+")
    "+ (level)": lambda s: 0.03 + 0.03 * torch.exp(-((s - 100) / 40) ** 2),
}


def test_growth_classes_read_the_long_run_regime_not_the_transition():
    labels = list(TRANSITIONS)
    log_gdp = torch.stack([log_path(TRANSITIONS[k]) for k in labels])
    out = classify(log_gdp, torch.full_like(log_gdp, 0.6), log_gdp - 0.01 * t)
    assert out["growth"] == [k.split(" ")[0] for k in labels]


def test_long_run_rate_is_the_limit_of_a_geometrically_converging_rate():
    """Aitken's extrapolation is exact for g(t) = a + b e^(-t/tau) on window averages (measured error below
    1e-13; the end window alone is off by 2e-3 to 2.7e-2)."""
    for a, b, tau in ((0.09, 0.3, 120.0), (0.12, -0.09, 115.0), (0.03, 0.05, 90.0)):
        log_gdp = log_path(lambda s: a + b * torch.exp(-s / tau))[None]
        r = takeoff.end_rates(YEARS, log_gdp, 20.0)
        assert float(r.long_run()) == pytest.approx(a, abs=1e-12), (a, b, tau)
        assert abs(float(r.end) - a) > 1e-4  # the end window alone is off by far more


def test_singularity_is_ii_with_values_nan_after_it():
    log_gdp = log_path(lambda s: 0.02 / (1 - s / 120).clamp_min(1e-6))[None].clone()
    log_gdp[:, t > 119] = math.nan
    out = classify(log_gdp, torch.full_like(log_gdp, 0.6), log_gdp, status=["singularity"],
                   status_year=torch.tensor([2143.9], dtype=T))
    assert out["growth"] == ["II"]
    # without the integrator's flag the same (truncated) path is only a rising growth rate
    assert classify(log_gdp, torch.full_like(log_gdp, 0.6), log_gdp)["growth"] == ["I"]


def test_labor_share_classes():
    constant = torch.full_like(t, 0.6)
    converging = 0.4 + 0.2 * torch.exp(-t / 30)  # to a positive constant
    rising = 0.9 - 0.3 * torch.exp(-t / 50)
    vanishing = 0.6 * torch.exp(-t / 40)  # 0.0033 at the end
    slowly_vanishing = 0.6 * torch.exp(-t / 150)  # 0.08 at the end, still falling 12% per 20 years
    shares = torch.stack([constant, converging, rising, vanishing, slowly_vanishing])
    log_gdp = torch.stack([0.03 * t] * 5)
    out = classify(log_gdp, shares, log_gdp)
    assert out["labor_share"] == ["C", "C", "C", "->0", "->0"]


def test_wage_classes():
    log_gdp_flat = 0.03 * t
    log_gdp_boom = log_path(GROWTH_CASES["++"])
    log_gdp_type1 = log_path(GROWTH_CASES["I"])
    cases = [  # (log gdp, labour share, log wage, expected)
        (log_gdp_flat, torch.full_like(t, 0.6), 0.02 * t, "="),  # unchanged path
        (log_gdp_boom, torch.full_like(t, 0.6), log_gdp_boom - 0.01 * t, "++"),
        (log_gdp_type1, 0.6 * torch.exp(-t / 20), log_path(lambda s: 0.02 * torch.exp(0.015 * s)), "I"),
        (log_gdp_boom, 0.6 * torch.exp(-t / 20), -0.02 * t, "->0"),
        (log_gdp_boom, 0.6 * torch.exp(-t / 20), 0.02 * t, "L"),  # wages lag an economy racing ahead
        (log_gdp_boom, 0.6 * torch.exp(-t / 20), torch.zeros_like(t), "L"),  # ... or stagnate
        (torch.zeros_like(t), torch.full_like(t, 0.6), 0.3 * (1 - torch.exp(-t / 30)), "C"),  # constant level
    ]
    out = classify(torch.stack([c[0] for c in cases]), torch.stack([c[1] for c in cases]),
                   torch.stack([c[2] for c in cases]))
    assert out["wages"] == [c[3] for c in cases]


def test_thresholds_are_parameters():
    params = load_scenario("baseline").central()
    th = takeoff.Thresholds.from_params(params)
    assert float(th.significant_growth) == pytest.approx(0.10)
    # moving a threshold moves the class: 8%/yr is ++ with a 5% threshold, + with the default
    log_gdp = log_path(const(0.08))[None]
    share = torch.full_like(log_gdp, 0.6)
    default = takeoff.classify(YEARS, log_gdp=log_gdp, labor_share=share, log_wage=log_gdp, status=["ok"],
                               status_year=torch.tensor([math.nan]), thresholds=th)
    low = takeoff.classify(YEARS, log_gdp=log_gdp, labor_share=share, log_wage=log_gdp, status=["ok"],
                           status_year=torch.tensor([math.nan]),
                           thresholds=takeoff.Thresholds(**{**th.__dict__, "significant_growth": 0.05}))
    assert default["growth"] == ["+"] and low["growth"] == ["++"]


def test_thresholds_come_only_from_takeoff_csv():
    """One source of truth: no default in code (a missing row would be hidden by one), every field a CSV row."""
    import dataclasses

    from sim.parameters import SimulationParameters
    from sim.parameters.table import PARAMETERS_DIR, load_module_csv

    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(takeoff.Thresholds))
    rows = load_module_csv(PARAMETERS_DIR / "takeoff.csv")
    th = takeoff.Thresholds.from_csv()
    for f in dataclasses.fields(takeoff.Thresholds):
        assert float(getattr(th, f.name)) == rows[f"takeoff.{f.name}"].value, f.name
    params = load_scenario("baseline").central()
    values = {n: params[n] for n in params.names if n != "takeoff.wage_rise"}
    with pytest.raises(KeyError, match=r"parameters/takeoff.csv: missing row\(s\) takeoff.wage_rise"):
        takeoff.Thresholds.from_params(SimulationParameters(values))
    values = {n: params[n] for n in params.names if n != "takeoff.growth_end_rate"}
    with pytest.raises(KeyError, match="missing row takeoff.growth_end_rate"):
        takeoff.takeoff_metrics(YEARS, t[None], t[None], t[None], SimulationParameters(values))


def test_ftm_takeoff_metrics():
    # GDP growth 3% until 2050, then rising linearly by 1 pp a year; automation a logistic
    growth = torch.where(t < 26, torch.full_like(t, 0.03), 0.03 + 0.01 * (t - 26))
    log_gdp = log_path(lambda s: torch.where(s < 26, torch.full_like(s, 0.03), 0.03 + 0.01 * (s - 26)))
    automation = torch.sigmoid(0.5 * (t - 30))
    out = takeoff.takeoff_metrics(YEARS, log_gdp[None], growth[None], automation[None])
    t20 = 2054 + 2 * math.log(0.2 / 0.8)
    t99 = 2054 + 2 * math.log(0.99 / 0.01)
    assert float(out["automation_20pct_year"][0]) == pytest.approx(t20, abs=0.05)
    assert float(out["years_20_to_100pct_automation"][0]) == pytest.approx(t99 - t20, abs=0.1)
    assert float(out["years_5_to_20pct_growth"][0]) == pytest.approx(17 - 2, abs=1e-9)  # 5% at 2052, 20% at 2067
    # first doubling: ∫g = ln 2; with 3%/yr for 26 years (0.78) the first doubling takes 23.1 years
    assert float(out["gdp_doubling_time_1"][0]) == pytest.approx(math.log(2) / 0.03, abs=0.02)
    d2 = float(out["gdp_doubling_time_2"][0])
    assert 0 < d2 < float(out["gdp_doubling_time_1"][0])
    assert float(out["peak_gdp_growth"][0]) == pytest.approx(0.03 + 0.01 * 274)
    assert float(out["peak_gdp_growth_year"][0]) == 2324.0


def test_window_rates_shift_path_equals_interpolation():
    """Rows whose window is a whole number of grid steps are shifted, the others interpolated;
    both must give what interpolating every row gives (and the same NaN pattern)."""
    torch.manual_seed(0)
    years = 2024 + torch.arange(121, dtype=torch.float64) / 12
    log_x = torch.randn(6, 121, dtype=torch.float64).cumsum(1)
    window = torch.tensor([2.0, 2.0, 1.25, 0.3, 3.0, 11.0], dtype=torch.float64)
    fast = takeoff.window_rates(years, log_x, window)
    t = years.expand(6, -1)
    past = takeoff._interp_rows(years, log_x, t - window[:, None])
    slow = torch.where(t - window[:, None] >= years[0] - 1e-9, (log_x - past) / window[:, None],
                       torch.full_like(log_x, math.nan))
    assert torch.equal(fast.isnan(), slow.isnan())
    assert torch.allclose(fast.nan_to_num(0.0), slow.nan_to_num(0.0), rtol=0, atol=1e-12)
    # and on a non-uniform grid (interpolation only)
    uneven = torch.cat([years[:60], years[61:]])
    fast = takeoff.window_rates(uneven, torch.cat([log_x[:, :60], log_x[:, 61:]], 1), window)
    assert fast.shape == (6, 120) and torch.isfinite(fast[:5, -1]).all()
    assert fast[5].isnan().all()  # an 11-year window on a 10-year run: no rate anywhere

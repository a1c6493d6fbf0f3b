"""The software R&D module: closed-form checks of its pieces and its calibration."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import integrate, stats

from sim.parameters import SimulationParameters, load_name_map, load_scenario
from sim.updaters.compute.series import schedule_from_params
from sim.updaters.software_rnd import automation as aut
from sim.updaters.software_rnd.coding_labor import build_frontier
from sim.updaters.software_rnd.experiment import experiment_capacity_params, log_ces, log_throughput
from sim.updaters.software_rnd.horizon import ac_progress_threshold, log_horizon
from sim.updaters.software_rnd.model import LN10, calibrate, rk4_integrate
from sim.updaters.software_rnd.taste import build_taste_distribution

GOLDEN = Path(__file__).resolve().parent / "data" / "aifm_golden"
F64 = torch.float64


def T(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=F64)


# -- CES -------------------------------------------------------------------------------------------------
def test_ces_limits():
    lx1, lx2, w = T(math.log(3.0)), T(math.log(7.0)), T(0.3)
    cobb_douglas = 0.3 * math.log(3.0) + 0.7 * math.log(7.0)
    assert float(log_ces(lx1, lx2, w, T(0.0))) == pytest.approx(cobb_douglas, abs=1e-14)
    assert float(log_ces(lx1, lx2, w, T(1e-6))) == pytest.approx(cobb_douglas, abs=1e-5)  # rho -> 0
    assert float(log_ces(lx1, lx2, w, T(-1e-6))) == pytest.approx(cobb_douglas, abs=1e-5)
    assert math.exp(float(log_ces(lx1, lx2, w, T(1.0)))) == pytest.approx(0.3 * 3 + 0.7 * 7, rel=1e-13)  # linear
    assert math.exp(float(log_ces(lx1, lx2, w, T(-60.0)))) == pytest.approx(3.0)  # Leontief
    # at rho = -40 still the CES itself, written here (measured difference 0 to rounding), not only near 3
    exact = math.log((0.3 * 3.0**-40.0 + 0.7 * 7.0**-40.0) ** (1 / -40.0))
    assert float(log_ces(lx1, lx2, w, T(-40.0))) == pytest.approx(exact, abs=1e-12)
    for rho in (1e-6, -1e-6):  # near 0: the CES formula, not only its Cobb-Douglas limit (measured 1.2e-10)
        exact = math.log((0.3 * 3.0**rho + 0.7 * 7.0**rho) ** (1 / rho))
        assert float(log_ces(lx1, lx2, w, T(rho))) == pytest.approx(exact, abs=1e-9)


def test_experiment_capacity_reproduces_its_asymptotes():
    a, b, divisor = T(15.142136, 4.0), T(1001.0, 30.0), T(2.794436, 1.7)
    lc0, lh0, lam = T(math.log(8e5), math.log(8e5)), T(math.log(2000.0), math.log(2000.0)), T(0.5, 0.3)
    rho, alpha, zeta = experiment_capacity_params(a, b, divisor, T(0.1, 0.1), lc0, lh0, lam)
    assert torch.allclose(torch.exp(rho * torch.log(a)) + torch.exp(rho * torch.log(b)), T(1.0, 1.0), atol=1e-12)

    def x(lc, ll):
        return torch.exp(log_throughput(lc, ll, alpha, rho, zeta, 0.001, 10.0))

    x0 = x(lc0, lam * lh0)
    assert torch.allclose(x(lc0 + 200.0, lam * lh0) / x0, b, rtol=1e-6)  # unlimited compute
    assert torch.allclose(x(lc0, lam * lh0 + 400.0) / x0, a, rtol=1e-6)  # unlimited labour
    assert torch.allclose(x0 / x(lc0 + math.log(0.1), lam * lh0), divisor, rtol=1e-10)  # a tenth of the compute


# -- taste ------------------------------------------------------------------------------------------------
def _taste(m2t, limit, smoothing):
    n = len(m2t)
    return build_taste_distribution(T(*m2t), T(*limit), T(*smoothing), torch.full((n,), 0.999, dtype=F64),
                                    torch.ones(n, dtype=F64), 0.001, 0.9999, 200, 10.0, 2000)


def test_taste_distribution_meets_its_two_conditions():
    m2t, limit, smoothing = (3.7, 8.0, 2.0, 5.0), (8.0, 20.0, 0.6, 3.0), (0.5, 0.3, 0.7, 0.5 + 1e-4)
    dist = _taste(m2t, limit, smoothing)
    z = stats.norm.ppf(0.999)
    top = dist.taste(dist.mu + dist.sigma * z)
    med = dist.taste(dist.mu)
    assert torch.allclose(top / med, T(*m2t), rtol=1e-9)
    assert torch.allclose(dist.mean, torch.ones(4, dtype=F64), atol=1e-10)
    # Eli's medians: mu = -0.090, sigma = 0.445 (aifm_equations.md §9.1)
    assert float(dist.mu[0]) == pytest.approx(-0.090, abs=5e-4)
    assert float(dist.sigma[0]) == pytest.approx(0.445, abs=5e-4)
    # smoothing just off 1/2 (general form) is continuous with the Cobb-Douglas form
    cd = _taste((5.0,), (3.0,), (0.5,))
    assert float(dist.mu[3]) == pytest.approx(float(cd.mu[0]), abs=1e-3)


def test_taste_tends_to_lognormal_without_a_limit():
    dist = _taste((3.0,), (3000.0,), (0.5,))
    z = stats.norm.ppf(0.999)
    sigma = math.log(3.0) / z
    assert float(dist.sigma[0]) == pytest.approx(sigma, rel=2e-3)
    assert float(dist.mu[0]) == pytest.approx(-0.5 * sigma ** 2, abs=2e-3)


def test_mean_with_floor_matches_direct_integration():
    dist = _taste((3.7,), (8.0,), (0.3,))
    mu, sigma = float(dist.mu[0]), float(dist.sigma[0])

    def direct(floor):
        g = lambda x: float(dist.taste(T(x)))
        f = lambda x: max(g(x), floor) * stats.norm.pdf(x, mu, sigma)
        return integrate.quad(f, mu - 12 * sigma, mu + 12 * sigma, limit=400, points=[float(dist.inverse(T(floor)))])[0]

    for floor in (0.2, 1.0, 2.5, 4.0):
        assert float(dist.mean_with_floor(T(floor))) == pytest.approx(direct(floor), rel=2e-3)
    # below the table: the plain mean; far above: the floor itself
    assert float(dist.mean_with_floor(T(1e-6))) == pytest.approx(float(dist.mean[0]))
    assert float(dist.mean_with_floor(T(1e3))) == pytest.approx(1e3)
    # round trip taste -> SD
    assert float(dist.sd_of_taste(dist.taste_at_sd(T(2.5)))) == pytest.approx(2.5, abs=1e-9)


# -- horizon ------------------------------------------------------------------------------------------------
def test_horizon_and_ac_threshold():
    p_now, tau, h0 = T(22.0, 22.0), T(0.75, 0.75), T(26.0, 26.0)
    d = T(0.92, 1.0)
    # one doubling takes tau OOMs; the next d*tau
    lh = log_horizon(torch.stack([p_now, p_now + tau, p_now + tau + d * tau], dim=1), p_now, tau, d, h0)
    assert torch.allclose(torch.exp(lh - torch.log(h0)[:, None]), T(1.0, 2.0, 4.0).expand(2, 3), rtol=1e-12)
    p_ac = ac_progress_threshold(p_now, tau, d, h0, T(1.2e7, 1.2e7), T(1e5, 1e5), T(0.0, 0.0), T(1.5, 1.5),
                                 T(1.6, 1.6))
    assert torch.allclose(torch.exp(log_horizon(p_ac, p_now, tau, d, h0)), T(1.2e7, 1.2e7), rtol=1e-10)
    gap = ac_progress_threshold(p_now, tau, d, h0, T(1.2e7, 1.2e7), T(1e5, 1e5), T(1.0, 1.0), T(1.5, 1.5),
                                T(1.6, 1.6))
    assert torch.allclose(torch.exp(log_horizon(gap - 1.5 * 1.6, p_now, tau, d, h0)), T(1e5, 1e5), rtol=1e-10)


# -- coding labour -------------------------------------------------------------------------------------------
def test_coding_labor_limits():
    one = torch.ones(1, dtype=F64)
    k, x0 = aut.logistic_from_anchors(T(22.0), T(0.27), T(30.0), 1.0, T(1.1))
    fr = build_frontier(k, x0, T(1.1), T(-2.0), T(1.9), T(0.05), T(1e-10), 4096)
    lh, lc = T(math.log(2000.0)), T(math.log(5e5))
    # before any task is automatable, coding labour is the human labour
    assert float(fr.log_labor(lh, lc, T(LN10 * -30.0))) == pytest.approx(math.log(2000.0), abs=1e-6)
    # labour rises with effective compute and with inference compute
    l1 = fr.log_labor(lh, lc, T(LN10 * 25.0))
    assert float(fr.log_labor(lh, lc, T(LN10 * 26.0))) > float(l1) > math.log(2000.0)
    assert float(fr.log_labor(lh, lc + 1.0, T(LN10 * 25.0))) > float(l1)
    # with everything automated and unlimited compute, the human-only tail caps L/L_H at eps^((1-rho)/rho)
    cap = math.log(1e-10) * 3.0 / (-2.0)
    top = fr.log_labor(lh, lc + 200.0, T(LN10 * 60.0)) - lh
    assert float(top) == pytest.approx(cap, rel=1e-6)
    assert float(aut.automation_fraction(T(30.0), k, x0, T(1.1))) == pytest.approx(1.0)
    assert float(aut.automation_fraction(T(22.0), k, x0, T(1.1))) == pytest.approx(0.27)
    del one


def test_interior_cut_searches_find_what_bisection_finds():
    """Both interior-cut searches (two rounds of fetches in eager mode, the vectorised bisection in
    compiled graphs) against a plain bisection: the first node in
    [1, M − 1] whose ln F reaches the value, on rows with ties, values equal to nodes, NaN, and
    values below and above every node, for grid sizes that do and do not split into whole blocks."""
    from sim.updaters.software_rnd.coding_labor import _binary_search, _two_level_search

    def bisection(table, values, rows=None):
        log_f = table[:, :, 0] if rows is None else table[rows, :, 0]
        lo = torch.ones(len(values), dtype=torch.long)
        hi = torch.full((len(values),), table.shape[1] - 1, dtype=torch.long)
        while bool((lo < hi).any()):
            mid = (lo + hi) >> 1
            below = log_f.gather(1, mid[:, None]).squeeze(1) < values
            lo, hi = torch.where(below & (lo < hi), mid + 1, lo), torch.where(~below & (lo < hi), mid, hi)
        return hi

    gen = torch.Generator().manual_seed(0)
    for M in (2, 3, 5, 17, 1000, 1024, 4096):
        n = 200
        steps = torch.rand(n, M, generator=gen, dtype=F64)
        steps[torch.rand(n, M, generator=gen) < 0.3] = 0.0  # ties
        log_f = torch.cumsum(steps, 1)
        log_f[:, 0] = -1e30
        table = torch.stack([log_f, torch.zeros_like(log_f)], 2)
        values = torch.rand(n, generator=gen, dtype=F64) * (1.2 * log_f[:, -1] + 1.0) - 0.5
        on_node = torch.rand(n, generator=gen) < 0.3
        values = torch.where(on_node, log_f[torch.arange(n), torch.randint(0, M, (n,), generator=gen)], values)
        values[:3] = torch.tensor([math.nan, -1e31, 1e300], dtype=F64)
        rows = torch.randperm(n, generator=gen)[:40]
        for search in (_two_level_search, _binary_search):
            assert torch.equal(search(table, values), bisection(table, values)), (search.__name__, M)
            assert torch.equal(search(table, values[rows], rows), bisection(table, values[rows], rows)), M


def test_coding_labor_cached_lookups_equal_fresh_ones():
    """A call site's cached intervals (``slot``) give exactly the numbers of a fresh lookup
    (``slot=None``), whether the inputs creep (as between solver stages) or jump anywhere."""
    n = 16
    gen = torch.Generator().manual_seed(3)

    def uniform(lo, hi, size=n):
        return lo + (hi - lo) * torch.rand(size, generator=gen, dtype=F64)

    asymptote = uniform(1.02, 1.2)
    k, x0 = aut.logistic_from_anchors(uniform(20.0, 23.0), uniform(0.1, 0.5), uniform(27.0, 33.0), 1.0, asymptote)
    fr = build_frontier(k, x0, asymptote, uniform(-3.0, -0.5), uniform(1.0, 2.5), uniform(0.01, 0.2),
                        uniform(1e-12, 1e-8), 256)
    lh, lc = uniform(7.0, 9.0), uniform(11.0, 14.0)
    p = uniform(20.0, 22.0)
    interior_calls = 0
    for step in range(300):
        if step % 10 == 9:  # a jump, up or down: every interval moves
            p, lc = uniform(15.0, 40.0), uniform(8.0, 16.0)
        else:  # a creep: some intervals move by a node or two
            p, lc = p + uniform(0.0, 0.05), lc + 0.02
        args = (lh + uniform(-0.01, 0.01), lc, LN10 * p)
        with torch.no_grad():  # (with gradients the pure path is taken)
            cached = fr.log_labor(*args, slot="stage")
        assert torch.equal(cached, fr.log_labor(*args, slot=None)), step
        interior_calls += int((fr._caches["stage"]["cut"].node > 1).sum())
    assert interior_calls > 0  # the interior branch was exercised


# -- calibration -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def golden_rows():
    frame = pd.read_csv(GOLDEN / "sampled_runs_shared.csv")
    return frame.iloc[::5].reset_index(drop=True)  # 60 of the 300 sampled parameter sets


def test_calibration_matches_the_calculator(golden_rows):
    params, _ = load_scenario("aifm_eli").model_parameters.from_rows(golden_rows, load_name_map())
    model = calibrate(params, schedule_from_params(params))
    for ours, column in ((model.r, "calib_r_software"), (model.rho_x, "calib_rho_experiment_capacity"),
                         (model.alpha_x, "calib_alpha_experiment_capacity"),
                         (model.zeta_x, "calib_experiment_compute_exponent"), (model.p_ac, "progress_at_ac")):
        np.testing.assert_allclose(ours.detach().numpy(), golden_rows[column].to_numpy(), rtol=1e-6, err_msg=column)
    # the solved present-day automation reproduces the present-day coding-labour multiplier
    solved = model.automation_solved
    assert int(solved.sum()) >= 58  # measured: 58 of the 60
    now = model.log_inputs_now
    ratio = model.frontier.log_labor(now[:, 0], now[:, 1], LN10 * model.p_now_human) - now[:, 0]
    target = torch.log(params["software_rnd.present_coding_labor_multiplier"])
    np.testing.assert_allclose(ratio[solved].detach().numpy(), target[solved].detach().numpy(), atol=1e-7)


def test_jones_law_with_constant_effort():
    """With constant research effort RE, RS = RS0 + RE·t and software efficiency grows as
    (r/ln10)·ln(1 + RE·t/RS0): the integrator and the progress invariant reproduce it."""
    params = load_scenario("aifm_eli").central()
    model = calibrate(params, schedule_from_params(params))
    effort = 3.0
    model.log_research_effort = lambda log_inputs, progress: (torch.full_like(progress, math.log(effort)),) * 4
    (p, rs), _ = rk4_integrate(model, model.t0, model.t0 + 20.0, 0.05)
    rs0, r = model.rs0, model.r
    assert float(rs) == pytest.approx(float(rs0 + effort * 20.0), rel=1e-12)
    software = r / LN10 * torch.log1p(effort * 20.0 / rs0)
    training = model.schedule.training_growth_integral(model.t0, model.t0 + 20.0)
    assert float(p) == pytest.approx(float(software + training), rel=1e-12)


def test_spin_up_state_matches_a_run_from_the_series_start():
    """Starting later than the input series reproduces the state of a whole simulation from 2012 (the
    calculator calibrates from 2012; performance_facts.md). The reference is ``simulate`` itself (the
    world's solver, monthly steps), not the spin-up's own integrator (0.25-yr RK4 steps)."""
    from sim.simulate import simulate
    from sim.updaters.software_rnd import SoftwareRAndD

    base = load_scenario("aifm_eli").central()
    early = base.with_values(simulation__start_year=2012.0)
    traj = simulate(early, "aifm_eli", t_grid=torch.tensor([2012.0, 2024.0], dtype=torch.float64))
    late = SoftwareRAndD()
    late.prepare(base, 2024.0)
    # measured: 3.0e-7 relative (O(h^4) difference of the two step sizes)
    assert float(late.initial_research_stock[0, 0]) == pytest.approx(float(traj.series["research_stock"][0, -1]),
                                                                     rel=3e-6)


def test_parameter_rows_accept_calculator_names():
    frame = pd.read_csv(GOLDEN / "sampled_runs_shared.csv").head(3)
    params, ignored = load_scenario("aifm_eli").model_parameters.from_rows(frame, load_name_map())
    assert isinstance(params, SimulationParameters)
    assert "year_AC" in ignored and "automation_interp_type" in ignored
    assert params["software_rnd.include_gap"].tolist() == [1.0 if x == "gap" else 0.0 for x in frame.include_gap]
    assert params["compute.slowdown_year"].tolist() == frame.slowdown_year.tolist()

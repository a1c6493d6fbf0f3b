"""The compute supply chain: closed forms of its equations, conservation, the integrated module,
gradients, and its reach into software R&D and the economy."""

from __future__ import annotations

import math

import pytest
import torch

from sim.ces import log_soft_min
from sim.parameters import load_scenario
from sim.simulate import simulate
from sim.solver import rk4_step
from sim.updaters.supply_chain import equations as eq


def T(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def _integrate(rates, y0: torch.Tensor, t1: float, h: float = 0.01) -> torch.Tensor:
    """RK4 (the project's one RK4) of dy/dt = rates(y) from 0 to t1."""

    class System:
        def __call__(self, t, y):
            return rates(y)

    y, t = y0, torch.zeros(y0.shape[0], dtype=torch.float64)
    step = torch.full_like(t, h)
    for _ in range(round(t1 / h)):
        y = rk4_step(System(), t, y, step)
        t = t + step
    return y


def test_attrition_without_production_is_the_survival_of_one_cohort():
    """F = 0: C(t) = C0 exp(−h0 t − h1 (a0 t + t²/2)) and a(t) = a0 + t (policy_and_risk_facts.md 1.5 check 1)."""
    h0, h1, a0, c0 = T(0.01), T(0.0035), T(1.5), T(1000.0)

    def rates(y):
        c, z, w = y[:, 0], y[:, 1], y[:, 2]
        dc, dz, dw = eq.stock_rates(c, z, w, torch.zeros_like(c), torch.ones_like(c), h0, h1)
        return torch.stack([dc, dz, dw], 1)

    y = _integrate(rates, torch.stack([c0, a0 * c0, c0 * 1.7e-6], 1), 10.0)
    expected = c0 * eq.survival(T(10.0), a0, h0, h1)
    assert float(expected) == pytest.approx(1000.0 * math.exp(-0.1 - 0.0035 * (15.0 + 50.0)), rel=1e-14)
    # measured: 2e-16 relative (RK4 at h = 0.01 on a smooth decay)
    assert float(y[0, 0]) == pytest.approx(float(expected), rel=1e-12)
    assert float(y[0, 1] / y[0, 0]) == pytest.approx(11.5, rel=1e-12)  # mean age a0 + t
    assert float(y[0, 2] / y[0, 0]) == pytest.approx(1.7e-6, rel=1e-12)  # power per chip unchanged


def test_production_without_attrition_grows_exponentially():
    """h0 = h1 = 0 and F = C ln g: C(t) = C0 g^t (check 2); the mean age tends to 1/ln g."""
    g = 2.4

    def rates(y):
        c, z, w = y[:, 0], y[:, 1], y[:, 2]
        dc, dz, dw = eq.stock_rates(c, z, w, c * math.log(g), torch.ones_like(c), T(0.0), T(0.0))
        return torch.stack([dc, dz, dw], 1)

    y = _integrate(rates, T([[100.0, 100.0, 1e-4]]).reshape(1, 3), 5.0)
    assert float(y[0, 0]) == pytest.approx(100.0 * g**5, rel=1e-9)  # measured 3e-11
    # a(t) = 1/ln g + (a0 − 1/ln g) g^−t (da/dt = 1 − a ln g)
    age = 1 / math.log(g) + (1.0 - 1 / math.log(g)) * g**-5
    assert float(y[0, 1] / y[0, 0]) == pytest.approx(age, rel=1e-9)


def test_operating_compute_never_exceeds_its_inputs_and_is_monotone_in_power():
    s = T(20.0)
    stock = T(1e6).log().expand(200)
    power = torch.linspace(math.log(0.1), math.log(100.0), 200, dtype=torch.float64)
    log_op, log_powered = eq.log_operating_compute(stock, torch.full_like(stock, math.log(1e3)), power,
                                                   torch.full_like(stock, math.log(1.7)), s)
    runnable = log_powered + math.log(1e6) - math.log(1.7)
    assert bool((log_op <= stock + 1e-15).all()) and bool((log_op <= runnable + 1e-15).all())
    assert bool((log_powered <= power + 1e-15).all())
    assert bool((torch.diff(log_op) >= 0).all())  # monotone in power
    assert bool((torch.diff(log_op[:60]) > 1e-3).all())  # strictly, where power binds
    # power does not bind (10x slack): equal to the chips within e^{-s ln 10}/s = 5e-22
    free, _ = eq.log_operating_compute(T(math.log(1e6)), T(math.log(1e3)), T(math.log(1e3)), T(math.log(0.17)), s)
    assert float(free.exp()) == pytest.approx(1e6, rel=1e-15)
    # the soft minimum: never above min, at most ln 2 / s below it
    u, v = torch.randn(1000, dtype=torch.float64), torch.randn(1000, dtype=torch.float64)
    m = log_soft_min(u, v, s)
    assert bool((m <= torch.minimum(u, v) + 1e-15).all()) and bool((m >= torch.minimum(u, v) - math.log(2) / 20 - 1e-12).all())


def test_allocation_conserves_chips_and_follows_access():
    production = T(100.0, 30.0, 500.0).reshape(1, 3)
    spending = T(6.0, 1.2, 2.8).reshape(1, 3)
    exports = T(1.0, 0.0, 1.0).reshape(1, 3)
    full, restricted = T(1.0, 1.0, 1.0).reshape(1, 3), T(1.0, 0.3, 1.0).reshape(1, 3)
    a, b = eq.allocate(production, exports, spending, full), eq.allocate(production, exports, spending, restricted)
    assert float(a.sum()) == pytest.approx(630.0, rel=1e-15) and float(b.sum()) == pytest.approx(630.0, rel=1e-15)
    # the market (600) by spending; the PRC's own fabs (30) stay at home
    assert float(a[0, 1]) == pytest.approx(30.0 + 600.0 * 1.2 / 10.0, rel=1e-14)
    assert float(b[0, 1]) == pytest.approx(30.0 + 600.0 * 0.36 / 9.16, rel=1e-14)
    assert float(b[0, 0]) > float(a[0, 0])  # what the restricted buyer cannot buy, the others buy


def test_pipeline_without_starts_completes_its_contents_and_stops():
    """Starts = 0: capacity grows by the Erlang closed form of what was in the pipeline, then stops."""
    k, lead = 4, T(2.0)
    pipeline0 = T(10.0, 20.0, 30.0, 40.0).reshape(1, 1, k)

    def rates(y):
        d_pipe, done = eq.pipeline_rates(y[:, None, :k], torch.zeros(1, 1, dtype=torch.float64), lead.reshape(1, 1))
        return torch.cat([d_pipe[:, 0], done], 1)

    y0 = torch.cat([pipeline0[:, 0], T(5.0).reshape(1, 1)], 1)
    for years in (0.5, 2.0, 5.0):
        y = _integrate(rates, y0, years)
        closed = 5.0 + eq.pipeline_completed(pipeline0, T(years).reshape(1, 1), lead.reshape(1, 1))
        assert float(y[0, k]) == pytest.approx(float(closed), rel=1e-10)  # measured 1e-13
        assert float(y.sum()) == pytest.approx(105.0, rel=1e-12)  # capacity + pipeline conserved
    late = _integrate(rates, y0, 3 * 2.0)
    # after three lead times less than 0.3% of the pipeline is left to complete (Erlang-4 tail at x = 12)
    assert 105.0 - float(late[0, k]) < 0.003 * 100.0
    assert float(eq.pipeline_completed(pipeline0, T(1e3).reshape(1, 1), lead.reshape(1, 1))) == pytest.approx(100.0)


def test_steady_pipeline_completes_what_it_starts():
    starts, lead = T(3.0).reshape(1, 1), T(1.5).reshape(1, 1)
    d_pipe, done = eq.pipeline_rates(eq.steady_pipeline(starts, lead, 4), starts, lead)
    assert float(done) == pytest.approx(3.0, rel=1e-15)
    assert float(d_pipe.abs().max()) < 1e-14


def test_semi_endogenous_growth_reaches_its_steady_rate_and_its_ceiling():
    # R grows at g_R: long-run growth r·λ·g_R
    g0, r, lam, g_r = T(0.3), T(5.2), T(0.7), 0.05
    log_a = torch.zeros(1, dtype=torch.float64)
    t, h = 0.0, 0.05
    for _ in range(round(400 / h)):
        log_a = log_a + h * eq.semi_endogenous_growth(g0, T(g_r * t), log_a, r, lam, T(1e3))
        t += h
    rate = eq.semi_endogenous_growth(g0, T(g_r * t), log_a, r, lam, T(1e3))
    assert float(rate) == pytest.approx(5.2 * 0.7 * 0.05, rel=2e-2)  # the approach is slow (~1/t)
    # a ceiling two OOMs up is never passed
    assert float(eq.semi_endogenous_growth(g0, T(0.0), T(2 * math.log(10) - 1e-9), r, lam,
                                           T(2 * math.log(10)))) < 1e-9


@pytest.fixture(scope="module")
def small_run():
    scenario = load_scenario("baseline")
    params = scenario.sample(6, seed=11).with_values(simulation__end_year=torch.full((6,), 2036.0,
                                                                                      dtype=torch.float64))
    return scenario, params, simulate(params, scenario)


def test_baseline_uses_the_supply_chain_and_shares_add_up(small_run):
    _, params, traj = small_run
    assert params.scalar("compute.supply_chain") == 1
    share = traj.actor_series["share_of_world_compute"]
    assert torch.allclose(share.sum(1), torch.ones_like(share.sum(1)), rtol=1e-12)
    op, stock = traj.actor_series["operating_compute_h100e"], traj.actor_series["compute_stock_h100e"]
    assert bool((op <= stock * (1 + 1e-12)).all())
    world = traj.series["world_compute_h100e"]
    assert torch.allclose(op.sum(1), world, rtol=1e-12)


def test_batched_run_equals_one_by_one(small_run):
    scenario, params, traj = small_run
    for i in (0, 4):
        one = simulate(params.select(torch.tensor([i])), scenario)
        for name in ("world_compute_h100e", "training_compute_ooms", "progress_ooms"):
            assert torch.allclose(one.series[name][0], traj.series[name][i], rtol=1e-10, equal_nan=True), name
        assert torch.allclose(one.actor_series["compute_stock_h100e"][0], traj.actor_series["compute_stock_h100e"][i],
                              rtol=1e-10)


def test_two_samples_differing_in_software_rnd_get_different_automation_paths_in_the_economy():
    scenario = load_scenario("baseline")
    base = scenario.central()
    from sim.parameters import SimulationParameters

    params = SimulationParameters.concat([base, base.with_values(
        software_rnd__present_doubling_time=base["software_rnd.present_doubling_time"] * 0.6)])
    params = params.with_values(simulation__end_year=torch.full((2,), 2034.0, dtype=torch.float64))
    traj = simulate(params, scenario)
    automation = traj.series["ai_task_automation"]
    assert float((automation[0] - automation[1]).abs().max()) > 1e-3


def _final_us_compute(params, scenario) -> torch.Tensor:
    traj = simulate(params, scenario, t_grid=torch.tensor([2024.0, 2027.0], dtype=torch.float64))
    return traj.actor_series["compute_stock_h100e"][:, 0, -1]


def test_gradient_of_final_us_compute_in_spending_growth_matches_finite_differences():
    scenario = load_scenario("baseline")
    params = scenario.central()
    name = "supply_chain.spending_growth_before_wake_up"
    x0 = params[name].detach().clone()
    with_grad = params.with_values().enable_grad([name])
    value = _final_us_compute(with_grad, scenario)
    (grad,) = torch.autograd.grad(value.sum(), with_grad[name])
    eps = 1e-5
    with torch.no_grad():
        up = _final_us_compute(params.with_values(**{name.replace(".", "__"): x0 + eps}), scenario)
        down = _final_us_compute(params.with_values(**{name.replace(".", "__"): x0 - eps}), scenario)
    fd = (up - down) / (2 * eps)
    assert torch.isfinite(grad).all()
    assert float(grad) == pytest.approx(float(fd), rel=2e-9)  # measured 1.8e-10


def test_gradient_of_the_ac_year_in_hardware_growth_matches_finite_differences():
    """d(AC year)/d(hardware R&D growth at the start): hardware reaches AI progress through compute."""
    scenario = load_scenario("baseline")
    params = scenario.central().with_values(simulation__end_year=2040.0)
    name = "supply_chain.hardware_growth_start"
    with_grad = params.with_values().enable_grad([name])
    (grad,) = torch.autograd.grad(simulate(with_grad, scenario).milestones["AC"].sum(), with_grad[name])
    eps, x0 = 1e-4, params[name].detach()
    with torch.no_grad():
        up = simulate(params.with_values(supply_chain__hardware_growth_start=x0 + eps), scenario).milestones["AC"]
        down = simulate(params.with_values(supply_chain__hardware_growth_start=x0 - eps), scenario).milestones["AC"]
    fd = (up - down) / (2 * eps)
    assert float(grad) < 0  # faster hardware, earlier AC
    assert float(grad) == pytest.approx(float(fd), rel=2e-3)  # measured 1.8e-4 (-6.7818 vs -6.7831 yr per 1/yr)


def test_gradients_through_the_economy_are_finite():
    """ln w of the economy's CES weights at w = 0 once gave NaN gradients to every AI parameter (∞ · 0)."""
    scenario = load_scenario("baseline")
    params = scenario.central().with_values(simulation__end_year=2030.0)
    names = ["software_rnd.present_doubling_time", "economy.savings_rate"]
    with_grad = params.with_values().enable_grad(names)
    traj = simulate(with_grad, scenario, t_grid=torch.tensor([2024.0, 2030.0], dtype=torch.float64))
    grads = torch.autograd.grad(traj.series["log_gdp"][:, -1].sum(), [with_grad[n] for n in names])
    assert all(bool(torch.isfinite(g).all()) for g in grads)
    assert float(grads[0]) < 0  # a shorter doubling time, more automation by 2030, more output

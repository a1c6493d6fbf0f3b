"""The batched RK4 driver: analytic solutions, per-sample events, divergence flags, batching."""

import math
from dataclasses import replace

import torch

from sim.parameters import load_scenario
from sim.solver import DIVERGED, OK, SINGULARITY, integrate_rk4
from sim.updaters import Combined, Event, StateUpdater
from sim.world import StateDerivative

T = torch.float64


def project(world):
    return world.ai_projects["leading"]


def set_stock(world, value):
    world.ai_projects["leading"] = replace(project(world), research_stock=value)
    return world


class Exponential(StateUpdater):
    """dS/dt = g S, S(0) = 1, with a per-sample event halving S when it reaches 2."""

    def __init__(self, g, halve=False):
        super().__init__()
        self.g, self.halve = g, halve

    def initialize(self, t0, world):
        return set_stock(world, torch.ones_like(t0))

    def contribute_state_derivatives(self, t, world):
        d = StateDerivative.zeros_like(world)
        d.world.ai_projects["leading"].research_stock = self.g * project(world).research_stock
        return d

    def events(self):
        if not self.halve:
            return []
        return [Event("halve", lambda t, w: project(w).research_stock - 2.0,
                      lambda t, w, mask: set_stock(w, torch.where(mask, project(w).research_stock / 2,
                                                                  project(w).research_stock)))]


class Hyperbolic(StateUpdater):
    """dS/dt = S^2 (blow-up at t0 + 1/S0), with divergence indicator g = dS/dt / S = S."""

    def initialize(self, t0, world):
        return set_stock(world, torch.tensor([0.1, 0.2, 0.05], dtype=T))

    def contribute_state_derivatives(self, t, world):
        d = StateDerivative.zeros_like(world)
        d.world.ai_projects["leading"].research_stock = project(world).research_stock ** 2
        return d

    def divergence_rate(self, t, world):
        return project(world).research_stock


def run(updater, B, years, step=1 / 48, cap=math.inf):
    params = load_scenario("baseline").sample(B, 0)
    system = Combined([updater])
    world0 = system.prepare(params, float(years[0]))
    out = []
    result = integrate_rk4(system, world0.to_state_tensor(), years, step, lambda k, t, y: out.append(y), rate_cap=cap)
    column = world0.state_names().index("ai_projects.leading.research_stock")
    return torch.stack([y[:, column] for y in out], 1), result


def test_exponential_growth_matches_closed_form():
    g = torch.tensor([0.1, 0.3, 0.7], dtype=T)
    years = torch.arange(0.0, 10.01, 0.5, dtype=T)
    stock, result = run(Exponential(g), 3, years)
    exact = torch.exp(g[:, None] * (years - years[0])[None, :])
    assert torch.allclose(stock, exact, rtol=1e-8)
    assert torch.all(result.status == OK)


def test_per_sample_events_fire_at_interpolated_crossings():
    g = torch.tensor([0.1, 0.3, 0.7], dtype=T)
    years = torch.arange(0.0, 10.01, 1.0, dtype=T)
    stock, result = run(Exponential(g, halve=True), 3, years, step=1 / 12)
    crossing = math.log(2) / g
    assert torch.allclose(result.event_times["halve"], crossing, atol=2e-3)
    # after the halving S(t) = exp(g t) / 2 exactly
    assert torch.allclose(stock[:, -1], torch.exp(g * 10) / 2, rtol=1e-3)


def test_batched_equals_one_by_one():
    g = torch.tensor([0.2, 0.5, 0.9, 0.05], dtype=T)
    years = torch.arange(0.0, 6.01, 0.25, dtype=T)
    together, res = run(Exponential(g, halve=True), 4, years, step=1 / 24)
    for i in range(4):
        alone, res_i = run(Exponential(g[i : i + 1], halve=True), 1, years, step=1 / 24)
        assert torch.allclose(together[i], alone[0], rtol=1e-12)
        assert torch.allclose(res.event_times["halve"][i], res_i.event_times["halve"][0], equal_nan=True)


def test_finite_time_singularity_is_flagged_with_its_year():
    years = torch.arange(0.0, 30.01, 0.5, dtype=T)
    stock, result = run(Hyperbolic(), 3, years, step=1 / 200, cap=50.0)
    blowup = 1 / torch.tensor([0.1, 0.2, 0.05], dtype=T)
    assert torch.all(result.status == SINGULARITY)
    # measured error 6.1e-6 yr; without the 1/g extrapolation the flag (g > cap = 50) comes 1/50 = 0.02 yr early
    assert torch.allclose(result.status_year, blowup, rtol=0, atol=6e-5)
    assert torch.isfinite(stock).all()  # frozen, not NaN


class Exploding(StateUpdater):
    """Sample 1 hits a non-finite state; the others must be unaffected."""

    def initialize(self, t0, world):
        return set_stock(world, torch.ones_like(t0))

    def contribute_state_derivatives(self, t, world):
        d = StateDerivative.zeros_like(world)
        s = project(world).research_stock
        bad = torch.tensor([False, True, False]) & (t > 1.0)
        rate = torch.where(bad, torch.full_like(s, float("inf")), 0.1 * s)
        d.world.ai_projects["leading"].research_stock = rate
        return d


def test_non_finite_sample_is_flagged_and_does_not_poison_batch():
    years = torch.arange(0.0, 3.01, 0.5, dtype=T)
    stock, result = run(Exploding(), 3, years)
    assert result.status.tolist() == [OK, DIVERGED, OK]
    assert 1.0 <= result.status_year[1] <= 1.1
    assert torch.allclose(stock[[0, 2], -1], torch.full((2,), math.exp(0.3), dtype=T), rtol=1e-8)


def test_sharded_parallel_run_equals_one_batch():
    """``simulate(workers=k)`` splits the batch over threads; every number must be the same."""
    from sim import load_scenario, simulate

    scenario = load_scenario("baseline")
    params = scenario.sample(5, seed=3).with_values(simulation__end_year=2032.0)
    one = simulate(params, scenario, workers=1)
    sharded = simulate(params, scenario, workers=3)
    for group in ("series", "milestones", "run_metrics"):
        a, b = getattr(one, group), getattr(sharded, group)
        assert a.keys() == b.keys()
        for name in a:
            assert torch.equal(a[name].nan_to_num(-1.0), b[name].nan_to_num(-1.0)), (group, name)
    assert torch.equal(one.status_code, sharded.status_code) and one.classes == sharded.classes


def test_milestones_and_classes_survive_a_narrow_record_list():
    """``record`` limits the stored series, but every run still gets its milestones and takeoff class."""
    from sim import load_scenario, simulate

    scenario = load_scenario("baseline")
    params = scenario.sample(2, seed=1).with_values(simulation__end_year=2034.0)
    traj = simulate(params, scenario, record=["progress_ooms"])
    assert {"AC", "SAR", "ASI"} <= set(traj.milestones)
    assert set(traj.classes) == {"growth", "labor_share", "wages"} and len(traj.classes["growth"]) == 2
    assert "progress_ooms" in traj.series


class LogHyperbolic(StateUpdater):
    """x = ln S with dx/dt = S = e^x: S blows up at t0 + 1/S0. The divergence indicator is dx/dt
    itself, declared through ``growth_rate_fields`` (read off the solver's first stage)."""

    growth_rate_fields = ("ai_projects.leading.research_stock",)

    def initialize(self, t0, world):
        return set_stock(world, torch.log(torch.tensor([0.1, 0.2, 0.05], dtype=T)))

    def contribute_state_derivatives(self, t, world):
        d = StateDerivative.zeros_like(world)
        d.world.ai_projects["leading"].research_stock = torch.exp(project(world).research_stock)
        return d


def test_singularity_flagged_from_growth_rate_fields():
    years = torch.arange(0.0, 30.01, 0.5, dtype=T)
    log_stock, result = run(LogHyperbolic(), 3, years, step=1 / 200, cap=50.0)
    assert torch.all(result.status == SINGULARITY)
    # measured error 1.3e-7 yr; the flag alone (growth above the cap of 50/yr) would be 0.02 yr early
    assert torch.allclose(result.status_year, 1 / torch.tensor([0.1, 0.2, 0.05], dtype=T), rtol=0, atol=2e-6)
    assert torch.isfinite(log_stock).all()


def test_unknown_growth_rate_field_is_a_clear_error():
    class Wrong(LogHyperbolic):
        growth_rate_fields = ("economy.no_such_field",)

    years = torch.arange(0.0, 1.01, 0.5, dtype=T)
    try:
        run(Wrong(), 3, years, cap=50.0)
    except ValueError as err:
        assert "economy.no_such_field" in str(err)
    else:
        raise AssertionError("an unknown growth_rate_fields entry must raise")


def _prepared_system(n=6, seed=4):
    from sim.updaters import available_updaters

    params = load_scenario("baseline").sample(n, seed=seed)
    system = Combined(available_updaters(params))
    world0 = system.prepare(params, 2024.0)
    return system, world0


def test_fused_metrics_and_derivative_equal_the_separate_paths():
    """At output times the solver takes metrics and d(state)/dt from one pass; both must be exactly
    what ``compute_metrics`` and ``forward`` give, late in a take-off too."""
    system, world0 = _prepared_system()
    with torch.no_grad():
        y = world0.to_state_tensor()
        t = torch.full((y.shape[0],), 2024.0, dtype=T)
        for _ in range(12 * 8):  # to 2032, past most samples' AC
            y = y + (1 / 12) * system(t, y)
            t = t + 1 / 12
        fused_world, fused_dy = system.metrics_and_derivative(t, y)
        assert torch.equal(fused_dy, system(t, y))
        separate = system.compute_metrics(t, system.state_world(t, y))
        for path, value in separate.metric_items():
            assert torch.equal(fused_world.get(path).nan_to_num(-1.0), value.nan_to_num(-1.0)), path


def test_derivatives_read_progress_on_its_invariant():
    """P is redundant state (P = P(RS, t)); a drifted P column must not reach the economy."""
    system, world0 = _prepared_system()
    with torch.no_grad():
        y = world0.to_state_tensor()
        t = torch.full((y.shape[0],), 2024.0, dtype=T)
        column = system.state_paths.index("ai_projects.leading.progress_ooms")
        drifted = y.clone()
        drifted[:, column] += 1e6
        assert torch.equal(system(t, drifted), system(t, y))
        assert torch.allclose(system.state_world(t, drifted).ai_projects["leading"].progress_ooms, y[:, column],
                              rtol=1e-9, atol=1e-9)


def test_step_coarser_than_outputs_uses_dense_output():
    """Quarterly steps, monthly outputs: the outputs inside a step come from its Hermite interpolant,
    in order, and match the closed form to the step's own order of accuracy."""
    g = torch.tensor([0.1, 0.3, 0.7], dtype=T)
    years = torch.arange(0.0, 5.0 + 1e-9, 1 / 12, dtype=T)
    params = load_scenario("baseline").sample(3, 0)
    system = Combined([Exponential(g)])
    world0 = system.prepare(params, 0.0)
    seen, out = [], []
    result = integrate_rk4(system, world0.to_state_tensor(), years, 0.25,
                           lambda k, t, y: (seen.append(k), out.append(y)))
    assert seen == list(range(len(years)))  # every output, in order
    assert result.steps == 20  # 5 years of quarterly steps, not 60 monthly ones
    column = world0.state_names().index("ai_projects.leading.research_stock")
    stock = torch.stack([y[:, column] for y in out], 1)
    exact = torch.exp(g[:, None] * years[None, :])
    assert torch.allclose(stock, exact, rtol=1e-4)  # RK4 at g·h = 0.175: ~2.5e-5 after 20 steps
    assert not torch.allclose(stock, exact, rtol=1e-12)  # interpolated, not exact: the test can fail


def test_compiled_right_hand_side_matches_eager():
    """``simulate(compiled=True)`` runs the right-hand side and the metric pass under torch.compile
    (stateless model paths, no graph breaks); every number must equal the eager run to rounding."""
    import shutil

    import pytest

    from sim import load_scenario, simulate

    if not (shutil.which("g++") or shutil.which("c++")):
        pytest.skip("torch.compile's CPU backend needs a C++ compiler (g++ or c++) on PATH")

    scenario = load_scenario("baseline")
    params = scenario.sample(4, seed=11).with_values(simulation__end_year=2030.0)
    eager = simulate(params, scenario)
    compiled = simulate(params, scenario, compiled=True)
    assert eager.series.keys() == compiled.series.keys()
    for name, value in eager.series.items():
        other = compiled.series[name]
        assert torch.equal(value.isnan(), other.isnan()), name
        assert torch.allclose(value.nan_to_num(0.0), other.nan_to_num(0.0), rtol=1e-8, atol=1e-12), name
    for name, value in eager.milestones.items():
        assert torch.allclose(value, compiled.milestones[name], atol=1e-8, equal_nan=True), name
    assert eager.classes == compiled.classes and torch.equal(eager.status_code, compiled.status_code)


def test_compiled_refuses_gradients():
    from sim import load_scenario, simulate

    scenario = load_scenario("baseline")
    params = scenario.central().enable_grad(["software_rnd.present_doubling_time"])
    try:
        simulate(params, scenario, compiled=True)
    except ValueError as err:
        assert "gradients" in str(err)
    else:
        raise AssertionError("compiled=True with gradients must raise")

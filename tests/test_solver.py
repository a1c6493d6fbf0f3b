"""The batched RK4 driver: analytic solutions, per-sample events, divergence flags, batching."""

import math

import pytest
import torch

from sim.parameters import Actors, SimulationParameters, load_scenario
from sim.solver import DIVERGED, OK, SINGULARITY, integrate_rk4
from sim.updaters import Combined, Event, StateUpdater
from sim.world import replace

T = torch.float64
STOCK = "ai_projects.research_stock"
#: a toy world of two "projects": column 0 holds a stock S, column 1 a discrete phase (zero derivative)
TOY = Actors(nations=("n",), projects=("stock", "phase"), owners=("n", "n"), reference="stock")


def stock(world):
    return world.ai_projects.research_stock[:, 0]


def phase(world):
    return world.ai_projects.research_stock[:, 1]


def set_columns(world, s=None, ph=None):
    rs = world.ai_projects.research_stock
    s = rs[:, 0] if s is None else s
    ph = rs[:, 1] if ph is None else ph
    return replace(world, ai_projects=replace(world.ai_projects, research_stock=torch.stack([s, ph], 1)))


def set_stock(world, value):
    return set_columns(world, s=value, ph=torch.zeros_like(value))


class Exponential(StateUpdater):
    """dS/dt = g S, S(0) = 1, with an optional per-sample event halving S when it reaches 2."""

    def __init__(self, g, halve=False, repeat=False):
        super().__init__()
        self.g, self.halve, self.repeat = g, halve, repeat

    def initialize(self, t0, world):
        return set_stock(world, torch.ones_like(t0))

    def contribute_state_derivatives(self, t, world):
        return {STOCK: torch.stack([self.g * stock(world), torch.zeros_like(t)], 1)}

    def events(self):
        if not self.halve:
            return []
        return [Event("halve", lambda t, w: stock(w) - 2.0,
                      lambda t, w, mask: set_columns(w, s=torch.where(mask, stock(w) / 2, stock(w))),
                      repeat=self.repeat)]


class Hyperbolic(StateUpdater):
    """dS/dt = S^2 (blow-up at t0 + 1/S0), with divergence indicator g = dS/dt / S = S."""

    def initialize(self, t0, world):
        return set_stock(world, torch.tensor([0.1, 0.2, 0.05], dtype=T))

    def contribute_state_derivatives(self, t, world):
        return {STOCK: torch.stack([stock(world) ** 2, torch.zeros_like(t)], 1)}

    def divergence_rate(self, t, world):
        return stock(world)


def toy_params(B):
    return SimulationParameters({"toy.x": torch.zeros(B, dtype=T)}, TOY)


def run(updater, B, years, step=1 / 48, cap=math.inf, with_result_log=False):
    system = Combined([updater])
    world0 = system.prepare(toy_params(B), float(years[0]))
    out = []
    result = integrate_rk4(system, system.state_of(world0), years, step, lambda k, t, y: out.append(y), rate_cap=cap)
    column = system.layout.columns(STOCK).start
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
    s, result = run(Exponential(g, halve=True), 3, years, step=1 / 12)
    crossing = math.log(2) / g
    # linear interpolation of S over a step of g·h <= 0.06: measured error 1.5e-4 yr
    assert torch.allclose(result.event_times["halve"], crossing, atol=2e-3)
    # the state just after the event is its rule applied to the state just before: S/2, so that
    # S(t) = exp(g t) / 2 afterwards (measured relative error 1e-9 at t = 10: RK4 and the crossing)
    assert torch.allclose(s[:, -1], torch.exp(g * 10) / 2, rtol=1e-6)
    # fired once per sample (not repeatable), logged with its sample and year
    assert [r[:2] for r in result.event_log] == [(0, "halve"), (1, "halve"), (2, "halve")]


def test_repeatable_event_fires_each_time_its_trigger_returns_from_below():
    """S doubles every ln2/g years and is halved at 2: a repeatable event fires at k·ln2/g."""
    g = torch.tensor([0.5, 0.9], dtype=T)
    years = torch.arange(0.0, 10.01, 0.5, dtype=T)
    _, result = run(Exponential(g, halve=True, repeat=True), 2, years, step=1 / 12)
    for b in range(2):
        times = torch.tensor([r[3] for r in result.event_log if r[0] == b], dtype=T)
        k = torch.arange(1, len(times) + 1, dtype=T)
        assert len(times) == int(10 * g[b] / math.log(2))  # 7 and 12 firings by year 10
        assert torch.allclose(times, k * math.log(2) / g[b], atol=2e-3)
    _, once = run(Exponential(g, halve=True, repeat=False), 2, years, step=1 / 12)
    assert len(once.event_log) == 2


class Seasonal(Exponential):
    """A repeatable event on a curved trigger, sin(2π(t − 0.3)): it crosses upwards once a year."""

    def events(self):
        return [Event("season", lambda t, w: torch.sin(2 * math.pi * (t - 0.3)), lambda t, w, mask: w, repeat=True)]


def test_repeatable_event_on_a_curved_trigger_fires_once_per_crossing():
    """Right after a linearly located crossing a curved trigger can still read below zero; that must
    not re-arm the event within the same step (it fired 16 times at one crossing before)."""
    years = torch.arange(0.0, 5.0 + 1e-9, 0.5, dtype=T)
    _, result = run(Seasonal(torch.tensor([0.1, 0.2], dtype=T)), 2, years, step=1 / 12)
    for b in range(2):
        times = torch.tensor([r[3] for r in result.event_log if r[0] == b], dtype=T)
        assert len(times) == 5
        # linear location of the crossing inside a 1/12-yr step: measured within 3e-4 yr
        assert torch.allclose(times, torch.arange(5, dtype=T) + 0.3, atol=3e-3)


class Marked(Exponential):
    """A marker event (``apply = None``) at S = 2: recorded, changes nothing."""

    def events(self):
        return [Event("doubled", lambda t, w: stock(w) - 2.0, None)]


def test_marker_event_is_recorded_without_changing_the_run():
    g = torch.tensor([0.5, 0.9], dtype=T)
    years = torch.arange(0.0, 3.0 + 1e-9, 0.5, dtype=T)
    plain, _ = run(Exponential(g), 2, years, step=1 / 12)
    marked, result = run(Marked(g), 2, years, step=1 / 12)
    assert torch.equal(plain, marked)  # no sub-steps: the same numbers bit for bit
    times = {r[0]: r[3] for r in result.event_log}
    for b in range(2):  # S = e^{g t} = 2 at ln 2 / g, located linearly within a 1/12-yr step
        assert times[b] == pytest.approx(math.log(2) / float(g[b]), abs=2e-3)  # measured < 1e-3


class TwoThresholds(Exponential):
    """Two events on the same growing stock: at S = 2 the phase gains 1, at S = 2.05 it gains 10;
    a third event reads a *metric* (S² written by the metric pass) and gains 100 at S² = 4.41."""

    def set_metric_attributes(self, t, world):
        return replace(world, frontier=replace(world.frontier, progress_ooms=stock(world) ** 2))

    def events(self):
        def bump(amount):
            return lambda t, w, mask: set_columns(w, ph=phase(w) + amount * mask.to(T))

        return [Event("first", lambda t, w: stock(w) - 2.0, bump(1.0)),
                Event("second", lambda t, w: stock(w) - 2.05, bump(10.0)),
                Event("metric", lambda t, w: w.frontier.progress_ooms - 4.41, bump(100.0))]


def _two_threshold_run(output_step):
    g = torch.tensor([1.0, 0.1], dtype=T)  # crossings 0.0247 yr apart (one step) and 0.247 yr apart
    years = torch.arange(0.0, 8.0 + 1e-9, output_step, dtype=T)
    system = Combined([TwoThresholds(g)])
    world0 = system.prepare(toy_params(2), 0.0)
    finals = []
    result = integrate_rk4(system, system.state_of(world0), years, 1 / 12, lambda k, t, y: finals.append(y))
    return finals[-1][:, system.layout.columns(STOCK)], result  # [B, 2]: S and the phase


def test_several_events_in_one_step_fire_earliest_first():
    y, result = _two_threshold_run(1 / 12)
    log = result.event_log
    # every event applied exactly once per sample: phase = 1 + 10 + 100
    assert torch.equal(y[:, 1], torch.tensor([111.0, 111.0], dtype=T))
    for b, g in ((0, 1.0), (1, 0.1)):
        mine = [(name, year) for sample, name, _, year in log if sample == b]
        assert [name for name, _ in mine] == ["first", "second", "metric"]  # in time order
        expected = [math.log(2.0) / g, math.log(2.05) / g, math.log(2.1) / g]
        for (_, year), want in zip(mine, expected):
            assert abs(year - want) < 2e-3  # linear trigger interpolation; measured < 4e-4 yr
    # sample 0's first two crossings fall in one solver step, sample 1's in different steps
    steps = [[math.floor(12 * year) for s, _, _, year in log if s == b] for b in range(2)]
    assert steps[0][0] == steps[0][1] and steps[1][0] != steps[1][1]


def test_events_do_not_depend_on_the_output_grid():
    """Triggers are evaluated at every solver step (metrics included), so halving the output grid
    (monthly -> every two months, same 1/12-yr steps) changes neither the events nor the state."""
    y1, r1 = _two_threshold_run(1 / 12)
    y2, r2 = _two_threshold_run(1 / 6)
    assert [r[:3] for r in r1.event_log] == [r[:3] for r in r2.event_log]
    # the step times are t + h in one grid and the grid's own years in the other: they agree to rounding
    assert max(abs(a[3] - b[3]) for a, b in zip(r1.event_log, r2.event_log)) < 1e-12
    assert torch.allclose(y1, y2, rtol=1e-12, atol=0)


def test_batched_equals_one_by_one():
    g = torch.tensor([0.2, 0.5, 0.9, 0.05], dtype=T)
    years = torch.arange(0.0, 6.01, 0.25, dtype=T)
    together, res = run(Exponential(g, halve=True), 4, years, step=1 / 24)
    for i in range(4):
        alone, res_i = run(Exponential(g[i: i + 1], halve=True), 1, years, step=1 / 24)
        assert torch.allclose(together[i], alone[0], rtol=1e-12)
        assert torch.allclose(res.event_times["halve"][i], res_i.event_times["halve"][0], equal_nan=True)


def test_finite_time_singularity_is_flagged_with_its_year():
    years = torch.arange(0.0, 30.01, 0.5, dtype=T)
    s, result = run(Hyperbolic(), 3, years, step=1 / 200, cap=50.0)
    blowup = 1 / torch.tensor([0.1, 0.2, 0.05], dtype=T)
    assert torch.all(result.status == SINGULARITY)
    # measured error 6.1e-6 yr; without the 1/g extrapolation the flag (g > cap = 50) comes 1/50 = 0.02 yr early
    assert torch.allclose(result.status_year, blowup, rtol=0, atol=6e-5)
    assert torch.isfinite(s).all()  # frozen, not NaN


class Exploding(StateUpdater):
    """Sample 1 hits a non-finite state; the others must be unaffected."""

    def initialize(self, t0, world):
        return set_stock(world, torch.ones_like(t0))

    def contribute_state_derivatives(self, t, world):
        s = stock(world)
        bad = torch.tensor([False, True, False]) & (t > 1.0)
        rate = torch.where(bad, torch.full_like(s, float("inf")), 0.1 * s)
        return {STOCK: torch.stack([rate, torch.zeros_like(t)], 1)}


def test_non_finite_sample_is_flagged_and_does_not_poison_batch():
    years = torch.arange(0.0, 3.01, 0.5, dtype=T)
    s, result = run(Exploding(), 3, years)
    assert result.status.tolist() == [OK, DIVERGED, OK]
    assert 1.0 <= result.status_year[1] <= 1.1
    assert torch.allclose(s[[0, 2], -1], torch.full((2,), math.exp(0.3), dtype=T), rtol=1e-8)


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

    growth_rate_fields = (STOCK,)

    def initialize(self, t0, world):
        return set_stock(world, torch.log(torch.tensor([0.1, 0.2, 0.05], dtype=T)))

    def contribute_state_derivatives(self, t, world):
        return {STOCK: torch.stack([torch.exp(stock(world)), torch.zeros_like(t)], 1)}


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
    """At output times the solver takes metrics and d(state)/dt from one derive pass; both must be
    exactly what ``observe`` and ``forward`` give, late in a take-off too."""
    system, world0 = _prepared_system()
    with torch.no_grad():
        y = system.state_of(world0)
        t = torch.full((y.shape[0],), 2024.0, dtype=T)
        for _ in range(12 * 8):  # to 2032, past most samples' AC
            y = y + (1 / 12) * system(t, y)
            t = t + 1 / 12
        fused_world, fused_dy = system.metrics_and_derivative(t, y)
        assert torch.equal(fused_dy, system(t, y))
        separate = system.observe(t, y)
        for path, value in separate.metric_items():
            assert torch.equal(fused_world.get(path).nan_to_num(-1.0), value.nan_to_num(-1.0)), path


def test_progress_and_training_compute_are_derived_not_state():
    """P = P(RS, G) and the training compute are functions of state: they are computed on every
    evaluation, never integrated (no redundant state to drift or project back)."""
    system, world0 = _prepared_system()
    assert "ai_projects.research_stock" in system.layout.paths
    assert not any(p.endswith(("progress_ooms", "training_compute_ooms")) for p in system.layout.paths)
    with torch.no_grad():
        y = system.state_of(world0)
        t = torch.full((y.shape[0],), 2024.0, dtype=T)
        derived = system.derive(t, y)
        m = system.updaters[-1].model  # software R&D
        rs = derived.ai_projects.research_stock.reshape(-1)
        gain = derived.ai_projects.training_compute_gain_ooms.reshape(-1)
        expected = m.r / math.log(10) * (torch.log(rs) - m.log_rs0) + gain
        assert torch.allclose(derived.ai_projects.progress_ooms.reshape(-1), expected, rtol=1e-13, atol=1e-12)


def test_step_coarser_than_outputs_uses_dense_output():
    """Quarterly steps, monthly outputs: the outputs inside a step come from its Hermite interpolant,
    in order, and match the closed form to the step's own order of accuracy."""
    g = torch.tensor([0.1, 0.3, 0.7], dtype=T)
    years = torch.arange(0.0, 5.0 + 1e-9, 1 / 12, dtype=T)
    system = Combined([Exponential(g)])
    world0 = system.prepare(toy_params(3), 0.0)
    seen, out = [], []
    result = integrate_rk4(system, system.state_of(world0), years, 0.25,
                           lambda k, t, y: (seen.append(k), out.append(y)))
    assert seen == list(range(len(years)))  # every output, in order
    assert result.steps == 20  # 5 years of quarterly steps, not 60 monthly ones
    column = system.layout.columns(STOCK).start
    s = torch.stack([y[:, column] for y in out], 1)
    exact = torch.exp(g[:, None] * years[None, :])
    assert torch.allclose(s, exact, rtol=1e-4)  # RK4 at g·h = 0.175: ~2.5e-5 after 20 steps
    assert not torch.allclose(s, exact, rtol=1e-12)  # interpolated, not exact: the test can fail


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

"""Export controls, slowdown agreements and covert compute (issue 12): closed forms, the facts
file's worked numbers (policy_and_risk_facts.md §3.5), invariants and exact limits."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from sim.parameters import load_scenario
from sim.parameters.model_parameters import SimulationParameters
from sim.parameters.policies import load_policies
from sim.parameters.table import ParameterError
from sim.simulate import simulate
from sim.updaters.covert import equations as eq
from sim.updaters.export_controls import controlled_access

SCENARIOS = Path(__file__).resolve().parents[1] / "parameters" / "scenarios"
T = torch.tensor


def _mu(workforce: float) -> float:
    a, b = eq.detection_time_fit(T(6.95, dtype=torch.float64), T(3.42, dtype=torch.float64))
    return float(eq.mean_detection_time(T(workforce, dtype=torch.float64), a, b))


def _p_detected(workforce: float, years: float) -> float:
    mean = T(_mu(workforce), dtype=torch.float64)
    return float(-torch.expm1(eq.log_survival(T(years, dtype=torch.float64), mean, T(3.88, dtype=torch.float64))))


# -- detection: closed forms and the facts file's worked numbers ------------------------------------------------
def test_mean_detection_time_fit():
    assert _mu(100) == pytest.approx(6.95, rel=1e-12)
    assert _mu(1000) == pytest.approx(3.42, rel=1e-12)
    # facts 3.5 (rounded to 2-3 digits there): 10 -> 23.4, 11,300 -> 2.02, 100,000 -> 1.40
    for workforce, mu in ((10, 23.4), (300, 4.78), (11_300, 2.02), (100_000, 1.40)):
        assert _mu(workforce) == pytest.approx(mu, rel=0.003)  # 3 significant digits (23.36 -> 23.4)


def test_detection_probability_worked_numbers_and_monotone():
    # facts 3.5, rounded to 2-3 digits: L = 100 -> 0.045, 0.235, 0.436 at 1, 3, 5 y; L = 1,000 -> 0.28, 0.60, 0.77
    expected = {100: (0.045, 0.235, 0.436), 1000: (0.28, 0.60, 0.77), 11_300: (0.51, 0.78, 0.89)}
    for workforce, values in expected.items():
        for years, value in zip((1, 3, 5), values):
            assert _p_detected(workforce, years) == pytest.approx(value, abs=0.006)
    grid = [[_p_detected(w, y) for y in (0.5, 1, 2, 4, 8)] for w in (30, 100, 1000, 10_000)]
    assert np.all(np.diff(grid, axis=0) > 0) and np.all(np.diff(grid, axis=1) > 0)


def test_sampled_detection_time_mean_equals_expected():
    """Sampled leak times (S_Gamma(T) = u, u uniform) have mean μ(L): 20,000 draws, tolerance 4 standard
    errors (SE = sqrt(μθ/N) = 0.037 y for L = 100)."""
    mu, theta = _mu(100), 3.88
    u = torch.rand(20_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    lo, hi = torch.zeros_like(u), torch.full_like(u, 200.0)
    for _ in range(80):  # bisection on the survival function
        mid = (lo + hi) / 2
        below = eq.log_survival(mid, T(mu, dtype=torch.float64), T(theta, dtype=torch.float64)) < torch.log(u)
        hi, lo = torch.where(below, mid, hi), torch.where(below, lo, mid)
    se = math.sqrt(mu * theta / len(u))
    assert float(lo.mean()) == pytest.approx(mu, abs=4 * se)


def test_accounting_likelihood_ratios_worked_numbers():
    f, m = T(0.10, dtype=torch.float64), T(0.14, dtype=torch.float64)
    at_reported = float(torch.exp(eq.accounting_log_lr(f, T(-0.10, dtype=torch.float64), m)))
    at_truth = float(torch.exp(eq.accounting_log_lr(f, T(0.0, dtype=torch.float64), m)))
    assert at_reported == pytest.approx(0.61, abs=0.005) and at_truth == pytest.approx(1.73, abs=0.005)
    f, m = T(0.05, dtype=torch.float64), T(0.05, dtype=torch.float64)
    assert float(torch.exp(eq.accounting_log_lr(f, T(-0.05, dtype=torch.float64), m))) == pytest.approx(0.50, abs=0.005)
    assert float(torch.exp(eq.accounting_log_lr(f, T(0.0, dtype=torch.float64), m))) == pytest.approx(2.07, abs=0.005)
    assert float(eq.accounting_log_lr(T(0.0, dtype=torch.float64), T(0.3, dtype=torch.float64), m)) == pytest.approx(
        0.0, abs=1e-14)  # no diversion, no evidence (measured 7.7e-16)


def test_hidden_compute_shares_conserve_the_owners_compute():
    share = T([[0.3, 0.001, 0.2]], dtype=torch.float64)
    owner, hidden = T([0, 0, 1]), T([False, True, False])
    out = eq.compute_shares(share, T([[0.0, 50.0, 0.0]], dtype=torch.float64), T([[1000.0, 10.0]], dtype=torch.float64),
                            owner, hidden)
    assert torch.allclose(out, T([[0.3 * 0.95, 0.051, 0.2]], dtype=torch.float64), rtol=0, atol=1e-15)
    zero = eq.compute_shares(share, torch.zeros_like(share), T([[1000.0, 10.0]], dtype=torch.float64), owner, hidden)
    assert torch.equal(zero, share)


def test_smuggling_one_restores_access_exactly():
    access = T([0.3, 0.7, 1.0], dtype=torch.float64)
    assert torch.equal(controlled_access(access, T(0.02, dtype=torch.float64), T(1.0, dtype=torch.float64)), access)
    assert torch.allclose(controlled_access(access, T(0.02, dtype=torch.float64), T(0.0, dtype=torch.float64)),
                          torch.full_like(access, 0.02), rtol=0, atol=1e-15)


# -- policies file validation ------------------------------------------------------------------------------------
HEADER = "agreement,signatories,phase,year,trigger_metric,trigger_threshold,cap,cap_unit,cap_growth_ooms_per_year,source\n"


@pytest.mark.parametrize("rows, line, field", [
    ("a,us;prc,in_force,2028,no_such_metric,1,,,,\n", 2, "trigger_metric"),
    ("a,us;prc,signed,2028,,,,,,\na,us;prc,negotiating,2029,,,,,,\n", 3, "phase"),
    ("a,us;prc,in_force,2028,,,0,,,\n", 2, "cap_unit"),
    ("a,us;mars,in_force,2028,,,,,,\n", 2, "signatories"),
    ("a,us;prc,signed,2029,,,,,,\na,us;prc,in_force,2028,,,,,,\n", 3, "year"),
])
def test_policies_errors_name_file_line_field(tmp_path, rows, line, field):
    path = tmp_path / "x.policies.csv"
    path.write_text(HEADER + rows)
    with pytest.raises(ParameterError) as err:
        load_policies(path, ("us", "prc", "row"), {"ai_rnd_uplift"})
    assert err.value.line == line and err.value.field == field and str(path) in str(err.value)


# -- simulations (short horizons, small batches) --------------------------------------------------------------------
def _scenario(tmp_path: Path, name: str, end: float, policies: str | None = None, extra: str = ""):
    for suffix in (".csv", ".actors.csv", ".policies.csv"):
        if (SCENARIOS / f"{name}{suffix}").exists():
            shutil.copyfile(SCENARIOS / f"{name}{suffix}", tmp_path / f"{name}{suffix}")
    if policies is not None:
        (tmp_path / f"{name}.policies.csv").write_text(HEADER + policies)
    if extra:
        with open(tmp_path / f"{name}.csv", "a") as f:
            f.write(extra)
    return load_scenario(tmp_path / f"{name}.csv", {"simulation.end_year": end})


def _batch(params: SimulationParameters, variants: list[dict]) -> SimulationParameters:
    values = {n: params[n].detach().repeat(len(variants)) for n in params.names}
    for i, changes in enumerate(variants):
        for name, value in changes.items():
            values[name][i] = value
    return SimulationParameters(values, params.actors)


def test_export_controls(tmp_path):
    sc = _scenario(tmp_path, "export_controls_strict", 2031)
    p = _batch(sc.central(), [{"export_controls.prc.control_year": 1e4}, {},
                              {"export_controls.prc.smuggled_fraction": 1.0, "export_controls.prc.localisation_growth": 0.0},
                              {"export_controls.prc.control_year": 1e4, "export_controls.prc.localisation_growth": 0.0}])
    tr = simulate(p, sc)
    prc = tr.actor_ids("share_of_world_compute").index("prc")
    share = tr.actor_series["share_of_world_compute"][:, prc, -1]
    assert float(share[1]) < 0.9 * float(share[0])  # the control cuts the PRC's share of world compute
    # smuggling 100% (and no localisation) equals no control exactly
    for name, values in tr.metrics.items():
        assert torch.equal(values[2].nan_to_num(-1), values[3].nan_to_num(-1)), name
    # chips conserved: what the PRC cannot buy, the others buy
    supply = tr.actor_series["chip_supply_h100e_per_year"].sum(1)
    made = tr.actor_series["chip_production_h100e_per_year"].sum(1)
    assert torch.allclose(supply, made, rtol=1e-12)  # measured 2e-16
    assert [e[1:] for e in tr.events if e[0] == 1 and e[1] != "compute_wake_up"] == [("export_control", "prc", pytest.approx(2026.0))]


def test_agreement_cap_detection_and_collapse(tmp_path):
    sc = _scenario(tmp_path, "us_prc_cap_2028", 2034)
    p = _batch(sc.central(), [{}, {"covert.detection_posterior": 0.8}, {"covert.leak_likelihood_ratio": 200.0},
                              {"covert.prc_covert.diversion_fraction": 0.0}])
    tr = simulate(p, sc)
    years = tr.years
    phase = tr.metrics["agreement_phase"]
    # phases never go backwards except into collapsed
    assert bool((torch.diff(phase, dim=1) >= 0).all())
    events = {(b, name): year for b, name, _, year in tr.events}
    collapse = [events.get((b, "agreement_collapsed"), math.inf) for b in range(4)]
    assert collapse[1] >= collapse[0]  # a higher exit threshold never makes collapse earlier
    assert math.isinf(collapse[3])  # nothing to detect without diversion
    # while in force the signatories' largest runs stay at or below the cap (the 2028 level)
    runs = tr.actor_series["training_compute_ooms"]
    ids = tr.actor_ids("training_compute_ooms")
    k28 = int(torch.argmin((years - 2028.0).abs()))
    bound = [ids.index("us_frontier"), ids.index("prc_frontier")]
    in_force = phase[3] == 3
    # recorded at 2028 after the event: softmin(level, level) = level − ln2/s (s = 10 per OOM)
    cap = runs[3, bound, k28].max() + math.log(2.0) / 10.0
    assert bool((runs[3][bound][:, in_force] <= cap + 1e-9).all())
    assert float(runs[3][bound][:, in_force].max()) == pytest.approx(float(cap), abs=1e-3)  # the cap binds
    # zero diversion: zero covert compute, posterior at the prior throughout
    j = tr.actor_ids("covert_stock_h100e").index("prc_covert")
    assert float(tr.actor_series["covert_stock_h100e"][3, j].abs().max()) == 0.0
    assert torch.allclose(tr.actor_series["covert_posterior"][3, j], torch.full_like(years, 0.2), rtol=0, atol=1e-15)
    # doubling the leak's likelihood ratio doubles the posterior odds after the leak
    post = tr.actor_series["covert_posterior"][[0, 2], j, -1]
    odds = post / (1 - post)
    assert float(odds[1] / odds[0]) == pytest.approx(2.0, rel=1e-9)
    assert events[(0, "covert_detected")] == events[(0, "agreement_collapsed")]  # the consequence, same time
    assert float(tr.actor_series["covert_stock_h100e"][0, j].max()) > 0


def test_agreement_after_the_run_equals_no_agreement(tmp_path):
    late = "a,us;prc,in_force,2100,,,0,ooms_above_level,0,\n"
    sc = _scenario(tmp_path, "us_prc_cap_2028", 2030, policies=late)
    base = _scenario(tmp_path, "no_agreement", 2030)
    a, b = simulate(sc.central(), sc), simulate(base.central(), base)
    for name, values in b.metrics.items():
        assert torch.equal(values.nan_to_num(-1), a.metrics[name].nan_to_num(-1)), name
    for name, values in b.actor_series.items():  # per-actor series and events too
        assert torch.equal(values.nan_to_num(-1), a.actor_series[name].nan_to_num(-1)), name
    assert [e for e in a.events if not e[1].startswith(("agreement_", "covert_"))] == b.events
    assert not [e for e in a.events if e[1].startswith(("agreement_", "covert_"))]


# -- events: output grid, same-step milestones, sampled detection years ----------------------------------------------
def test_output_grid_halved_changes_nothing(tmp_path):
    """Events (phase changes, leak, detection) and the covert stock at the common grid points are the same on a
    monthly and a two-monthly output grid: the solver's steps do not depend on the output grid."""
    out = {}
    for step in (1 / 12, 1 / 6):
        sc = _scenario(tmp_path, "us_prc_cap_2028", 2034)
        sc = load_scenario(tmp_path / "us_prc_cap_2028.csv", {"simulation.end_year": 2034,
                                                                "simulation.output_step_years": step})
        p = sc.sample(6, seed=2)
        out[step] = simulate(p, sc)
    fine, coarse = out[1 / 12], out[1 / 6]
    assert len(coarse.years) < len(fine.years) and torch.allclose(fine.years[::2], coarse.years, rtol=0, atol=1e-9)
    assert [e[:3] for e in fine.events] == [e[:3] for e in coarse.events]
    assert any(e[1] == "covert_detected" for e in fine.events)
    # event years equal to rounding (measured: 2.3e-13 yr at most, one ulp near 2030: sums of sub-steps round
    # differently when an output point falls inside the step)
    assert np.allclose([e[3] for e in fine.events], [e[3] for e in coarse.events], rtol=0, atol=2e-12)
    phases_fine = {(b, n): y for b, n, _, y in fine.events if n.startswith("agreement_")}
    assert len(phases_fine) >= 6 * 3  # negotiating, signed, in force in every sample (collapse in some)
    for name in ("covert_stock_h100e", "covert_posterior", "training_compute_ooms"):
        x, y = fine.actor_series[name][..., ::2], coarse.actor_series[name]
        assert torch.allclose(x, y, rtol=1e-12, atol=0), name  # measured: 1.1e-13 relative at most
    assert torch.equal(fine.metrics["agreement_phase"][:, ::2], coarse.metrics["agreement_phase"])


def test_phase_change_in_the_same_step_as_a_milestone(tmp_path):
    """pause_at_sar: the pause comes into force when the frontier reaches SAR, i.e. in the solver step of the SAR
    milestone, for the samples that reach it by the end (3 of 12 here), and never for the others; from then on the
    signatories' largest runs stay at the level of that moment."""
    sc = _scenario(tmp_path, "pause_at_sar", 2031)
    tr = simulate(sc.sample(12, seed=1), sc)
    step = float(sc.central()["simulation.solver_step_years"][0]) if "simulation.solver_step_years" in \
        sc.central().names else 1 / 12
    start = float(tr.years[0])
    sar = tr.milestones["SAR"]
    in_force = {b: y for b, name, _, y in tr.events if name == "agreement_in_force"}
    reached = [b for b in range(12) if math.isfinite(float(sar[b]))]
    assert 0 < len(reached) < 12 and sorted(in_force) == reached
    for b in reached:
        # same step: the event is located inside the step in which the milestone is crossed (measured: the event
        # 0.005-0.034 yr before the milestone year, which is interpolated on the output grid)
        assert math.floor((in_force[b] - start) / step + 1e-9) == math.floor((float(sar[b]) - start) / step + 1e-9)
        assert abs(in_force[b] - float(sar[b])) < step
    runs = tr.actor_series["training_compute_ooms"]
    ids = tr.actor_ids("training_compute_ooms")
    bound = [ids.index("us_frontier"), ids.index("prc_frontier")]
    phase = tr.metrics["agreement_phase"]
    for b in reached:
        after = phase[b] == 3
        k = int(torch.nonzero(after)[0])
        level = runs[b, bound, k].max() + math.log(2.0) / 10.0  # softmin(level, level) = level − ln2/s
        assert bool((runs[b][bound][:, after] <= level + 1e-9).all())


def test_sampled_detection_years_reproducible(tmp_path):
    sc = _scenario(tmp_path, "us_prc_cap_2028", 2031)

    def detection(seed: int) -> list:
        tr = simulate(sc.sample(6, seed=seed), sc)
        return [(b, y) for b, name, _, y in tr.events if name == "covert_detected"]

    first, again, other = detection(5), detection(5), detection(6)
    assert len(first) >= 2 and first == again  # the same seed: the same detection years, exactly
    assert first != other


def test_mean_sampled_leak_year_equals_the_expected_detection_year(tmp_path):
    """With a constant workforce (no datacenter workers) the sampled leak time T solves S_Gamma(T) = u, u uniform,
    so its mean over many samples is the expected-value detection time mu(L) after the start of hiding (2028).
    Detection times scaled by 1/4 (mean 1.03 yr) so every sample leaks before the end; detection (which ends the
    hiding) needs a posterior of 0.999999, so none comes before its sample's leak. 256 samples: standard
    error sqrt(mu theta / N) = 0.062 yr; tolerance 4 standard errors."""
    sc = _scenario(tmp_path, "us_prc_cap_2028", 2042)
    n = 256
    central = sc.central()
    u = sc.sample(n, seed=11)["covert.prc_covert.detection_quantile"]
    values = {name: central[name].detach().repeat(n) for name in central.names}
    u = u.to(torch.float64)
    values.update({"covert.prc_covert.detection_quantile": u,
                   "covert.workers_per_gw": torch.zeros(n, dtype=torch.float64),
                   "covert.detection_posterior": torch.full((n,), 0.999999, dtype=torch.float64)})
    for name in ("detection_time_100", "detection_time_1000", "detection_gamma_scale"):
        values[f"covert.{name}"] = central[f"covert.{name}"].detach().repeat(n) / 4
    tr = simulate(SimulationParameters(values, central.actors), sc)
    leaks = {b: y for b, name, _, y in tr.events if name == "covert_leak"}
    detected = {b: y for b, name, _, y in tr.events if name == "covert_detected"}
    assert len(leaks) == n and all(y >= leaks[b] - 1e-9 for b, y in detected.items())  # every leak time uncensored
    j = tr.actor_ids("covert_expected_detection_year").index("prc_covert")
    # the metric while hiding (after detection it is t - elapsed hiding time + mu, no longer the start of hiding)
    k = int(torch.argmin((tr.years - 2028.5).abs()))
    hiding = [i for i in range(n) if detected.get(i, math.inf) > float(tr.years[k])]
    expected = tr.actor_series["covert_expected_detection_year"][hiding, j, k]
    a, b = eq.detection_time_fit(T(6.95 / 4, dtype=torch.float64), T(3.42 / 4, dtype=torch.float64))
    mu = float(eq.mean_detection_time(T(500.0, dtype=torch.float64), a, b))
    assert len(hiding) > n // 2
    assert torch.allclose(expected, torch.full_like(expected, 2028.0 + mu), rtol=0, atol=1e-9)
    se = math.sqrt(mu * 3.88 / 4 / n)
    # measured: mean 2028.9075 against 2029.0287, -1.9 standard errors: the draws' own noise (their mean u is 0.522),
    # since each sample's leak is its own inverse-survival time to 0.0017 yr (the event's location in its step)
    assert float(np.mean(list(leaks.values()))) == pytest.approx(2028.0 + mu, abs=4 * se)
    lo, hi = torch.zeros(n, dtype=torch.float64), torch.full((n,), 50.0, dtype=torch.float64)
    for _ in range(80):  # bisection: S_Gamma(T) = u
        mid = (lo + hi) / 2
        below = eq.log_survival(mid, T(mu, dtype=torch.float64), T(3.88 / 4, dtype=torch.float64)) < torch.log(u)
        hi, lo = torch.where(below, mid, hi), torch.where(below, lo, mid)
    assert np.allclose([leaks[i] for i in range(n)], 2028.0 + lo.numpy(), rtol=0, atol=0.01)


def test_json_detected_by_share_is_the_share_of_runs_detected_by_each_year():
    """``summary.policy.covert.*.detected_by_share``: the Monte Carlo P(detected by 2030/2035), from the runs' own
    detection events (``detection_probability`` is the model's P(direct evidence by now) instead)."""
    import numpy as np

    from sim.parameters import load_scenario as load
    from sim.simulate import simulate as run_sim

    scenario = load("us_prc_cap_2028")
    params = scenario.sample(8, seed=4).with_values(simulation__end_year=2036.0)
    data = run_sim(params, scenario).to_json_dict()
    detected = [s["policy"]["covert"]["prc_covert"]["detected_year"] for s in data["samples"]]
    shares = data["summary"]["policy"]["covert"]["prc_covert"]["detected_by_share"]
    for year in ("2030", "2035"):
        expected = np.mean([d is not None and d <= float(year) for d in detected])
        assert shares[year] == expected
    assert shares["2030"] <= shares["2035"]

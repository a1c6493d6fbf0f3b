"""Fidelity of compute + software R&D to the AI Futures calculator, gradients, batch consistency.

The full 300-sample comparison is ``bench/aifm_fidelity.py``; these tests run subsets of it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from sim import simulate
from sim.parameters import SimulationParameters, load_name_map, load_scenario
from sim.updaters import UPDATER_ORDER

GOLDEN = Path(__file__).resolve().parent / "data" / "aifm_golden"
F64 = torch.float64
pytestmark = pytest.mark.slow


def only_ai_modules(params: SimulationParameters, **settings: float) -> SimulationParameters:
    """Switch off every module but compute and software R&D (the calculator has only these) and start
    in 2012 like the calculator's own output."""
    settings = {"simulation.start_year": 2012.0, **settings}
    params = params.with_values(**{k.replace(".", "__"): v for k, v in settings.items()})
    values = {n: params[n].detach() for n in params.names}
    for module in UPDATER_ORDER:
        if module not in ("compute", "software_rnd"):
            values[f"{module}.enabled"] = torch.zeros(params.batch_size, dtype=F64)
    return SimulationParameters(values)


def calculator_grid(start: float, end: float) -> torch.Tensor:
    return torch.tensor(np.round(np.arange(start, end + 1e-9, 0.1), 10), dtype=F64)


@pytest.mark.parametrize("forecaster", ["eli", "daniel"])
def test_central_run_matches_the_calculator(forecaster):
    runs = pd.read_csv(GOLDEN / "central_runs.csv")
    marks = pd.read_csv(GOLDEN / "central_milestones.csv")
    gold = runs[(runs.forecaster == forecaster) & (runs.year <= 2034.5)]
    scenario = load_scenario(f"aifm_{forecaster}")
    params = only_ai_modules(scenario.central(), **{"simulation.end_year": 2034.5})
    grid = torch.tensor(np.round(np.union1d(calculator_grid(2012.0, 2034.5).numpy(), gold.year.to_numpy()), 10))
    traj = simulate(params, scenario, t_grid=grid)
    keep = np.isin(np.round(traj.years.numpy(), 6), np.round(gold.year.to_numpy(), 6))
    ac = float(marks[(marks.forecaster == forecaster) & (marks.milestone == "AC")].year.iloc[0])
    upto = gold.year.to_numpy() <= ac
    for ours, theirs in (("time_horizon_minutes", "time_horizon_minutes"), ("ai_rnd_uplift", "ai_sw_progress_multiplier")):
        rel = np.abs(traj.series[ours][0].numpy()[keep][upto] / gold[theirs].to_numpy()[upto] - 1)
        assert rel.max() < 0.05, (ours, rel.max())
    names = {"SAR": "SAR-level-experiment-selection-skill", "SIAR": "SIAR-level-experiment-selection-skill"}
    for name in ("AC", "SAR", "SIAR", "TED-AI", "ASI", "AI2027-SC", "AIR-5x", "AIR-25x", "AIR-250x", "AIR-2000x"):
        expected = float(marks[(marks.forecaster == forecaster) & (marks.milestone == names.get(name, name))].year.iloc[0])
        assert float(traj.milestones[name][0]) == pytest.approx(expected, abs=0.01), name


@pytest.mark.parametrize("forecaster", ["eli", "daniel"])
def test_sampled_parameter_sets_reproduce_milestone_years(forecaster):
    """Every 3rd of the calculator's 150 sampled parameter sets, 2012-2060 (a sample whose
    calculator milestone falls after 2060 counts as 'not reached')."""
    frame = pd.read_csv(GOLDEN / "sampled_runs_shared.csv")
    rows = frame[frame.forecaster == forecaster].iloc[::3].reset_index(drop=True)
    scenario = load_scenario(f"aifm_{forecaster}")
    params, _ = scenario.model_parameters.from_rows(rows, load_name_map())
    params = only_ai_modules(params, **{"simulation.end_year": 2060.0})
    traj = simulate(params, scenario, t_grid=calculator_grid(2012.0, 2060.0))
    # measured share within tolerance: 49 of 50 for AC, SAR and ASI, both forecasters (max error where both
    # reach it 0.009-0.075 yr); 0.96 allows one more miss, so a regression to the documented failure mode
    # (bench/RESULTS.md: several samples off by years) fails
    for name, tol, need in (("AC", 0.25, 0.96), ("SAR", 0.5, 0.96), ("ASI", 0.5, 0.96)):
        ours = traj.milestones[name].numpy()
        gold = rows[f"year_{name}"].to_numpy(dtype=float)
        gold = np.where(gold <= 2060.0, gold, np.nan)
        both = np.isfinite(ours) & np.isfinite(gold)
        neither = ~np.isfinite(ours) & ~np.isfinite(gold)
        ok = np.where(both, np.abs(ours - gold) <= tol, neither)
        assert ok.mean() >= need, (name, ok.mean())


def _central(forecaster="eli", **settings):
    scenario = load_scenario(f"aifm_{forecaster}")
    return scenario, only_ai_modules(scenario.central(), **settings)


def test_gradient_of_ac_year_wrt_doubling_time_matches_finite_differences():
    scenario, params = _central(**{"simulation.end_year": 2031.5})
    grid = calculator_grid(2012.0, 2031.5)
    name = "software_rnd.present_doubling_time"
    params.enable_grad([name])
    ac = simulate(params, scenario, t_grid=grid, step=1 / 24).milestones["AC"]
    (grad,) = torch.autograd.grad(ac.sum(), params[name])
    assert torch.isfinite(grad).all()
    x0 = float(params[name].detach())
    h = 1e-5 * x0  # central differences converge to the gradient: relative gap 7.7e-4, 2.2e-4, 3.1e-5 at
    vals = []      # h = 1e-3, 1e-4, 1e-5 of x0 (the AC crossing is interpolated between output points)
    for x in (x0 + h, x0 - h):
        p = params.with_values(**{name.replace(".", "__"): x})
        vals.append(float(simulate(p, scenario, t_grid=grid, step=1 / 24).milestones["AC"][0]))
    fd = (vals[0] - vals[1]) / (2 * h)
    assert float(grad[0]) == pytest.approx(fd, rel=3e-4)
    assert fd > 0  # a slower horizon trend delays AC


def test_gradient_of_final_effective_compute_wrt_software_rate_matches_finite_differences():
    scenario, params = _central(**{"simulation.end_year": 2029.0})
    grid = calculator_grid(2012.0, 2029.0)
    name = "software_rnd.software_progress_rate_at_reference_year"
    params.enable_grad([name])
    final = simulate(params, scenario, t_grid=grid, step=1 / 24).series["effective_compute_ooms"][:, -1]
    (grad,) = torch.autograd.grad(final.sum(), params[name])
    assert torch.isfinite(grad).all()
    x0 = float(params[name].detach())
    h = 1e-4 * x0
    vals = []
    for x in (x0 + h, x0 - h):
        p = params.with_values(**{name.replace(".", "__"): x})
        vals.append(float(simulate(p, scenario, t_grid=grid, step=1 / 24).series["effective_compute_ooms"][0, -1]))
    fd = (vals[0] - vals[1]) / (2 * h)
    assert float(grad[0]) == pytest.approx(fd, rel=3e-7)  # measured relative gap 2.2e-8 (8e-8 at h = 1e-3 x0)


def test_batched_run_equals_samples_run_one_by_one():
    scenario = load_scenario("aifm_eli")
    params = only_ai_modules(scenario.sample(3, seed=7), **{"simulation.end_year": 2040.0})
    grid = calculator_grid(2012.0, 2040.0)
    batch = simulate(params, scenario, t_grid=grid, step=1 / 24)
    for i in range(3):
        one = simulate(params.select([i]), scenario, t_grid=grid, step=1 / 24)
        for name in ("AC", "SAR", "ASI", "AIR-25x"):
            a, b = float(batch.milestones[name][i]), float(one.milestones[name][0])
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-9), name
        np.testing.assert_allclose(batch.series["progress_ooms"][i].numpy(), one.series["progress_ooms"][0].numpy(),
                                   rtol=1e-12, atol=1e-12)

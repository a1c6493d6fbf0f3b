"""The compute module: input series, training-compute growth with a slowdown, FLOP conversion."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from sim.parameters import SimulationParameters, load_scenario
from sim.updaters.compute import ComputeUpdater
from sim.updaters.compute.series import INPUT_SERIES_FILE, growth_ramp_nodes, load_input_series, ramp_integral
from sim.world import World


def T(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def _params(**over) -> SimulationParameters:
    params = load_scenario("baseline").central()
    return params.with_values(**{k.replace(".", "__"): v for k, v in over.items()})


def _prepared(**over) -> ComputeUpdater:
    updater = ComputeUpdater()
    updater.prepare(_params(**over), 2012.0)
    return updater


def test_series_interpolate_in_log_space_through_the_nodes():
    frame = pd.read_csv(INPUT_SERIES_FILE)
    series = load_input_series()
    years = torch.tensor(frame["time"].to_numpy(), dtype=torch.float64)
    logs = series.log_at(years)
    for s, column in enumerate(("L_HUMAN", "inference_compute", "experiment_compute")):
        np.testing.assert_allclose(torch.exp(logs[:, s]).numpy(), frame[column].to_numpy(), rtol=1e-12)
    # halfway between two yearly nodes: the geometric mean (exponential growth within a year)
    mid = series.log_at(T(2024.5))
    row = frame.set_index("time")
    expected = math.sqrt(row.loc[2024.0, "experiment_compute"] * row.loc[2025.0, "experiment_compute"])
    assert math.exp(float(mid[0, 2])) == pytest.approx(expected, rel=1e-12)
    # clamped outside the file's range
    assert torch.allclose(series.log_at(T(2000.0, 2300.0)), series.log_values[[0, -1]])


def test_exponential_training_compute_growth_without_slowdown():
    """With g_pre = g_post, training compute grows exponentially: C(t) = C(t_ref) + g (t - t_ref)."""
    updater = _prepared(**{"compute.training_growth_post_slowdown": 0.6})
    c0 = updater.training_compute_t0
    assert float(c0) == pytest.approx(26.54 - 0.6 * (2025.13 - 2012.0), abs=1e-12)
    # integrate the module's derivative with RK4 (exact for a constant rate)
    world = updater.initialize(T(2012.0), World.empty(1, 2012.0))
    c, t, h = world.ai_projects["leading"].training_compute_ooms, 2012.0, 0.25
    while t < 2040.0 - 1e-9:
        rate = updater.contribute_state_derivatives(T(t), world).world.ai_projects["leading"]
        c = c + h * rate.training_compute_ooms
        t += h
    assert float(c) == pytest.approx(26.54 + 0.6 * (2040.0 - 2025.13), abs=1e-10)


@pytest.mark.parametrize("slowdown, nodes", [(2028.0, (2027.0, 2028.0)), (2029.2, (2029.0, 2029.5)),
                                             (2029.7, (2029.5, 2030.0)), (2026.03, (2026.0, 2027.0))])
def test_slowdown_ramps_over_the_node_interval_that_contains_it(slowdown, nodes):
    n0, n1 = growth_ramp_nodes(load_input_series().node_years, T(slowdown))
    assert (float(n0), float(n1)) == nodes
    updater = _prepared(**{"compute.slowdown_year": slowdown})
    g = updater.schedule.training_growth
    assert float(g(T(nodes[0]))) == pytest.approx(0.6)
    assert float(g(T(nodes[1]))) == pytest.approx(0.25)
    assert float(g(T(0.5 * (nodes[0] + nodes[1])))) == pytest.approx(0.425)


def test_growth_integral_matches_quadrature():
    updater = _prepared(**{"compute.slowdown_year": 2029.3})
    ts = torch.linspace(2012.0, 2060.0, 480001, dtype=torch.float64)
    g = updater.schedule.training_growth(ts)
    numeric = torch.trapezoid(g, ts)
    exact = updater.schedule.training_growth_integral(2012.0, 2060.0)
    assert float(exact) == pytest.approx(float(numeric), abs=1e-8)
    # antiderivative of the ramp is continuous with slope in [0, 1]
    r = ramp_integral(T(2028.9, 2029.0, 2029.25, 2029.5, 2030.0), T(2029.0), T(2029.5))
    assert torch.allclose(r, T(0.0, 0.0, 0.0625, 0.25, 0.75))


def test_multipliers_and_flop_conversion():
    base = _prepared()
    scaled = _prepared(**{"compute.experiment_compute_multiplier": 10.0, "compute.human_coders_multiplier": 0.5})
    t = T(2027.3)
    w0 = base.set_metric_attributes(t, World.empty(1, 2027.3)).ai_projects["leading"]
    w1 = scaled.set_metric_attributes(t, World.empty(1, 2027.3)).ai_projects["leading"]
    assert float(w1.experiment_compute_h100e / w0.experiment_compute_h100e) == pytest.approx(10.0)
    assert float(w1.human_coders / w0.human_coders) == pytest.approx(0.5)
    assert float(w1.inference_compute_h100e / w0.inference_compute_h100e) == pytest.approx(1.0)
    assert float(w0.experiment_compute_flop_per_year / w0.experiment_compute_h100e) == pytest.approx(
        9.89e14 * 31557600.0)

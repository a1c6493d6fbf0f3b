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
    """``baseline`` with the exogenous trend (the supply chain's projects are tested in test_supply_chain.py)."""
    params = load_scenario("baseline").central().with_values(compute__supply_chain=0.0)
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


def _frontier(updater: ComputeUpdater, year: float):
    """The reference project's compute values at ``year`` (derived values, then metrics)."""
    world = World.empty(1, year, updater.params.actors)
    world = updater.set_metric_attributes(T(year), updater.derive(T(year), world))
    return world.ai_projects


def test_exponential_training_compute_growth_without_slowdown():
    """With g_pre = g_post, training compute grows exponentially: C(t) = C(t_ref) + g (t - t_ref) (log10 FLOP),
    and its derived growth rate is g at every time."""
    updater = _prepared(**{"compute.training_growth_post_slowdown": 0.6})
    for year in (2012.0, 2020.5, 2025.13, 2033.7, 2040.0):
        p = _frontier(updater, year)
        ref = updater.params.actors.reference_index
        assert float(p.training_compute_ooms[0, ref]) == pytest.approx(26.54 + 0.6 * (year - 2025.13), abs=1e-10)
        assert float(p.training_compute_growth_ooms_per_year[0, ref]) == pytest.approx(0.6, abs=1e-12)


def test_projects_scale_with_their_relative_size():
    """Exogenous trend: a project's compute inputs are the reference series times its relative size, and its
    largest run is log10(relative compute) OOMs below the reference's."""
    updater = _prepared()
    p = _frontier(updater, 2027.0)
    params, actors = updater.params, updater.params.actors
    rel = params.per_actor("compute.relative_compute", "project")[0]
    coders = params.per_actor("compute.relative_coders", "project")[0]
    ref = actors.reference_index
    for j in range(len(actors.projects)):
        assert float(p.experiment_compute_h100e[0, j] / p.experiment_compute_h100e[0, ref]) == pytest.approx(
            float(rel[j] / rel[ref]), rel=1e-12)
        assert float(p.human_coders[0, j] / p.human_coders[0, ref]) == pytest.approx(
            float(coders[j] / coders[ref]), rel=1e-12)
        assert float(p.training_compute_ooms[0, j] - p.training_compute_ooms[0, ref]) == pytest.approx(
            math.log10(float(rel[j] / rel[ref])), abs=1e-12)


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
    w0, w1 = _frontier(base, 2027.3), _frontier(scaled, 2027.3)
    assert torch.allclose(w1.experiment_compute_h100e / w0.experiment_compute_h100e, T(10.0), rtol=1e-12)
    assert torch.allclose(w1.human_coders / w0.human_coders, T(0.5), rtol=1e-12)
    assert torch.allclose(w1.inference_compute_h100e / w0.inference_compute_h100e, T(1.0), rtol=1e-12)
    assert torch.allclose(w0.experiment_compute_flop_per_year / w0.experiment_compute_h100e,
                          T(9.89e14 * 31557600.0), rtol=1e-12)

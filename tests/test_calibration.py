"""Calibration: data loading, priors, the MAP fit (recovery of known values), the Laplace spreads,
the gradient check, the scenario writer and the error paths (sim/calibration, docs/CALIBRATION.md)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from sim.calibration import DataError, FitError, read_observations, setup
from sim.calibration.data import METR_FILE, TRAINING_COMPUTE_FILE
from sim.calibration.fit import backtest_summary, fit, loss_and_gradient
from sim.calibration.gradcheck import gradient_check
from sim.calibration.prior import latent_prior
from sim.calibration.scenario_file import write_scenario
from sim.cli import main
from sim.parameters import ParameterError, ParameterSpec, load_scenario
from sim.parameters.distributions import Beta, Choice, LogNormal, Normal, Point, Uniform

F64 = torch.float64
DOUBLING = "software_rnd.present_doubling_time"
D = "software_rnd.doubling_difficulty_growth_factor"


# -- data ---------------------------------------------------------------------------------------------
def test_metr_rows_become_log_space_observations_with_sigma_from_the_95pct_ci():
    obs = read_observations(METR_FILE)
    raw = pd.read_csv(METR_FILE)
    sota = raw[raw.is_sota]
    assert len(obs) == len(sota) == 14
    gpt5 = obs[obs.label == "gpt_5"].iloc[0]
    row = sota[sota.model == "gpt_5"].iloc[0]
    assert gpt5.value == row.p80_minutes and gpt5.metric == "time_horizon_minutes"
    assert gpt5.sigma == pytest.approx((math.log(row.p80_ci_high) - math.log(row.p80_ci_low)) / (2 * 1.959964), rel=1e-6)
    assert gpt5.year == pytest.approx(2025 + 218 / 365)  # 2025-08-07 is day 219
    assert len(read_observations(METR_FILE, sota_only=False)) == len(raw)


def test_training_compute_is_compared_in_log10_units():
    obs = read_observations(TRAINING_COMPUTE_FILE)
    gpt3 = obs[obs.label == "gpt_3_175b"].iloc[0]
    assert gpt3.value == pytest.approx(math.log10(3.14e23)) and gpt3.space == "linear"
    assert gpt3.sigma == pytest.approx((math.log10(3.8e23) - math.log10(2.6e23)) / (2 * stats.norm.ppf(0.9)))


def test_data_errors_name_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("metric,year,value,low,high,source\ntime_horizon_minutes,2024,1,0.5,2,x\n")
    with pytest.raises(DataError, match=r"bad.csv, line 1, column 'ci_level'.*missing column"):
        read_observations(bad)
    bad.write_text("metric,year,value,low,high,ci_level,source\nnot_a_metric,2024,1,0.5,2,0.9,x\n")
    with pytest.raises(DataError, match=r"line 2, column 'metric'.*unknown metric"):
        read_observations(bad)
    bad.write_text("metric,year,value,low,high,ci_level,source\ntime_horizon_minutes,2024,3,0.5,2,0.9,x\n")
    with pytest.raises(DataError, match="low <= value <= high"):
        read_observations(bad)
    metr = pd.read_csv(METR_FILE).drop(columns=["p80_ci_low"])
    metr.to_csv(bad, index=False)
    with pytest.raises(DataError, match="column 'p80_ci_low'"):
        read_observations(bad)
    with pytest.raises(DataError, match="not found"):
        read_observations(tmp_path / "missing.csv")


# -- priors -------------------------------------------------------------------------------------------
SPECS = [
    ParameterSpec("m.normal", 1.0, "", Normal(0.5, 1.5), "", ""),
    ParameterSpec("m.lognormal", 3.0, "", LogNormal(0.5, 8.0, shift=1.0), "", ""),
    ParameterSpec("m.uniform", 2028.0, "", Uniform(2026.0, 2030.0), "", ""),
    ParameterSpec("m.beta", 0.5, "", Beta(3.0, 3.0, 0.0, 1.0), "", ""),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_latent_prior_is_the_samplers_copula_coordinate(spec):
    """x(z) = F^-1(Phi(z)): the same map the Monte Carlo sampler applies to its copula normals."""
    prior = latent_prior(spec)
    u = np.array([0.03, 0.2, 0.5, 0.8, 0.97])
    z = torch.tensor(stats.norm.ppf(u), dtype=F64)
    np.testing.assert_allclose(prior.to_x(z).numpy(), spec.distribution.ppf(u), rtol=1e-10)
    for x in spec.distribution.ppf(u):
        assert prior.to_z(float(x)) == pytest.approx(stats.norm.ppf(u[list(spec.distribution.ppf(u)).index(x)]),
                                                     abs=1e-8)
    zz = torch.tensor([0.3], dtype=F64, requires_grad=True)
    (g,) = torch.autograd.grad(prior.to_x(zz).sum(), zz)
    h = 1e-6
    fd = (prior.to_x(zz.detach() + h) - prior.to_x(zz.detach() - h)) / (2 * h)
    assert float(g) == pytest.approx(float(fd), rel=1e-6)  # measured < 1e-9


def test_point_parameters_get_a_flat_prior_and_choices_cannot_be_fitted():
    flat = latent_prior(ParameterSpec("m.p", 26.0, "", Point(26.0), "", ""))
    assert not flat.has_prior and float(flat.to_x(torch.tensor(math.log(2.0), dtype=F64))) == pytest.approx(52.0)
    with pytest.raises(FitError, match="discrete distribution"):
        latent_prior(ParameterSpec("m.c", -2.0, "", Choice((-5.0, -2.0), (0.5, 0.5)), "", ""))


# -- fit problems and error paths -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def problem():
    return setup("aifm_eli", [DOUBLING, D], switch_off_unused=False,
                 overrides={"economy.enabled": 0.0})


def test_setup_errors():
    with pytest.raises(ParameterError, match="unknown parameter 'software_rnd.present_doubling'.*did you mean"):
        setup("aifm_eli", ["software_rnd.present_doubling"], switch_off_unused=False)
    with pytest.raises(FitError, match="discrete"):
        setup("aifm_eli", ["software_rnd.coding_labor_rho"], switch_off_unused=False)
    with pytest.raises(FitError, match="no observation"):
        setup("aifm_eli", [DOUBLING], until=2000, switch_off_unused=False)


def test_a_parameter_without_gradient_is_an_error():
    p = setup("aifm_eli", ["software_rnd.ted_ai_m2t"], switch_off_unused=False, overrides={"economy.enabled": 0.0})
    with pytest.raises(FitError, match="ted_ai_m2t gets no gradient"):
        loss_and_gradient(p, p.z_of())


@pytest.mark.slow
def test_loss_gradient_matches_finite_differences(problem):
    """dL/dz through the simulation (autograd x chain rule through the prior map) against central
    differences of the loss (measured agreement 1e-8)."""
    z = problem.z_of() + torch.tensor([0.3, -0.2], dtype=F64)
    loss, grad = loss_and_gradient(problem, z)
    h = 1e-5
    for j in range(2):
        e = torch.zeros(2, dtype=F64)
        e[j] = h
        fd = (loss_and_gradient(problem, z + e)[0] - loss_and_gradient(problem, z - e)[0]) / (2 * h)
        assert float(grad[j]) == pytest.approx(fd, rel=1e-5)


def test_cli_calibrate_reports_bad_input(capsys, tmp_path):
    assert main(["calibrate", "--fit", "software_rnd.nope"]) == 2
    assert "unknown parameter 'software_rnd.nope'" in capsys.readouterr().err
    assert main(["calibrate", "--fit", "software_rnd.include_gap"]) == 2
    assert "discrete" in capsys.readouterr().err
    bad = tmp_path / "d.csv"
    bad.write_text("metric,year,value\ntime_horizon_minutes,2024,1\n")
    assert main(["calibrate", "--fit", DOUBLING, "--data", str(bad)]) == 2
    assert "missing column" in capsys.readouterr().err


# -- recovery, Laplace, backtest ------------------------------------------------------------------------
@pytest.mark.slow
def test_fit_recovers_known_values_within_their_spreads(tmp_path):
    """Synthetic horizons from known values (doubling time 0.36 yr, d = 0.96) at the METR dates with
    log-normal noise of 0.15 (seed 7); fit from the scenario's central values. Tolerance: 2.5
    posterior standard deviations (a 99% band); measured |error|/sd: 0.2-1.0."""
    truth = {DOUBLING: 0.36, D: 0.96}
    template = setup("aifm_eli", list(truth), switch_off_unused=False, overrides={"economy.enabled": 0.0})
    with torch.no_grad():
        clean = template.predict(template.parameters(torch.tensor([[truth[DOUBLING], truth[D]]], dtype=F64)))[0]
    rng = np.random.default_rng(7)
    sigma = 0.15
    noisy = clean.numpy() * np.exp(sigma * rng.standard_normal(len(clean)))
    obs = template.observations
    frame = pd.DataFrame({"metric": obs.metric, "year": obs.year, "value": noisy,
                          "low": noisy * math.exp(-1.959964 * sigma), "high": noisy * math.exp(1.959964 * sigma),
                          "ci_level": 0.95, "source": "synthetic"})
    path = tmp_path / "synthetic.csv"
    frame.to_csv(path, index=False)
    p = setup("aifm_eli", list(truth), data=[path], switch_off_unused=False, overrides={"economy.enabled": 0.0})
    result = fit(p)
    assert result.converged and result.loss < result.loss_start
    for name, x, sd in zip(result.names, result.x, result.sd_x):
        assert abs(x - truth[name]) < 2.5 * sd, (name, x, truth[name], sd)
    assert np.all(result.sd_x > 0) and np.all(result.sd_x < 0.2 * result.x)


def test_backtest_summary_is_the_rms_per_series_and_split():
    pred = pd.DataFrame({"series": ["s"] * 4, "used_in_fit": [True, True, False, False],
                         "log_error_before": [1.0, -1.0, 2.0, 0.0], "log_error_after": [0.0, 0.0, 1.0, 1.0],
                         "z_before": [2.0, 2.0, 0.0, 0.0], "z_after": [0.0, 0.0, 3.0, 4.0]})
    s = backtest_summary(pred).set_index("points")
    assert s.loc["fitted", "rms_log_error_uncalibrated"] == pytest.approx(1.0)
    assert s.loc["held out", "rms_log_error_uncalibrated"] == pytest.approx(math.sqrt(2.0))
    assert s.loc["held out", "rms_z_fitted"] == pytest.approx(math.sqrt(12.5))


def test_written_scenario_loads_with_the_posterior_as_its_distribution(problem, tmp_path):
    from sim.calibration.fit import FitResult

    z = problem.z_of({DOUBLING: 0.4, D: 0.95})
    cov = torch.tensor([[0.04, 0.01], [0.01, 0.09]], dtype=F64)
    result = FitResult(problem, "lbfgs", problem.z_of(), z, 10.0, 3.0, 5, 6, 1.0, True, "test", [10.0, 3.0], cov)
    path = write_scenario(result, tmp_path / "fitted.csv")
    scen = load_scenario(path)
    assert (tmp_path / "fitted.actors.csv").exists()  # aifm_eli's world travels with it
    assert scen.model_parameters[DOUBLING].value == pytest.approx(0.4)
    lo, hi = scen.model_parameters[DOUBLING].distribution.ppf(np.array([0.1, 0.9]))
    prior = problem.priors[0]  # lognormal: the posterior of z (sd 0.2) maps to a lognormal with these 10/90%
    assert lo == pytest.approx(float(prior.to_x(z[0] - 1.2815516 * 0.2)), rel=1e-6)
    assert hi == pytest.approx(float(prior.to_x(z[0] + 1.2815516 * 0.2)), rel=1e-6)
    assert scen.model_parameters[D].value == pytest.approx(0.95)
    assert scen.model_parameters["software_rnd.frontier_grid_points"].value == 4096  # base rows kept
    assert "Posterior correlations" in path.read_text()


# -- gradient check -------------------------------------------------------------------------------------
def test_gradient_check_agrees_with_finite_differences_and_explains_missing_gradients():
    """autograd vs batched central differences (tolerance 1e-3; measured 2e-10 - 7e-7)."""
    names = [DOUBLING, D, "compute.training_growth_pre_slowdown", "software_rnd.parallel_penalty",
             "compute.slowdown_year", "simulation.start_year", "software_rnd.ted_ai_m2t"]
    table = gradient_check("aifm_eli", overrides={"economy.enabled": 0.0}, names=names).set_index("name")
    for name in names[:4]:
        assert table.loc[name, "status"] == "ok", table.loc[name]
        assert table.loc[name, "rel_error"] < 1e-3
    assert table.loc["compute.slowdown_year", "status"] == "no gradient"
    assert "yearly node grid" in table.loc["compute.slowdown_year", "reason"]
    assert "run setting" in table.loc["simulation.start_year", "reason"]
    assert table.loc["software_rnd.ted_ai_m2t", "status"] == "no gradient"

"""MAP fit of named parameters to historical observations, by gradient descent through ``simulate``.

Loss (documented in ``docs/CALIBRATION.md``), in the latent coordinates z of ``prior.py``:

    L(z) = ½ Σ_i r_i(x(z))²  +  ½ zᵀ R⁻¹ z

with r_i the log-space errors of ``data.py`` (each observation weighted by its stated
uncertainty) over the observations up to ``until``, and the second term the Monte Carlo
distributions as the prior (flat for point parameters). The gradient comes from autograd through
the whole simulation (∂L/∂x from ``simulate``'s backward pass, times dx/dz). The posterior is the
Laplace approximation at the minimum, with the Gauss-Newton (Fisher-information) Hessian

    H = Jᵀ J + R⁻¹,   J_ij = ∂r_i/∂z_j,   Σ_z = H⁻¹,

J from one batched simulation with one copy of the parameters per observation (copy b carries
the gradient of observation b only). Spreads in x are the 16th-84th percentiles x(z* ± σ_z) and
the delta-method standard deviation |dx/dz| σ_z.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from sim import metrics_catalog
from sim.calibration.data import load_observations
from sim.calibration.prior import DTYPE, FitError, LatentPrior, latent_prior, prior_precision
from sim.parameters import ParameterError, Scenario, SimulationParameters, load_scenario
from sim.simulate import simulate
from sim.updaters import UPDATER_ORDER


@dataclass
class Problem:
    """What a fit needs: the scenario (run settings adjusted to the data), the fitted parameters'
    priors, the observations and the output grid they are read on."""

    scenario: Scenario
    names: list[str]
    priors: list[LatentPrior]
    precision: Tensor
    observations: pd.DataFrame
    train: np.ndarray
    base: SimulationParameters
    grid: Tensor
    grid_index: np.ndarray
    until: float | None = None
    switched_off: list[str] = field(default_factory=list)
    step: float | None = None

    @property
    def metrics(self) -> list[str]:
        return sorted(set(self.observations["metric"]))

    def z_of(self, values: dict[str, float] | None = None) -> Tensor:
        """Latent coordinates of ``values`` (default: the scenario's central values)."""
        values = values or {}
        return torch.tensor([p.to_z(float(values.get(p.spec.name, self.base[p.spec.name][0]))) for p in self.priors],
                            dtype=DTYPE)

    def x_of(self, z: Tensor) -> Tensor:
        """[..., k] latent -> parameter values (differentiable)."""
        return torch.stack([p.to_x(z[..., j]) for j, p in enumerate(self.priors)], dim=-1)

    def parameters(self, x: Tensor) -> SimulationParameters:
        """A batch [B] of the base parameters with the fitted ones at ``x`` ([B, k], detached)."""
        x = x.detach().reshape(-1, len(self.names))
        batch = x.shape[0]
        values = {n: self.base[n].detach().expand(batch).clone() for n in self.base.names}
        for j, name in enumerate(self.names):
            values[name] = x[:, j].clone()
        return SimulationParameters(values, self.base.actors)

    def predict(self, params: SimulationParameters) -> Tensor:
        """Model values [B, n_obs] of every observation."""
        traj = simulate(params, self.scenario, self.grid, record=self.metrics, step=self.step)
        columns = []
        for metric, k in zip(self.observations["metric"], self.grid_index):
            if metric not in traj.series:
                raise FitError(f"metric {metric!r} is not recorded by the enabled modules")
            columns.append(traj.series[metric][:, k])
        return torch.stack(columns, dim=1)

    def residuals(self, model: Tensor) -> Tensor:
        """Standardised errors r_i [B, n_obs] (log space, or linear for log-unit metrics)."""
        obs = self.observations
        y = torch.tensor(obs["value"].to_numpy(float), dtype=DTYPE)
        sigma = torch.tensor(obs["sigma"].to_numpy(float), dtype=DTYPE)
        log_space = torch.tensor((obs["space"] == "log").to_numpy(bool))
        safe = torch.where(log_space, model.clamp_min(1e-300), model)
        diff = torch.where(log_space, torch.log(safe) - torch.log(y.clamp_min(1e-300)), model - y)
        return diff / sigma

    def log_errors(self, model: Tensor) -> Tensor:
        """Natural-log errors ln(model/data) (log10-unit metrics: ln 10 × their difference)."""
        return self.residuals(model) * torch.tensor(self.observations["sigma"].to_numpy(float), dtype=DTYPE) * \
            torch.as_tensor(np.where(self.observations["space"] == "log", 1.0, math.log(10.0)), dtype=DTYPE)


#: RK4 step of the fit's simulations (yr). The observations lie before the take-off, where the dynamics
#: are smooth: on the METR dates, predictions at 1/4 yr differ from a 1/48-yr reference by at most
#: 9e-6 relative (1/12 yr: 1e-6), against stated errors of 40-140% (aifm_eli central; measured).
DEFAULT_STEP = 0.25


def setup(scenario: str | Scenario, names: list[str], data: list[str] | None = None, until: float | None = None,
          overrides: dict[str, float] | None = None, step: float | None = DEFAULT_STEP,
          switch_off_unused: bool = True, sota_only: bool = True) -> Problem:
    """Build a fit problem; raises ``FitError`` / ``ParameterError`` / ``DataError`` on bad input."""
    if not names:
        raise FitError("nothing to fit: give --fit name1,name2,...")
    if len(set(names)) != len(names):
        raise FitError(f"--fit names a parameter twice: {', '.join(names)}")
    observations = load_observations(data, sota_only=sota_only)
    train = np.ones(len(observations), bool) if until is None else (observations["year"].to_numpy() <= until)
    if not train.any():
        raise FitError(f"no observation is dated on or before --until {until:g}")
    first, last = float(observations["year"].min()), float(observations["year"].max())
    scen = scenario if isinstance(scenario, Scenario) else load_scenario(scenario, overrides)
    model = scen.model_parameters
    priors = []
    for name in names:
        spec = model.spec_for(name, "--fit")  # unknown names: ParameterError with suggestions
        priors.append(latent_prior(spec))
    start = min(model[("simulation.start_year")].value, math.floor(first))
    settings = {"simulation.start_year": float(start), "simulation.end_year": float(max(math.ceil(last), start + 1))}
    base = scen.central().with_values(**{k.replace(".", "__"): v for k, v in settings.items()})
    years = np.unique(np.round(observations["year"].to_numpy(), 9))
    grid = torch.as_tensor(years, dtype=DTYPE)
    index = np.searchsorted(years, np.round(observations["year"].to_numpy(), 9))
    precision = torch.as_tensor(prior_precision(priors, model.correlations), dtype=DTYPE)
    problem = Problem(scen, list(names), priors, precision, observations, train, base, grid, index, until, [], step)
    if switch_off_unused:
        _switch_off_unused_modules(problem)
    return problem


def _switch_off_unused_modules(problem: Problem) -> None:
    """Switch off modules that neither a fitted parameter nor an observed metric belongs to, when
    that leaves every prediction unchanged (checked: relative change < 1e-12). Saves time, and
    keeps a module whose backward pass is not finite out of the fit (docs/CALIBRATION.md)."""
    owners = {m.name: m.module for m in metrics_catalog.metrics()}
    used = {n.split(".", 1)[0] for n in problem.names} | {owners.get(m, "") for m in problem.metrics}
    candidates = [m for m in UPDATER_ORDER if f"{m}.enabled" in problem.base and m not in used
                  and problem.base.scalar(f"{m}.enabled") != 0]
    if not candidates:
        return
    with torch.no_grad():
        reference = problem.predict(problem.base)
        for module in candidates:
            trial = problem.base.with_values(**{f"{module}__enabled": 0.0})
            saved, problem.base = problem.base, trial
            try:
                same = bool(torch.allclose(problem.predict(trial), reference, rtol=1e-12, atol=0.0))
            except Exception:  # noqa: BLE001 - another module needs it (e.g. compute feeds software R&D)
                same = False
            if same:
                problem.switched_off.append(module)
            else:
                problem.base = saved


@dataclass
class FitResult:
    problem: Problem
    method: str
    z_start: Tensor
    z: Tensor
    loss_start: float
    loss: float
    iterations: int
    evaluations: int
    wall_seconds: float
    converged: bool
    reason: str
    history: list[float]
    cov_z: Tensor | None = None
    laplace_seconds: float = 0.0

    @property
    def names(self) -> list[str]:
        return self.problem.names

    @property
    def x_start(self) -> np.ndarray:
        return self.problem.x_of(self.z_start).detach().numpy()

    @property
    def x(self) -> np.ndarray:
        return self.problem.x_of(self.z).detach().numpy()

    @property
    def sd_z(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov_z.numpy())) if self.cov_z is not None else np.full(len(self.names), np.nan)

    def interval(self, k: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """x(z* − kσ_z), x(z* + kσ_z) per parameter (k = 1: 16th and 84th percentiles)."""
        sd = torch.as_tensor(self.sd_z, dtype=DTYPE)
        lo, hi = self.problem.x_of(self.z - k * sd).detach().numpy(), self.problem.x_of(self.z + k * sd).detach().numpy()
        return np.minimum(lo, hi), np.maximum(lo, hi)

    @property
    def sd_x(self) -> np.ndarray:
        """Delta-method standard deviation |dx/dz| σ_z."""
        return np.abs(_dx_dz(self.problem, self.z)) * self.sd_z

    @property
    def correlation(self) -> np.ndarray:
        sd = self.sd_z
        return self.cov_z.numpy() / np.outer(sd, sd)

    def table(self) -> pd.DataFrame:
        lo, hi = self.interval()
        return pd.DataFrame({"name": self.names, "prior": [p.describe() for p in self.problem.priors],
                             "start": self.x_start, "fitted": self.x, "sd": self.sd_x, "p16": lo, "p84": hi})


def _dx_dz(problem: Problem, z: Tensor) -> np.ndarray:
    out = []
    for j, prior in enumerate(problem.priors):
        zj = z[j].detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(prior.to_x(zj), zj, allow_unused=True)
        out.append(0.0 if g is None else float(g))
    return np.array(out)


def loss_and_gradient(problem: Problem, z: Tensor) -> tuple[float, Tensor]:
    """L(z) and dL/dz through the simulation (training observations only)."""
    z = z.detach().clone().requires_grad_(True)
    x = problem.x_of(z)
    params = problem.parameters(x)
    params.enable_grad(problem.names)
    r = problem.residuals(problem.predict(params))[0][torch.as_tensor(problem.train)]
    data_loss = 0.5 * (r * r).sum()
    if not torch.isfinite(data_loss):
        return math.inf, torch.zeros_like(z)
    if data_loss.requires_grad:
        data_loss.backward()
    grads = []
    for name in problem.names:
        g = params[name].grad
        if g is None:
            raise FitError(f"{name} gets no gradient: the enabled modules do not read it inside the simulation "
                           "(a run setting, a switch or a table size read as a plain number, or a parameter of a "
                           f"module that is off: {', '.join(problem.switched_off) or 'none'} switched off)")
        if not torch.isfinite(g).all():
            raise FitError(f"{name} gets a non-finite gradient ({float(g[0])}) at the start of the fit")
        grads.append(g[0])
    g_x = torch.stack(grads)
    prior = 0.5 * z @ problem.precision @ z
    (x * g_x).sum().add(prior).backward()
    return float(data_loss.detach() + prior.detach()), z.grad.detach()


def fit(problem: Problem, start: dict[str, float] | None = None, method: str = "lbfgs", max_iter: int = 100,
        rtol: float = 1e-6, gtol: float = 1e-5, lr: float = 0.05, progress: bool | Callable = False,
        laplace: bool = True) -> FitResult:
    """Minimise L(z) from ``start`` (default the scenario's central values) with L-BFGS (strong
    Wolfe line search) or Adam; stop when the relative change of the loss is below ``rtol`` or the
    gradient norm below ``gtol``."""
    if method not in ("lbfgs", "adam"):
        raise FitError(f"unknown method {method!r} (lbfgs or adam)")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a batch of one: intra-op threads only add contention (1.5x faster on 2 cores)
    try:
        return _fit(problem, start, method, max_iter, rtol, gtol, lr, progress, laplace)
    finally:
        torch.set_num_threads(threads)


def _fit(problem, start, method, max_iter, rtol, gtol, lr, progress, laplace) -> FitResult:
    started = time.perf_counter()
    z0 = problem.z_of(start)
    z = z0.clone().requires_grad_(True)
    evaluations = 0
    history: list[float] = []
    bar = _progress_bar(progress, max_iter, method)
    last = {}

    memo: dict[bytes, tuple[float, Tensor]] = {}

    def closure():
        nonlocal evaluations
        key = z.detach().numpy().tobytes()
        if key not in memo:  # L-BFGS's line search ends on an evaluated point: do not pay for it twice
            memo[key] = loss_and_gradient(problem, z)
            evaluations += 1
        loss, grad = memo[key]
        z.grad = grad.clone()
        last["loss"], last["grad"] = loss, grad
        return torch.tensor(loss, dtype=DTYPE)

    if method == "lbfgs":
        opt = torch.optim.LBFGS([z], lr=1.0, max_iter=1, history_size=20, line_search_fn="strong_wolfe",
                                tolerance_grad=0.0, tolerance_change=0.0)
    else:
        opt = torch.optim.Adam([z], lr=lr)
    closure()
    loss_start = last["loss"]
    if not math.isfinite(loss_start):
        raise FitError("the loss is not finite at the start values (a prediction is not positive or not finite)")
    history.append(loss_start)
    converged, reason, iterations = False, f"reached --max-iter {max_iter}", 0
    previous = loss_start
    for iterations in range(1, max_iter + 1):
        if method == "lbfgs":
            opt.step(closure)
            closure()  # loss and gradient at the new point (from the memo when the line search evaluated it)
        else:
            opt.step()
            closure()
        current = last["loss"]
        history.append(current)
        if bar is not None:
            bar(iterations, current)
        grad_norm = float(last["grad"].norm())
        if grad_norm < gtol:
            converged, reason = True, f"gradient norm {grad_norm:.1e} < {gtol:g}"
            break
        if abs(previous - current) <= rtol * max(abs(current), 1e-12) and method == "lbfgs":
            converged, reason = True, f"relative change of the loss {abs(previous - current) / max(abs(current), 1e-12):.1e} < {rtol:g}"
            break
        previous = current
    result = FitResult(problem, method, z0, z.detach().clone(), loss_start, last["loss"], iterations, evaluations,
                       time.perf_counter() - started, converged, reason, history)
    if bar is not None:
        bar(None, None)
    if laplace:
        t = time.perf_counter()
        result.cov_z = laplace_covariance(problem, result.z)
        result.laplace_seconds = time.perf_counter() - t
    return result


def _progress_bar(progress, total: int, method: str):
    if callable(progress):
        return progress
    if not progress:
        return None
    from tqdm import tqdm

    bar = tqdm(total=total, desc=f"fit ({method})", unit="it", leave=False)

    def update(iteration, loss):
        if iteration is None:
            bar.close()
            return
        bar.n = iteration
        bar.set_postfix(loss=f"{loss:.6g}")
        bar.refresh()

    return update


def jacobian(problem: Problem, z: Tensor) -> Tensor:
    """J = ∂r/∂z [n_train, k] from one batched simulation (copy b carries the gradient of r_b)."""
    rows = np.flatnonzero(problem.train)
    x = problem.x_of(z.detach()).expand(len(rows), -1)
    params = problem.parameters(x)
    params.enable_grad(problem.names)
    r = problem.residuals(problem.predict(params))
    picked = r[torch.arange(len(rows)), torch.as_tensor(rows)]
    picked.sum().backward()
    g_x = torch.stack([params[n].grad if params[n].grad is not None else torch.zeros(len(rows), dtype=DTYPE)
                       for n in problem.names], dim=1)
    return g_x * torch.as_tensor(_dx_dz(problem, z), dtype=DTYPE)


def laplace_covariance(problem: Problem, z: Tensor) -> Tensor:
    """Σ_z = (JᵀJ + R⁻¹)⁻¹ (pseudo-inverse where the data and the prior leave a direction free)."""
    J = jacobian(problem, z)
    H = J.T @ J + problem.precision
    try:
        return torch.linalg.inv(H)
    except RuntimeError:
        return torch.linalg.pinv(H)


def predictions(result: FitResult) -> pd.DataFrame:
    """Every observation (training and held out) with the model before and after the fit."""
    problem = result.problem
    with torch.no_grad():
        x = torch.stack([problem.x_of(result.z_start), problem.x_of(result.z)])
        model = problem.predict(problem.parameters(x))
        err = problem.log_errors(model).numpy()
        res = problem.residuals(model).numpy()
    out = problem.observations[["series", "label", "metric", "year", "value", "sigma", "space"]].copy()
    out["used_in_fit"] = problem.train
    out["model_before"], out["model_after"] = model[0].numpy(), model[1].numpy()
    out["log_error_before"], out["log_error_after"] = err[0], err[1]
    out["z_before"], out["z_after"] = res[0], res[1]
    return out


def backtest_summary(pred: pd.DataFrame) -> pd.DataFrame:
    """RMS log error and RMS standardised error per series, for fitted and held-out points,
    before (uncalibrated scenario) and after the fit."""
    rows = []
    for (series, used), g in pred.groupby(["series", "used_in_fit"], sort=False):
        rows.append({"series": series, "points": "fitted" if used else "held out", "n": len(g),
                     "rms_log_error_uncalibrated": float(np.sqrt(np.mean(g.log_error_before ** 2))),
                     "rms_log_error_fitted": float(np.sqrt(np.mean(g.log_error_after ** 2))),
                     "rms_z_uncalibrated": float(np.sqrt(np.mean(g.z_before ** 2))),
                     "rms_z_fitted": float(np.sqrt(np.mean(g.z_after ** 2)))})
    return pd.DataFrame(rows)


def calibrate(scenario: str, names: list[str], **kwargs) -> FitResult:
    """``setup`` then ``fit`` (keyword arguments go to whichever takes them)."""
    setup_keys = {"data", "until", "overrides", "step", "switch_off_unused", "sota_only"}
    problem = setup(scenario, names, **{k: v for k, v in kwargs.items() if k in setup_keys})
    return fit(problem, **{k: v for k, v in kwargs.items() if k not in setup_keys})


__all__ = ["FitError", "FitResult", "ParameterError", "Problem", "backtest_summary", "calibrate", "fit",
           "jacobian", "laplace_covariance", "loss_and_gradient", "predictions", "setup"]

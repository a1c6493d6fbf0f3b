"""Gradient check: autograd against central finite differences for every CSV parameter.

The checked output is one smooth scalar of a whole run,

    J(θ) = Σ_m Σ_t w_m · asinh(metric_m(t)),

over every recorded world metric at a few output years (w_m fixed pseudo-random weights in
[0.5, 1.5], so that no two metrics cancel). autograd gives ∂J/∂θ for all parameters in one
backward pass; the finite differences of all of them come from **one batched simulation**
(rows θ ± h e_j; one-sided second-order differences where θ − h would leave the parameter's
hard bounds), h = 1e-5 · max(|θ_j|, 1e-3).

A parameter passes when the relative error |g_ad − g_fd| / max(|g_ad|, |g_fd|) is below 1e-3,
or both derivatives are negligible (|g| · max(|θ|, h) < 1e-9 (1 + |J|)). Parameters without an
autograd gradient are listed with the reason (a run setting read once as a plain number, a
switch, a table size, a module that is off, a discrete choice).
"""

from __future__ import annotations

import math
import re
import time
import warnings

import numpy as np
import pandas as pd
import torch

from sim import metrics_catalog
from sim.parameters import ParameterError, Scenario, SimulationParameters, load_scenario
from sim.parameters.distributions import Choice
from sim.simulate import simulate

DTYPE = torch.float64
TOLERANCE = 1e-3
_SETTING = re.compile(r"(^simulation\.|\.enabled$|_grid_points$|_step_years$|^economy\.automation_source$)")


def _functional(traj, weights: dict[str, float]) -> torch.Tensor:
    total = 0.0
    for name, w in weights.items():
        series = traj.series.get(name)
        if series is None:
            continue
        total = total + w * torch.asinh(series).sum(dim=1)
    return total


def _weights(names: list[str], seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    return {n: float(w) for n, w in zip(names, rng.uniform(0.5, 1.5, len(names)))}


def gradient_check(scenario: str | Scenario = "aifm_eli", years: tuple[float, ...] = (2025.0, 2026.5, 2028.0),
                   overrides: dict[str, float] | None = None, names: list[str] | None = None,
                   rel_step: float = 1e-5) -> pd.DataFrame:
    """One row per parameter: value, autograd and finite-difference derivatives of J, relative
    error, status (``ok``, ``zero``, ``mismatch``, ``non-finite``, ``no gradient``) and reason."""
    scen = scenario if isinstance(scenario, Scenario) else load_scenario(scenario, overrides)
    started = time.perf_counter()
    base = scen.central()
    names = list(names) if names is not None else list(base.names)
    end = max(years) + 0.5
    base = base.with_values(simulation__end_year=end)
    grid = torch.tensor(sorted(years), dtype=DTYPE)
    weights = _weights([m.name for m in metrics_catalog.world_metrics()])

    failed: dict[str, str] = {}
    autograd = _autograd(scen, base, grid, weights, names, failed)
    J = torch.tensor(autograd.pop("__J__"))

    with_grad = [n for n in names if autograd[n] is not None or n in failed]
    model = scen.model_parameters
    rows_values, plan = [], []
    x0 = {n: float(base[n][0]) for n in with_grad}
    for n in with_grad:
        spec = model.spec_for(n)
        h = rel_step * max(abs(x0[n]), 1e-3)
        if x0[n] - h >= spec.minimum and x0[n] + h <= spec.maximum:
            offsets, coef = (h, -h), (0.5 / h, -0.5 / h)
        elif x0[n] + 2 * h <= spec.maximum:
            offsets, coef = (0.0, h, 2 * h), (-1.5 / h, 2.0 / h, -0.5 / h)
        else:
            offsets, coef = (0.0, -h, -2 * h), (1.5 / h, -2.0 / h, 0.5 / h)
        plan.append((n, len(rows_values), coef))
        rows_values.extend((n, off) for off in offsets)
    fd: dict[str, float] = {}
    scalar_read: set[str] = set()
    while plan:
        batch = len(rows_values)
        values = {k: base[k].detach().expand(batch).clone() for k in base.names}
        for i, (n, off) in enumerate(rows_values):
            values[n][i] = x0[n] + off
        try:
            with torch.no_grad():
                out = _functional(simulate(SimulationParameters(values, base.actors), scen, grid), weights)
        except ParameterError as err:  # read as one run-wide number somewhere: no per-sample difference
            if err.field not in x0 or err.field in scalar_read:
                raise
            scalar_read.add(err.field)
            plan, rows_values = _drop(plan, rows_values, err.field)
            continue
        for n, first, coef in plan:
            fd[n] = float(sum(c * out[first + k] for k, c in enumerate(coef)))
        break

    rows = []
    scale = 1.0 + abs(float(J))
    for n in names:
        spec = model.spec_for(n)
        value = float(base[n][0])
        ga = autograd[n]
        if n in failed:
            rows.append(dict(name=n, value=value, autograd=np.nan, finite_difference=fd.get(n, np.nan),
                             rel_error=np.nan, status="backward fails", reason=failed[n]))
            continue
        if ga is None:
            rows.append(dict(name=n, value=value, autograd=np.nan, finite_difference=np.nan, rel_error=np.nan,
                             status="no gradient", reason=_reason(n, spec, base)))
            continue
        if n in scalar_read:
            rows.append(dict(name=n, value=value, autograd=ga, finite_difference=np.nan, rel_error=np.nan,
                             status="setting", reason="also read as one run-wide number (params.scalar): it must "
                             "not vary by sample, so it has no per-sample finite difference"))
            continue
        gf = fd[n]
        if not (math.isfinite(ga) and math.isfinite(gf)):
            status, rel, reason = "non-finite", np.nan, "autograd or finite difference is not finite"
        else:
            big = max(abs(ga), abs(gf))
            if big * max(abs(value), rel_step) < 1e-9 * scale:
                status, rel, reason = "zero", 0.0, "no effect on the checked output (both derivatives negligible)"
            else:
                rel = abs(ga - gf) / big
                status, reason = ("ok", "") if rel < TOLERANCE else ("mismatch", "")
        rows.append(dict(name=n, value=value, autograd=ga, finite_difference=gf, rel_error=rel, status=status,
                         reason=reason))
    table = pd.DataFrame(rows)
    table.attrs.update(J=float(J), seconds=time.perf_counter() - started, scenario=scen.name, years=list(years),
                       batch=len(rows_values))
    return table


def _drop(plan, rows_values, name):
    """The finite-difference plan without ``name``'s rows (row offsets renumbered)."""
    kept_rows = [r for r in rows_values if r[0] != name]
    new_plan, position = [], 0
    for n, _, coef in plan:
        if n == name:
            continue
        new_plan.append((n, position, coef))
        position += len(coef)
    return new_plan, kept_rows


def _autograd(scen, base, grid, weights, names, failed) -> dict:
    """∂J/∂θ for ``names`` in one backward pass; where the backward pass raises (an in-place write
    on a tensor autograd needs), bisect the names to find the parameters that cause it."""
    params = base.with_values()
    params.enable_grad(names)
    traj = simulate(params, scen, grid)
    J = _functional(traj, weights)[0]
    if not J.requires_grad:  # none of these names reaches the output
        return {**{n: None for n in names}, "__J__": float(J)}
    try:
        J.backward()
    except RuntimeError as err:
        if len(names) == 1:
            failed[names[0]] = "backward pass raises: " + str(err).split(". Hint")[0].split(": [torch")[0] + \
                _forward_site(scen, base, grid, weights, names[0])
            return {names[0]: None, "__J__": float(J.detach())}
        half = len(names) // 2
        out = _autograd(scen, base, grid, weights, names[:half], failed)
        out.update(_autograd(scen, base, grid, weights, names[half:], failed))
        return out
    out = {n: (None if params[n].grad is None else float(params[n].grad[0])) for n in names}
    out["__J__"] = float(J.detach())
    return out


def _forward_site(scen, base, grid, weights, name) -> str:
    """Where in the updaters the tensor of a failing backward pass was made (anomaly mode)."""
    params = base.with_values()
    params.enable_grad([name])
    with warnings.catch_warnings(record=True) as caught, torch.autograd.detect_anomaly():
        warnings.simplefilter("always")
        try:
            _functional(simulate(params, scen, grid), weights)[0].backward()
        except RuntimeError:
            pass
    sites = []
    for w in caught:
        sites += re.findall(r'File "[^"]*/(sim/updaters/[^"]+)", line (\d+)', str(w.message))
    return f" (made at {sites[-1][0]}:{sites[-1][1]})" if sites else ""


#: Parameters whose lack of a gradient is a documented modelling choice.
KNOWN = {
    "compute.slowdown_year": "applied on the input series' yearly node grid (parameters/compute.csv): a step, "
                             "piecewise constant in the parameter",
    "software_rnd.include_gap": "discrete switch (choice 0/1): selects a branch",
}


def _reason(name: str, spec, params: SimulationParameters) -> str:
    module = name.split(".", 1)[0]
    if name in KNOWN:
        return KNOWN[name]
    switch = f"{module}.enabled"
    if isinstance(spec.distribution, Choice) and "include_gap" in name:
        return "discrete switch (choice): enters through a branch, not smoothly"
    if switch in params and params.scalar(switch) == 0 and not name.endswith(".enabled"):
        return f"module {module} is switched off in this run"
    if _SETTING.search(name):
        return "run setting, module switch or table size: read once as a plain number (must not vary by sample)"
    return ("not read by the derivatives or the recorded series (milestone or classifier thresholds, a reference "
            "year read as a number, a branch not taken)")


def summary(table: pd.DataFrame) -> dict[str, int]:
    return {k: int(v) for k, v in table["status"].value_counts().items()}

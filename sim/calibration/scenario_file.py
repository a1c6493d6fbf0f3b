"""Write a fit as a scenario file (``parameters/scenarios`` format) and as JSON for the dashboard.

The scenario is the base scenario's own rows plus one row per fitted parameter: its MAP value
and, as its distribution, the Laplace posterior marginal (lognormal where the prior is lognormal
or the parameter positive and unbounded, else normal; 80% interval from σ_z). The posterior
correlations do not fit the scenario format; they are listed in the file's comments and the JSON.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from sim.calibration.fit import FitResult, backtest_summary, predictions
from sim.parameters.actors import companion_actors_file
from sim.parameters.distributions import Z90
from sim.parameters.table import read_csv_rows

HEADER = ("name", "value", "distribution", "low", "high", "shift", "description", "source")


def posterior_rows(result: FitResult, source: str) -> list[dict[str, str]]:
    rows = []
    for j, (prior, x, sd_z, sd_x) in enumerate(zip(result.problem.priors, result.x, result.sd_z, result.sd_x)):
        d = prior.spec.distribution
        row = {"name": prior.spec.name, "value": f"{x:.10g}", "shift": "", "source": source,
               "description": f"MAP fit (posterior median; prior {prior.describe()}); Laplace 16-84%: "
                              f"{result.interval()[0][j]:.4g} - {result.interval()[1][j]:.4g}"}
        if not math.isfinite(sd_z) or sd_z <= 0:
            row.update(distribution="point", low="", high="")
        elif prior.kind == "lognormal":
            core = x - d.shift
            row.update(distribution="lognormal", low=f"{core * math.exp(-Z90 * sd_z * _log_slope(prior)):.10g}",
                       high=f"{core * math.exp(Z90 * sd_z * _log_slope(prior)):.10g}",
                       shift=f"{d.shift:g}" if d.shift else "")
        elif prior.kind == "point_log":
            row.update(distribution="lognormal", low=f"{x * math.exp(-Z90 * sd_z):.10g}",
                       high=f"{x * math.exp(Z90 * sd_z):.10g}")
        else:
            row.update(distribution="normal", low=f"{x - Z90 * sd_x:.10g}", high=f"{x + Z90 * sd_x:.10g}")
        rows.append(row)
    return rows


def _log_slope(prior) -> float:
    """σ of ln(x − shift) per unit z of a lognormal prior."""
    d = prior.spec.distribution
    return (math.log(d.high) - math.log(d.low)) / (2 * Z90)


def write_scenario(result: FitResult, path: str | Path, command: str = "") -> Path:
    """The fitted scenario at ``path`` (and the base scenario's actors file beside it, if any)."""
    path = Path(path)
    problem = result.problem
    base_path = problem.scenario.path
    fitted = set(result.names)
    base_rows: list[dict[str, str]] = []
    if base_path is not None and base_path.exists():
        _, rows, _ = read_csv_rows(base_path)
        base_rows = [row for _, row in rows if row.get("name") not in fitted]
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    data = ", ".join(sorted({Path(f).name for f in problem.observations["file"]}))
    comments = [
        f"Calibrated {problem.scenario.name}: {', '.join(result.names)} fitted to {data}"
        + (f" up to {problem.until:g}" if problem.until is not None else "") + " (MAP, Laplace posterior).",
        f"Made by `python -m sim calibrate` on {when}" + (f": {command}" if command else "") + ".",
        f"Loss {result.loss_start:.6g} -> {result.loss:.6g} in {result.iterations} {result.method} iterations "
        f"({result.evaluations} simulations, {result.wall_seconds:.1f} s); {result.reason}.",
        "Posterior correlations (Laplace): " + "; ".join(
            f"{a} ~ {b}: {result.correlation[i, j]:+.2f}" for i, a in enumerate(result.names)
            for j, b in enumerate(result.names) if j > i),
        f"Base scenario rows follow (from {base_path.name if base_path else 'the module CSVs'}), then the fitted rows.",
    ]
    buffer = io.StringIO()
    for line in comments:
        buffer.write(f"# {line}\n")
    writer = csv.DictWriter(buffer, fieldnames=HEADER, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in base_rows + posterior_rows(result, f"calibration fit ({when}) to {data}"):
        writer.writerow({k: row.get(k, "") for k in HEADER})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    if base_path is not None and companion_actors_file(base_path).exists():
        shutil.copyfile(companion_actors_file(base_path), companion_actors_file(path))
    return path


def result_dict(result: FitResult, backtest: bool = True) -> dict:
    """Everything the report and the dashboard show, JSON-ready."""
    pred = predictions(result)
    problem = result.problem
    table = result.table()
    out = {
        "scenario": problem.scenario.name, "fit": result.names, "until": problem.until, "method": result.method,
        "loss_start": result.loss_start, "loss": result.loss, "iterations": result.iterations,
        "evaluations": result.evaluations, "wall_seconds": result.wall_seconds,
        "laplace_seconds": result.laplace_seconds, "converged": result.converged, "reason": result.reason,
        "switched_off": problem.switched_off, "step": problem.step, "history": result.history,
        "parameters": json.loads(table.to_json(orient="records")),
        "correlation": np.round(result.correlation, 6).tolist(),
        "predictions": json.loads(pred.to_json(orient="records")),
    }
    if backtest:
        out["backtest"] = json.loads(backtest_summary(pred).to_json(orient="records"))
    return out


def write_json(result: FitResult, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result_dict(result), indent=1, allow_nan=True), encoding="utf-8")
    return path

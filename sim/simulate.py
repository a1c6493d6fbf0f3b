"""``simulate``: integrate the world for a batch of parameter sets and return a Trajectory."""

from __future__ import annotations

import contextlib
import time as _time
from typing import Callable

import torch
from torch import Tensor

from sim import metrics_catalog
from sim.parameters import Scenario, SimulationParameters
from sim.solver import integrate_rk4, integrate_torchdiffeq
from sim.trajectory import Trajectory, mask_after_status
from sim.updaters import Combined, SeriesView, available_updaters

DTYPE = torch.float64


def default_grid(params: SimulationParameters) -> Tensor:
    """Output years from ``simulation.start_year`` to ``simulation.end_year`` every ``output_step_years``."""
    start = params.scalar("simulation.start_year")
    end = params.scalar("simulation.end_year")
    step = params.scalar("simulation.output_step_years")
    if end <= start:
        raise ValueError(f"simulation.end_year ({end:g}) must be after simulation.start_year ({start:g})")
    n = int(round((end - start) / step))
    grid = start + step * torch.arange(n + 1, dtype=DTYPE)
    if grid[-1] < end - 1e-9:
        grid = torch.cat([grid, torch.tensor([end], dtype=DTYPE)])
    return grid


def simulate(
    params: SimulationParameters,
    scenario: Scenario | str | None = None,
    t_grid: Tensor | None = None,
    *,
    method: str = "rk4",
    step: float | None = None,
    record: list[str] | None = None,
    progress: Callable[[float], None] | None = None,
) -> Trajectory:
    """Simulate ``params.batch_size`` worlds at once.

    Args:
        params: one tensor ``[B]`` per parameter (``scenario.sample(n, seed)`` or ``.central()``).
        scenario: the scenario (or its name), recorded on the trajectory.
        t_grid: output years ``[T]``; default from the ``simulation.*`` parameters. Integration
            always starts at ``simulation.start_year`` (the models calibrate from there); output
            points before it are not allowed.
        method: ``"rk4"`` (batched fixed step with per-sample events and divergence flags) or
            any torchdiffeq method name (e.g. ``"dopri5"``) as an accuracy reference.
        step: RK4 step in years (default ``simulation.solver_step_years``).
        record: metric names to keep (default: the whole catalogue).
        progress: callback receiving the fraction done.

    Gradients flow when any parameter has ``requires_grad`` (see ``SimulationParameters.enable_grad``).
    """
    started = _time.perf_counter()
    scenario_name = scenario if isinstance(scenario, str) else (scenario.name if scenario is not None else "")
    start = params.scalar("simulation.start_year")
    grid = default_grid(params) if t_grid is None else torch.as_tensor(t_grid, dtype=DTYPE)
    if grid.dim() != 1 or len(grid) < 2 or not torch.all(grid[1:] > grid[:-1]):
        raise ValueError("t_grid must be a strictly increasing 1-D tensor of at least two years")
    if grid[0] < start - 1e-9:
        raise ValueError(f"t_grid starts at {float(grid[0]):g}, before simulation.start_year {start:g}")
    prepend = bool(grid[0] > start + 1e-9)
    integration_grid = torch.cat([torch.tensor([start], dtype=DTYPE), grid]) if prepend else grid

    catalogue = [m for m in metrics_catalog.metrics() if record is None or m.name in record]
    needs_grad = any(params[n].requires_grad for n in params.names)
    grad_context = contextlib.nullcontext() if needs_grad else torch.no_grad()

    with grad_context:
        system = Combined(available_updaters(params))
        world0 = system.prepare(params, start)
        probe = system.compute_metrics(world0.time, world0)
        catalogue = [m for m in catalogue if _has_path(probe, m.path)]
        recorded: dict[str, list[Tensor]] = {m.name: [] for m in catalogue}

        def on_output(k: int, t: Tensor, y: Tensor) -> None:
            if prepend and k == 0:
                return
            world = system.compute_metrics(t, system.world(y))
            for m in catalogue:
                recorded[m.name].append(world.get(m.path))

        step_size = step if step is not None else params.scalar("simulation.solver_step_years")
        y0 = world0.to_state_tensor()
        if method == "rk4":
            cap = params.scalar("simulation.singularity_rate_cap") if "simulation.singularity_rate_cap" in params \
                else float("inf")
            result = integrate_rk4(system, y0, integration_grid, step_size, on_output, rate_cap=cap,
                                   progress=progress)
        else:
            result = integrate_torchdiffeq(system, y0, integration_grid, method, on_output, progress=progress)

        series = {name: torch.stack(values, dim=1) for name, values in recorded.items()}
        series = mask_after_status(series, grid, result.stopped_at)
        view = SeriesView(series, {m.name: m.path for m in catalogue})
        milestones: dict[str, Tensor] = {}
        run_metrics: dict[str, Tensor] = {}
        classes: dict[str, list[str]] = {}
        status = [("ok", "diverged", "singularity")[int(c)] for c in result.status]
        for updater in system.updaters:
            milestones.update(updater.milestones(grid, view))
            run_metrics.update(updater.run_metrics(grid, view))
            classes.update(updater.classify(grid, view, status, result.status_year))

    return Trajectory(
        years=grid, series=series, milestones=milestones, status_code=result.status,
        status_year=result.status_year, run_metrics=run_metrics, classes=classes,
        event_times=result.event_times, scenario=scenario_name,
        wall_seconds=_time.perf_counter() - started, solver_steps=result.steps,
    )


def _has_path(world, path: str) -> bool:
    """Whether a catalogue path exists in this world (modules can be switched off)."""
    try:
        return world.get(path) is not None
    except (KeyError, AttributeError):
        return False

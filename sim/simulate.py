"""``simulate``: integrate the world for a batch of parameter sets and return a Trajectory."""

from __future__ import annotations

import contextlib
import threading
import time as _time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import torch
from torch import Tensor

from sim import metrics_catalog
from sim.parameters import Scenario, SimulationParameters
from sim.solver import integrate_rk4, integrate_torchdiffeq
from sim.trajectory import Trajectory, mask_after_status
from sim.updaters import Combined, SeriesView, available_updaters

DTYPE = torch.float64
_THREADS_LOCK = threading.Lock()


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
    workers: int | None = None,
    compiled: bool = False,
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
        step: RK4 step in years (default ``simulation.solver_step_years``). A step longer than the
            output spacing is allowed: outputs inside a step are read off its cubic Hermite
            interpolant (see ``sim.solver.integrate_rk4``; accuracy in ``bench/RESULTS.md``).
        record: metric names to keep (default: the whole catalogue). Series a module needs for its
            milestones or classes (``StateUpdater.required_series``) are always kept.
        progress: callback receiving the fraction done.
        workers: split the batch into this many shards simulated in parallel threads (torch
            kernels release the GIL; torch's own intra-op threads only engage on tensors above
            32k elements, which a [B] state is not). Results are identical to one call (samples
            are independent); ignored when gradients are needed. Default 1: on the 2-vCPU
            machine this project is measured on, 2 shards of 1,000 took 2x *longer* than one
            batch of 2,000 (GIL contention), and even two separate processes gained nothing
            (the vCPUs share one core), so it only pays on machines with real spare cores.

        compiled: run the right-hand side and the metric pass under ``torch.compile``
            (``sim/compiled.py``): about 3x faster per evaluation, results equal to rounding
            (~1e-10 relative). Each new batch size compiles once per process (seconds to a minute),
            so it pays for long runs and for processes that simulate repeatedly (a dashboard
            server, a pipeline of equal chunks). RK4 only, and not with gradients.

    Gradients flow when any parameter has ``requires_grad`` (see ``SimulationParameters.enable_grad``).
    """
    needs_grad = any(params[n].requires_grad for n in params.names)
    batch = params.batch_size
    if workers is None:
        workers = 1
    if compiled and (needs_grad or method != "rk4"):
        raise ValueError("simulate(compiled=True) runs the RK4 solver without gradients; "
                         "drop compiled=True for gradients or other methods")
    if needs_grad or workers <= 1 or batch < 2:
        return _simulate_batch(params, scenario, t_grid, method=method, step=step, record=record, progress=progress,
                               compiled=compiled)
    return _simulate_sharded(params, scenario, t_grid, min(workers, batch), method=method, step=step, record=record,
                             progress=progress, compiled=compiled)


def _simulate_sharded(params, scenario, t_grid, workers: int, *, progress=None, **kwargs) -> Trajectory:
    """``simulate`` on contiguous shards of the batch in parallel threads, joined in order."""
    started = _time.perf_counter()
    bounds = [round(i * params.batch_size / workers) for i in range(workers + 1)]
    shards = [params.select(torch.arange(a, b)) for a, b in zip(bounds[:-1], bounds[1:])]
    done = [0.0] * workers

    def run(i: int) -> Trajectory:
        def report(fraction: float) -> None:
            done[i] = fraction
            if progress is not None and i == 0:  # one reporter: callbacks need not be thread-safe
                progress(min(done))
        return _simulate_batch(shards[i], scenario, t_grid, progress=report, **kwargs)

    with _THREADS_LOCK:  # intra-op threads off while the shards run (the cores are theirs)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                parts = list(pool.map(run, range(workers)))
        finally:
            torch.set_num_threads(threads)
    if progress is not None:
        progress(1.0)
    joined = Trajectory.concat(parts)
    joined.wall_seconds = _time.perf_counter() - started
    return joined


def _simulate_batch(
    params: SimulationParameters,
    scenario: Scenario | str | None = None,
    t_grid: Tensor | None = None,
    *,
    method: str = "rk4",
    step: float | None = None,
    record: list[str] | None = None,
    progress: Callable[[float], None] | None = None,
    compiled: bool = False,
) -> Trajectory:
    """One batched integration (``simulate``'s work)."""
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

    needs_grad = any(params[n].requires_grad for n in params.names)
    grad_context = contextlib.nullcontext() if needs_grad else torch.no_grad()

    with grad_context:
        system = Combined(available_updaters(params))
        # milestones and classes are computed from recorded series: always keep those the modules need
        required = {name for u in system.updaters for name in getattr(u, "required_series", ())}
        wanted = [m for m in metrics_catalog.metrics() if record is None or m.name in record or m.name in required]
        world0 = system.prepare(params, start, stateless=compiled)
        probe = system.observe(world0.time, system.layout.pack(dict(world0.state_items()), world0.time))
        # (key, world path, per-actor?) of every recorded series
        slots = [(m.name, m.path, False) for m in wanted if m.path and _has_path(probe, m.path)]
        slots += [(m.name, m.actor_path, True) for m in wanted if m.actors and _has_path(probe, m.actor_path)]
        n_out = len(grid)
        # Without gradients each metric goes into one preallocated time-major buffer [T, B(, A)]:
        # keeping every step's tensor and stacking them at the end touches twice the memory, which
        # at 10,000 samples cost seconds in page faults alone.
        buffers: dict[tuple[str, bool], Tensor] = {}
        recorded: dict[tuple[str, bool], list[Tensor]] = {(name, per_actor): [] for name, _, per_actor in slots}

        def record_metrics(k: int, t: Tensor, world) -> None:
            if prepend:
                if k == 0:
                    return
                k -= 1
            for name, path, per_actor in slots:
                value = world.get(path)
                key = (name, per_actor)
                if needs_grad:
                    recorded[key].append(value)
                    continue
                buffer = buffers.get(key)
                if buffer is None:
                    buffer = buffers[key] = torch.empty((n_out,) + tuple(value.shape), dtype=value.dtype)
                buffer[k] = value

        def on_output(k: int, t: Tensor, y: Tensor) -> None:
            record_metrics(k, t, system.observe(t, y))

        step_size = step if step is not None else params.scalar("simulation.solver_step_years")
        y0 = system.state_of(world0)
        if method == "rk4":
            cap = params.scalar("simulation.singularity_rate_cap") if "simulation.singularity_rate_cap" in params \
                else float("inf")
            solver_system = system
            if compiled:
                from sim.compiled import CompiledSystem

                trigger_paths = ([path for path, _ in probe.metric_items()] + list(system.layout.paths)
                                 if system.events() else [])
                solver_system = CompiledSystem(system, [path for _, path, _ in slots], trigger_paths)
            result = integrate_rk4(solver_system, y0, integration_grid, step_size, on_output, rate_cap=cap,
                                   progress=progress, record_metrics=record_metrics)
        else:
            result = integrate_torchdiffeq(system, y0, integration_grid, method, on_output, progress=progress)

        def time_last(x: Tensor) -> Tensor:  # [T, B(, A)] -> [B(, A), T]
            return x.permute(*range(1, x.dim()), 0)

        if needs_grad:
            stacked = {key: time_last(torch.stack(values, dim=0)) for key, values in recorded.items()}
        else:
            stacked = {key: time_last(buffers[key]) for key in recorded}
        stacked = mask_after_status(stacked, grid, result.stopped_at)
        series = {name: v for (name, per_actor), v in stacked.items() if not per_actor}
        actor_series = {name: v for (name, per_actor), v in stacked.items() if per_actor}
        view = SeriesView(series, {name: path for name, path, per_actor in slots if not per_actor})
        actor_view = SeriesView(actor_series, {name: path for name, path, per_actor in slots if per_actor})
        milestones: dict[str, Tensor] = {}
        actor_milestones: dict[str, Tensor] = {}
        run_metrics: dict[str, Tensor] = {}
        classes: dict[str, list[str]] = {}
        status = [("ok", "diverged", "singularity")[int(c)] for c in result.status]
        for updater in system.updaters:
            milestones.update(updater.milestones(grid, view))
            actor_milestones.update(updater.actor_milestones(grid, actor_view))
            run_metrics.update(updater.run_metrics(grid, view))
            classes.update(updater.classify(grid, view, status, result.status_year))

    return Trajectory(
        years=grid, series=series, milestones=milestones, status_code=result.status,
        status_year=result.status_year, run_metrics=run_metrics, classes=classes,
        event_times=result.event_times, events=result.event_log, scenario=scenario_name,
        actors={"nation": params.actors.nations, "project": params.actors.projects},
        actor_series=actor_series, actor_kinds={m.name: m.actors for m in wanted if m.name in actor_series},
        actor_milestones=actor_milestones,
        actor_owners=dict(zip(params.actors.projects, params.actors.owners)),
        wall_seconds=_time.perf_counter() - started, solver_steps=result.steps,
    )


def _has_path(world, path: str) -> bool:
    """Whether a catalogue path exists in this world (modules can be switched off)."""
    try:
        return world.get(path) is not None
    except (KeyError, AttributeError):
        return False

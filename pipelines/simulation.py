"""Adapter to the simulator: the only module of ``pipelines`` that imports ``sim``.

Everything the store needs from a simulation passes through here as plain pandas frames keyed by
``sample_index`` (``-1`` is the scenario's deterministic central run), so a change in the
simulator's API is a change in this file only.

Determinism: :func:`sample` draws all ``n`` parameter sets of an ensemble at once
(``scenario.sample(n, seed)``) and chunks are row slices of that table, so the chunk size, the
executor and interrupted-then-resumed runs cannot change any stored number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipelines.errors import ScenarioError

CENTRAL_INDEX = -1


@dataclass
class LoadedScenario:
    """A scenario ready to sample and simulate, with what identifies its inputs."""

    name: str
    source: str  # the name or path it was loaded from (used to reload it for staleness checks)
    overrides: dict[str, float]
    description: str
    param_hash: str  # hash of every parameter file that defines it, and of the overrides
    model_version: str
    random_names: list[str]  # parameters that vary across samples (stored in the `parameters` table)
    handle: Any = field(repr=False, default=None)  # the simulator's Scenario object (picklable)

    def specs(self) -> pd.DataFrame:
        """One row per parameter: value, unit, distribution, plausible range, bounds, source."""
        table = self.handle.model_parameters.table()
        keep = ["name", "module", "value", "unit", "distribution", "p10", "p90", "min", "max",
                "description", "source"]
        table = table[[c for c in keep if c in table.columns]].copy()
        table["is_random"] = table["name"].isin(self.random_names)
        for column in ("value", "p10", "p90", "min", "max"):
            if column in table:
                table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
        return table


@dataclass
class ChunkFrames:
    """What one batched simulate call produced, one frame per store table (keyed by sample_index)."""

    runs: pd.DataFrame  # sample_index, is_central, status, status_year, *_class, <run metrics>
    parameters: pd.DataFrame  # sample_index, <random parameter columns> (wide; the store melts it)
    trajectories: pd.DataFrame  # sample_index, year, <metric columns>
    milestones: pd.DataFrame  # sample_index, milestone, year (NaN = not reached)
    seconds: float = 0.0
    # per-actor results (empty frames for a world without per-actor series or events)
    actors: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["actor", "kind", "owner"]))
    actor_trajectories: pd.DataFrame = field(  # sample_index, year, actor, kind, metric, value (tidy)
        default_factory=lambda: pd.DataFrame(columns=["sample_index", "year", "actor", "kind", "metric", "value"]))
    project_milestones: pd.DataFrame = field(  # sample_index, actor, milestone, year (NaN = not reached)
        default_factory=lambda: pd.DataFrame(columns=["sample_index", "actor", "milestone", "year"]))
    events: pd.DataFrame = field(  # sample_index, event, actor (NULL: the world), year
        default_factory=lambda: pd.DataFrame(columns=["sample_index", "event", "actor", "year"]))

    @property
    def n(self) -> int:
        return len(self.runs)


def model_version() -> str:
    import sim

    return str(sim.MODEL_VERSION)


def list_named() -> list[tuple[str, str]]:
    """``(name, description)`` of every named scenario in ``parameters/scenarios``."""
    import sim

    try:
        return list(sim.list_scenarios())
    except sim.ParameterError as err:
        raise _scenario_error("(scenario list)", err) from None


def _scenario_error(source: str, err: Exception) -> ScenarioError:
    return ScenarioError(source, str(err), file=getattr(err, "file", None), line=getattr(err, "line", None),
                         field=getattr(err, "field", None))


def load(source: str, overrides: dict[str, float] | None = None) -> LoadedScenario:
    """Load a named scenario or an override CSV by path; bad input raises :class:`ScenarioError`."""
    import sim

    overrides = {str(k): float(v) for k, v in (overrides or {}).items()}
    try:
        scenario = sim.load_scenario(source, overrides or None)
        param_hash = scenario.files_hash()
        model = scenario.model_parameters
        random_names = [n for n in model.names if not model[n].is_fixed]
    except sim.ParameterError as err:  # includes UnknownScenario
        raise _scenario_error(str(source), err) from None
    return LoadedScenario(name=scenario.name, source=str(source), overrides=overrides,
                          description=scenario.description or "", param_hash=param_hash,
                          model_version=model_version(), random_names=random_names, handle=scenario)


def validate_overrides(source: str, overrides: dict[str, Any]) -> dict[str, str]:
    """Check each override on its own; returns ``{parameter name: message}`` for the bad ones."""
    import sim

    problems: dict[str, str] = {}
    try:
        base = sim.load_scenario(source)
    except sim.ParameterError as err:
        return {"": str(err)}
    for name, value in overrides.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            problems[name] = f"{value!r} is not a number"
            continue
        if not math.isfinite(number):
            problems[name] = "must be finite"
            continue
        try:
            base.model_parameters.pinned(name, number)
        except sim.ParameterError as err:
            problems[name] = str(err).split(": ", 1)[-1]
    return problems


def sample(scenario: LoadedScenario, n: int, seed: int) -> pd.DataFrame:
    """All ``n`` parameter sets of the ensemble (one row per sample, one column per parameter)."""
    return scenario.handle.sample(int(n), int(seed)).to_dataframe()


def central(scenario: LoadedScenario) -> pd.DataFrame:
    """The central run's parameters (every parameter at its value), one row."""
    return scenario.handle.central().to_dataframe()


def _params_from_frame(frame: pd.DataFrame, scenario: LoadedScenario):
    """The parameter tensors of ``frame``'s rows, in the scenario's world (its nations and projects)."""
    import torch

    from sim import SimulationParameters

    return SimulationParameters({name: torch.tensor(frame[name].to_numpy(dtype=np.float64))
                                 for name in frame.columns}, actors=scenario.handle.actors)


def output_every(years: np.ndarray, grid_step: float) -> int:
    """Thinning factor from the simulator's output grid to ``grid_step`` years (1 = keep all)."""
    if len(years) < 2 or grid_step <= 0:
        return 1
    diffs = np.diff(years)
    step = float(np.median(diffs))
    if not np.allclose(diffs, step, rtol=1e-6, atol=1e-9):
        return 1
    return max(1, round(grid_step / step))


#: Set to 1 to run chunks of at least COMPILED_MIN_BATCH samples with ``simulate(compiled=True)``:
#: about 2x faster per 1,000-sample chunk once compiled, after one compile per chunk size and
#: process (tens of seconds). Pays for large ensembles and long-lived processes (the dashboard).
COMPILED_ENV = "AIFS_COMPILED"
COMPILED_MIN_BATCH = 100


def use_compiled(batch: int) -> bool:
    """Whether a chunk of ``batch`` samples runs compiled (``$AIFS_COMPILED`` = 1 and a big batch)."""
    import os

    return os.environ.get(COMPILED_ENV, "0").strip() == "1" and batch >= COMPILED_MIN_BATCH


def simulate_chunk(scenario: LoadedScenario, params: pd.DataFrame, sample_index: np.ndarray,
                   grid_step: float = 1.0, progress: Callable[[float], None] | None = None) -> ChunkFrames:
    """One batched ``simulate`` call for the rows of ``params`` (their ensemble indices in ``sample_index``)."""
    import time

    from sim import simulate

    started = time.perf_counter()
    sample_index = np.asarray(sample_index, dtype=np.int64)
    traj = simulate(_params_from_frame(params, scenario), scenario.handle, progress=progress,
                    compiled=use_compiled(len(params)))
    mapping = dict(enumerate(sample_index))

    def reindex(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.rename(columns={"sample": "sample_index"})
        frame["sample_index"] = frame["sample_index"].map(mapping).astype(np.int64)
        return frame

    runs = reindex(traj.runs_dataframe())
    runs.insert(1, "is_central", runs["sample_index"] == CENTRAL_INDEX)
    years = traj.years.detach().cpu().numpy()
    every = output_every(years, grid_step)
    wide = reindex(traj.to_wide(every=every))
    wide["year"] = wide["year"].round(6)
    milestones = reindex(traj.milestones_dataframe())
    parameters = params[[n for n in scenario.random_names if n in params.columns]].copy()
    parameters.insert(0, "sample_index", sample_index)
    # per-actor series on the same thinned grid as `trajectories`
    actor_traj = reindex(traj.actors_dataframe(every=every))
    actor_traj["year"] = actor_traj["year"].astype(float).round(6)
    events = reindex(traj.events_dataframe())
    events["actor"] = events["actor"].replace("", None)  # world-level events: NULL actor
    return ChunkFrames(runs=runs.reset_index(drop=True), parameters=parameters.reset_index(drop=True),
                       trajectories=wide, milestones=milestones, seconds=time.perf_counter() - started,
                       actors=traj.actor_list_dataframe(), actor_trajectories=actor_traj,
                       project_milestones=reindex(traj.actor_milestones_dataframe()), events=events)


def metric_catalog() -> pd.DataFrame:
    """Every metric: name, kind ('series' or 'run'), unit, description, log_scale, module."""
    import sim

    rows = []
    for kind, infos in (("series", sim.METRICS), ("run", getattr(sim, "RUN_METRICS", []))):
        for m in infos:
            rows.append({"name": m.name, "kind": kind, "unit": m.unit, "description": m.description,
                             "log_scale": bool(m.log_scale), "module": getattr(m, "module", "")})
    return pd.DataFrame(rows, columns=["name", "kind", "unit", "description", "log_scale", "module"])

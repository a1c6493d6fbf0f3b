"""Running ensembles: plan (skip what is up to date), compute chunks into staging, publish atomically.

One entry point, :func:`run_ensembles`; :func:`run_user_ensemble`, :func:`build_default_store`
and :func:`refresh_stale` are thin wrappers over it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines import simulation
from pipelines.errors import PipelineError, ScenarioError
from pipelines.executors import ChunkTask, make_executor
from pipelines.staging import MAX_SAMPLES, Staging, discard, read_progress, run_id_base
from pipelines.store import (
    DEFAULT_DB,
    file_lock,
    publish,
    read_ensembles,
    resolve_db,
    staging_dir,
    utcnow,
)

DEFAULT_SAMPLES = 1000
DEFAULT_SEED = 0
DEFAULT_CHUNK = 1000
DEFAULT_GRID_STEP = 1.0
DEFAULT_LOCK_TIMEOUT = 600.0
DEFAULT_PUBLISH_EVERY = 300.0  # seconds between publishes during a long run (and one at the end)

ProgressCallback = Callable[[int, int], None]


@dataclass
class EnsembleRequest:
    """What to compute: a scenario (name or override-CSV path) as a Monte Carlo ensemble."""

    scenario: str
    n_samples: int = DEFAULT_SAMPLES
    seed: int = DEFAULT_SEED
    kind: str = "named"  # 'named' (precomputed scenarios) or 'user' (dashboard reruns)
    overrides: dict[str, float] = field(default_factory=dict)
    grid_step: float = DEFAULT_GRID_STEP  # years between stored trajectory points


@dataclass
class EnsembleResult:
    scenario: str
    kind: str
    ensemble_id: str | None
    action: str  # 'computed', 'resumed', 'up-to-date', 'failed'
    n_samples: int
    computed_samples: int = 0
    seconds: float = 0.0
    error: str | None = None
    replaced: list[str] = field(default_factory=list)
    publish_seconds: float = 0.0  # the atomic swap that published it (shared by a batch)
    publish_batch: int = 0  # which publish of this run it was in (1, 2, ...; 0: not published by this run)

    @property
    def samples_per_second(self) -> float:
        return self.computed_samples / self.seconds if self.seconds > 0 else float("nan")


class RunInterrupted(PipelineError):
    exit_code = 130


def identity(loaded: simulation.LoadedScenario, request: EnsembleRequest) -> dict:
    """What identifies an ensemble's results; its hash is the ensemble id."""
    ident = {
        "scenario": loaded.name, "kind": request.kind, "param_hash": loaded.param_hash,
        "model_version": loaded.model_version, "n_samples": int(request.n_samples), "seed": int(request.seed),
        "grid_step": float(request.grid_step), "overrides": dict(sorted(loaded.overrides.items())),
    }
    ident["ensemble_id"] = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
    return ident


@dataclass
class _Plan:
    request: EnsembleRequest
    loaded: simulation.LoadedScenario | None = None
    ident: dict | None = None
    up_to_date: bool = False
    remaining: int = 0
    error: str | None = None


def _plan(requests: Sequence[EnsembleRequest], db: Path, force: bool) -> list[_Plan]:
    stored = read_ensembles(db)
    have = set(stored["ensemble_id"]) if len(stored) else set()
    plans, seen = [], set()
    for request in requests:
        plan = _Plan(request)
        plans.append(plan)
        if not 1 <= request.n_samples <= MAX_SAMPLES:
            plan.error = f"--samples must be between 1 and {MAX_SAMPLES}, got {request.n_samples}"
            continue
        if not (request.grid_step > 0 and math.isfinite(request.grid_step)):
            plan.error = f"grid step must be a positive number of years, got {request.grid_step}"
            continue
        try:
            plan.loaded = simulation.load(request.scenario, request.overrides)
        except ScenarioError as err:
            plan.error = str(err)
            continue
        plan.ident = identity(plan.loaded, request)
        eid = plan.ident["ensemble_id"]
        if eid in seen:  # the same ensemble asked for twice (e.g. by name and by path): compute it once
            plans.pop()
            continue
        seen.add(eid)
        plan.up_to_date = eid in have and not force
        total = request.n_samples + 1  # + the central run
        if plan.up_to_date:
            plan.remaining = 0
        elif force:
            plan.remaining = total
        else:
            progress = read_progress(staging_dir(db) / f"{eid}.duckdb")
            done = progress[1] if progress and progress[0].get("ensemble_id") == eid else 0
            plan.remaining = max(0, total - done)
    return plans


def _chunks(missing: np.ndarray, chunk_size: int) -> Iterator[tuple[int, int]]:
    """Contiguous ``[start, stop)`` ranges covering the missing sample indices, balanced in size.

    Each range holds at most ``chunk_size`` samples; the central run (index -1) rides along in the
    first one (samples are simulated independently within a batch, so grouping changes no number,
    and every simulate call has a fixed per-step cost worth sharing). Ranges are near-equal rather
    than ``chunk_size, ..., remainder``, so no call is spent on a handful of samples.
    """
    if not len(missing):
        return
    missing = np.sort(missing)
    breaks = np.flatnonzero(np.diff(missing) != 1) + 1
    for run in np.split(missing, breaks):
        samples = len(run) - int(run[0] < 0)
        parts = max(1, -(-samples // chunk_size))
        for piece in np.array_split(run, parts):
            if len(piece):
                yield int(piece[0]), int(piece[-1]) + 1


class _Progress:
    """A tqdm bar in samples (shows samples/s) plus an optional callback ``(done, total)``."""

    def __init__(self, total: int, show: bool, callback: ProgressCallback | None):
        self.total, self.done, self.partial, self.callback = total, 0, 0.0, callback
        self._last = 0.0
        self.bar = None
        if show and total:
            from tqdm import tqdm

            # samples include each ensemble's central run; the rate is always shown as samples/s
            self.bar = tqdm(total=total, unit=" samples", unit_scale=False, file=sys.stderr, dynamic_ncols=True,
                            smoothing=0.1, bar_format="{desc}{percentage:3.0f}%|{bar}| {n:.0f}/{total} samples "
                                                      "[{elapsed}<{remaining}, {rate_noinv_fmt}]")

    def describe(self, text: str) -> None:
        if self.bar:
            self.bar.set_description(text)

    def _show(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < 0.25:  # the simulator reports every solver step: throttle
            return
        self._last = now
        if self.bar:
            self.bar.update(min(self.total, self.done + self.partial) - self.bar.n)
        if self.callback:
            self.callback(int(self.done + self.partial), self.total)

    def set_partial(self, samples: float) -> None:
        self.partial = samples
        self._show()

    def add(self, samples: int) -> None:
        self.done += samples
        self.partial = 0.0
        self._show(force=True)

    def close(self) -> None:
        if self.bar:
            self.bar.close()


def run_ensembles(
    requests: Sequence[EnsembleRequest],
    db: str | Path | None = None,
    *,
    executor: str = "local",
    address: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    force: bool = False,
    progress: bool = True,
    on_progress: ProgressCallback | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    publish_every: float = DEFAULT_PUBLISH_EVERY,
    executor_options: dict | None = None,
    fail_fast: bool = False,
) -> list[EnsembleResult]:
    """Compute (or skip, when up to date) each requested ensemble and publish it to the store ``db``.

    Each ensemble is computed chunk by chunk (one batched ``simulate`` call per chunk of
    ``chunk_size`` samples) into its staging file. Finished ensembles are published together in
    one atomic swap of the store file: at the end of the call, or earlier once ``publish_every``
    seconds have passed since the last publish (``0``: after each ensemble), so a long run shows
    progress in the store without copying it once per ensemble. A bad scenario is reported in its
    result (``action='failed'``) and the others still run, and so is a scenario on which the simulator
    raises (``fail_fast=True`` re-raises instead); a locked store, a full disk or an
    interrupt stop the run with a :class:`PipelineError` (or ``KeyboardInterrupt``), leaving every
    published ensemble and every finished chunk intact (finished ensembles are published before an
    error is raised when possible, and otherwise by the next run without recomputing them).
    ``executor_options`` go to the executor (e.g. ``{"num_cpus": 2}`` for a local Ray instance).
    """
    db = resolve_db(db)
    if chunk_size < 1:
        raise PipelineError("--chunk-size must be at least 1")
    plans = _plan(requests, db, force)
    bar = _Progress(sum(p.remaining for p in plans), progress, on_progress)
    results: list[EnsembleResult] = []
    batch = _Batch(db, lock_timeout, publish_every, bar)
    runner = None
    try:
        try:
            for plan in plans:
                req = plan.request
                if plan.error:
                    results.append(EnsembleResult(req.scenario, req.kind, None, "failed", req.n_samples,
                                                  error=plan.error))
                    continue
                if plan.up_to_date:
                    discard(staging_dir(db) / f"{plan.ident['ensemble_id']}.duckdb")  # a leftover from a late kill
                    results.append(EnsembleResult(plan.loaded.name, req.kind, plan.ident["ensemble_id"],
                                                  "up-to-date", req.n_samples))
                    continue
                if runner is None:
                    runner = make_executor(executor, address=address, **(executor_options or {}))
                done_before = bar.done
                try:
                    results.append(_compute(plan, db, runner, chunk_size, force, bar, lock_timeout, batch))
                except PipelineError:
                    raise
                except Exception as err:  # the simulator failed on this scenario: report it, run the others
                    if fail_fast:
                        raise
                    bar.add(max(0, plan.remaining - (bar.done - done_before)))
                    results.append(EnsembleResult(plan.loaded.name, req.kind, plan.ident["ensemble_id"], "failed",
                                                  req.n_samples, error=_simulation_error(err)))
                if batch.due():
                    batch.flush()
            batch.flush()
        except Exception:
            if batch.pending and not batch.failed:  # publish what finished before the failure, if we can
                with contextlib.suppress(Exception):
                    batch.flush()
            raise
    except PipelineError as err:
        err.results = results  # type: ignore[attr-defined]
        raise
    finally:
        batch.release()
        bar.close()
        if runner is not None:
            runner.close()
    return results


def _simulation_error(err: Exception) -> str:
    """A one-line account of an exception raised while simulating (where, what, and what is kept)."""
    import traceback

    frames = traceback.extract_tb(err.__traceback__)
    where = ""
    if frames:
        frame = frames[-1]
        try:
            filename = str(Path(frame.filename).resolve().relative_to(Path(__file__).resolve().parents[1]))
        except ValueError:
            filename = frame.filename
        where = f" (at {filename}:{frame.lineno})"
    return (f"the simulation failed: {type(err).__name__}: {err}{where}. Nothing of this ensemble was "
            f"published (the store keeps what it had); the other scenarios were still run.")


class _Batch:
    """Finished ensembles waiting to be published together (their ensemble locks are held until then)."""

    def __init__(self, db: Path, lock_timeout: float, publish_every: float, bar: _Progress):
        self.db, self.lock_timeout, self.publish_every, self.bar = db, lock_timeout, publish_every, bar
        self.pending: list[tuple[Path, dict, dict, EnsembleResult, contextlib.ExitStack]] = []
        self.last_publish = time.monotonic()
        self.failed = False
        self.publishes = 0
        self.publish_seconds = 0.0

    def add(self, path: Path, row: dict, ident: dict, result: EnsembleResult, locks: contextlib.ExitStack) -> None:
        self.pending.append((path, row, ident, result, locks))

    def due(self) -> bool:
        return bool(self.pending) and time.monotonic() - self.last_publish >= self.publish_every

    def flush(self) -> None:
        if not self.pending:
            return
        self.bar.describe(f"publishing {len(self.pending)} ensemble(s)")
        started = time.perf_counter()
        try:
            replaced = publish(self.db, [(path, row) for path, row, *_ in self.pending], catalog=_catalog(),
                               lock_timeout=self.lock_timeout)
        except BaseException:
            self.failed = True
            for *_, result, _locks in self.pending:
                result.action = f"{result.action}, not published"
            raise
        seconds = time.perf_counter() - started
        self.publishes += 1
        self.publish_seconds += seconds
        directory = staging_dir(self.db)
        for path, row, ident, result, locks in self.pending:
            result.replaced = replaced.get(row["ensemble_id"], [])
            result.publish_seconds = seconds
            result.publish_batch = self.publishes
            discard(path)
            if ident["kind"] == "named":
                _discard_superseded(directory, ident)
            # Drop the ensemble's lock file while still holding it: a process waiting on it (or one that
            # creates it anew) finds the ensemble published once it gets the lock, and does nothing.
            with contextlib.suppress(OSError):
                (directory / f"{row['ensemble_id']}.lock").unlink()
            locks.close()
        self.pending = []
        self.last_publish = time.monotonic()

    def release(self) -> None:
        for *_, locks in self.pending:
            locks.close()


def _compute(plan: _Plan, db: Path, runner, chunk_size: int, force: bool, bar: _Progress, lock_timeout: float,
             batch: _Batch) -> EnsembleResult:
    """Compute one ensemble into its staging file and queue it on ``batch`` for publishing."""
    req, loaded, ident = plan.request, plan.loaded, plan.ident
    eid = ident["ensemble_id"]
    directory = staging_dir(db)
    bar.describe(f"{loaded.name} [{req.kind}]")
    locks = contextlib.ExitStack()  # the ensemble lock, held until the ensemble is published
    locks.enter_context(file_lock(directory / f"{eid}.lock", lock_timeout, f"ensemble {loaded.name} ({eid})"))
    try:
        if not force and eid in set(read_ensembles(db)["ensemble_id"]):  # another process just published it
            bar.add(plan.remaining)
            locks.close()
            return EnsembleResult(loaded.name, req.kind, eid, "up-to-date", req.n_samples)
        started = time.perf_counter()
        path = directory / f"{eid}.duckdb"
        staging = Staging(path, ident, fresh=force)
        computed = 0
        try:
            done = staging.done_indices()
            resumed = len(done) > 0
            wanted = np.arange(-1, req.n_samples, dtype=np.int64)
            missing = np.setdiff1d(wanted, done)
            if len(missing):
                # row i + 1 holds sample i; row 0 the central run (sample_index -1)
                rows = pd.concat([simulation.central(loaded), simulation.sample(loaded, req.n_samples, req.seed)],
                                 ignore_index=True)

                def tasks() -> Iterator[ChunkTask]:
                    for start, stop in _chunks(missing, chunk_size):
                        params = rows.iloc[start + 1:stop + 1].reset_index(drop=True)
                        yield ChunkTask(loaded, params, start, stop, req.grid_step)

                last = time.perf_counter()
                for task, frames in runner.run(tasks(), lambda task, f: bar.set_partial(f * task.size)):
                    now = time.perf_counter()
                    frames.seconds = now - last  # wall time since the previous chunk (simulate + transfer)
                    staging.write_chunk(frames, task.start, task.stop)
                    last = time.perf_counter()
                    computed += task.size
                    bar.add(task.size)
            finalize_started = time.perf_counter()
            staging.finalize(loaded.specs())
            compute_seconds = staging.compute_seconds() + (time.perf_counter() - finalize_started)
            started_at = staging.started_at()
        finally:
            staging.close()
        base = run_id_base(eid)
        row = {
            "ensemble_id": eid, "scenario": loaded.name, "kind": req.kind, "n_samples": req.n_samples,
            "seed": req.seed, "model_version": loaded.model_version, "param_hash": loaded.param_hash,
            "started_at": started_at, "finished_at": utcnow(), "duration_s": compute_seconds, "status": "complete",
            "source": loaded.source, "overrides": json.dumps(dict(sorted(loaded.overrides.items()))),
            "description": loaded.description, "n_runs": req.n_samples + 1, "grid_step": req.grid_step,
            "executor": runner.name, "chunk_size": chunk_size, "run_id_min": base, "run_id_max": base + req.n_samples,
        }
        result = EnsembleResult(loaded.name, req.kind, eid, "resumed" if resumed else "computed", req.n_samples,
                                computed_samples=computed, seconds=time.perf_counter() - started)
    except BaseException:
        staged = directory / f"{eid}.duckdb"
        progress = read_progress(staged) if staged.exists() else None
        if progress is not None and progress[1] == 0:  # nothing to resume from: leave no 'partial' behind
            discard(staged)
        locks.close()
        raise
    batch.add(path, row, ident, result, locks)
    return result


def _discard_superseded(directory: Path, ident: dict) -> None:
    """Drop interrupted staging files of older identities of the same named scenario (never resumable now)."""
    for path in directory.glob("*.duckdb"):
        if path.stem == ident["ensemble_id"]:
            continue
        progress = read_progress(path)  # None while another process is writing it: leave that one alone
        if progress and progress[0].get("kind") == "named" and progress[0].get("scenario") == ident["scenario"]:
            discard(path)


def _catalog() -> pd.DataFrame | None:
    try:
        return simulation.metric_catalog()
    except Exception:  # noqa: BLE001 - the catalogue is documentation; never fail a publish over it
        return None


# -- wrappers ------------------------------------------------------------------------------------------------------


def build_default_store(db: str | Path | None = None, n_samples: int = DEFAULT_SAMPLES, seed: int = DEFAULT_SEED,
                        *, progress: bool = True, force: bool = False, **kwargs) -> list[EnsembleResult]:
    """Every named scenario as an ensemble of ``n_samples`` (default 1,000) in the default store."""
    requests = [EnsembleRequest(name, n_samples, seed) for name, _ in simulation.list_named()]
    return run_ensembles(requests, db or DEFAULT_DB, progress=progress, force=force, **kwargs)


def run_user_ensemble(scenario: str, overrides: dict[str, float] | None = None, n: int = DEFAULT_SAMPLES,
                      seed: int = DEFAULT_SEED, db: str | Path | None = None, *,
                      on_progress: ProgressCallback | None = None, chunk_size: int = DEFAULT_CHUNK,
                      lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> str:
    """Compute (or fetch from cache) an ensemble of ``scenario`` with parameters pinned by ``overrides``.

    Returns its ``ensemble_id`` (``kind = 'user'`` in the store, same schema as the named ones).
    Identical requests return the stored ensemble at once; with no overrides, an up-to-date named
    ensemble of the same scenario, sample count and seed is returned instead of recomputing it.
    Bad overrides raise :class:`ScenarioError` (see :func:`validate_overrides` for per-field messages).
    """
    overrides = dict(overrides or {})
    db = resolve_db(db)
    if not overrides:
        loaded = simulation.load(scenario)
        named = identity(loaded, EnsembleRequest(scenario, n, seed, kind="named"))
        if named["ensemble_id"] in set(read_ensembles(db)["ensemble_id"]):
            return named["ensemble_id"]
    request = EnsembleRequest(scenario, n, seed, kind="user", overrides=overrides)
    results = run_ensembles([request], db, progress=False, on_progress=on_progress, chunk_size=chunk_size,
                            lock_timeout=lock_timeout)
    result = results[0]
    if result.action == "failed":
        raise ScenarioError(scenario, result.error or "failed")
    return result.ensemble_id


def validate_overrides(scenario: str, overrides: dict) -> dict[str, str]:
    """``{parameter: message}`` for each override that would be refused (empty when all are fine)."""
    return simulation.validate_overrides(scenario, overrides)


def refresh_requests(db: str | Path | None = None, n_samples: int = DEFAULT_SAMPLES, seed: int = DEFAULT_SEED
                     ) -> list[EnsembleRequest]:
    """Requests that bring every named ensemble up to date (keeping each one's samples and seed).

    Named scenarios missing from the store are included with ``n_samples``/``seed``; scenarios
    stored from an override file by path are refreshed while that file exists.
    """
    stored = read_ensembles(db)
    named = stored[stored["kind"] == "named"] if len(stored) else stored
    rows = list(named.itertuples())
    requests, used = [], set()
    for name, _ in simulation.list_named():
        row = next((r for r in rows if name in (r.scenario, r.source)), None)
        if row is None:
            requests.append(EnsembleRequest(name, n_samples, seed))
        else:
            used.add(row.ensemble_id)
            requests.append(EnsembleRequest(name, int(row.n_samples), int(row.seed), grid_step=float(row.grid_step)))
    for row in rows:
        if row.ensemble_id not in used and row.source and Path(row.source).exists():
            requests.append(EnsembleRequest(row.source, int(row.n_samples), int(row.seed),
                                            grid_step=float(row.grid_step)))
    return requests


def refresh_stale(db: str | Path | None = None, **kwargs) -> list[EnsembleResult]:
    """Recompute every stale or missing named ensemble (what ``schedule`` runs)."""
    sizes = {k: kwargs.pop(k) for k in ("n_samples", "seed") if k in kwargs}
    return run_ensembles(refresh_requests(db, **sizes), db, **kwargs)

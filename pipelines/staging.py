"""Per-ensemble staging files: where an ensemble is computed before it is published.

``store/.staging/<store name>/<ensemble_id>.duckdb`` holds the ensemble's tables (same columns as the store)
plus ``_meta`` (its identity) and ``_chunks`` (which sample ranges are written). Every chunk is
written in one transaction, so a run killed at any point (Ctrl-C, ``kill -9``, an exception, a
full disk) leaves whole chunks only; the rerun computes just the missing samples. Sampling is
done once for the whole ensemble and chunks are row slices, so a resumed ensemble is identical
to one computed in one go.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from pipelines.errors import DiskFull, StoreLocked, is_disk_full, is_lock_conflict
from pipelines.simulation import ChunkFrames
from pipelines.store import (
    BASE_COLUMNS,
    DATA_TABLES,
    QUANTILES,
    SCHEMA_VERSION,
    add_double_columns,
    ensure_schema,
    q,
    table_columns,
    utcnow,
)

RUN_ID_SAMPLE_BITS = 24  # run_id = (ensemble prefix << 24) | (sample_index + 1); central run has sample_index -1
MAX_SAMPLES = (1 << RUN_ID_SAMPLE_BITS) - 2


def run_id_base(ensemble_id: str) -> int:
    """The ensemble's run-id prefix (39 bits of its hash), shifted: run ids are base + sample_index + 1."""
    prefix = int(ensemble_id[:10], 16) & ((1 << 39) - 1)
    return prefix << RUN_ID_SAMPLE_BITS


class Staging:
    """An open staging file for one ensemble (one process at a time: hold the ensemble lock)."""

    def __init__(self, path: Path, identity: dict, *, fresh: bool = False):
        self.path = path
        self.identity = identity
        self.ensemble_id = identity["ensemble_id"]
        self.base = run_id_base(self.ensemble_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        if fresh:
            discard(path)
        try:
            self.con = self._open()
        except duckdb.Error as err:
            if is_lock_conflict(err):
                raise StoreLocked(f"staging file {path} is in use by another process") from None
            if is_disk_full(err):
                raise DiskFull(f"no space to create {path}: {err}") from None
            # unreadable (e.g. the disk filled during a previous write): start this ensemble again
            discard(path)
            self.con = self._open()
        if not self._identity_matches():
            self.con.close()
            discard(path)
            self.con = self._open()

    # -- file ------------------------------------------------------------------------------------------------
    def _open(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(str(self.path))
        con.execute("SET preserve_insertion_order = true")
        con.execute("CREATE TABLE IF NOT EXISTS _meta (key VARCHAR, value VARCHAR)")
        con.execute("CREATE TABLE IF NOT EXISTS _chunks (start_index INTEGER, stop_index INTEGER, "
                    "seconds DOUBLE, written_at TIMESTAMP DEFAULT current_timestamp)")
        ensure_schema(con, DATA_TABLES)
        if not con.execute("SELECT count(*) FROM _meta").fetchone()[0]:
            con.execute("INSERT INTO _meta VALUES ('identity', ?), ('started_at', ?), ('schema_version', ?)",
                        [json.dumps(self.identity, sort_keys=True), utcnow().isoformat(), str(SCHEMA_VERSION)])
        return con

    def _identity_matches(self) -> bool:
        """Same ensemble, written with this schema (chunks from older code lack newer tables: recompute)."""
        row = self.con.execute("SELECT value FROM _meta WHERE key = 'identity'").fetchone()
        return (bool(row) and json.loads(row[0]) == json.loads(json.dumps(self.identity, sort_keys=True))
                and _schema_of(self.con) == SCHEMA_VERSION)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.con.execute("CHECKPOINT")
        with contextlib.suppress(Exception):
            self.con.close()

    # -- progress ---------------------------------------------------------------------------------------------
    def done_indices(self) -> np.ndarray:
        """Sample indices already written (``-1`` is the central run)."""
        ranges = self.con.execute("SELECT start_index, stop_index FROM _chunks").fetchall()
        if not ranges:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in ranges])

    def compute_seconds(self) -> float:
        return float(self.con.execute("SELECT coalesce(sum(seconds), 0) FROM _chunks").fetchone()[0])

    def started_at(self) -> _dt.datetime:
        row = self.con.execute("SELECT value FROM _meta WHERE key = 'started_at'").fetchone()
        return _dt.datetime.fromisoformat(row[0]) if row else utcnow()

    # -- writing ----------------------------------------------------------------------------------------------
    def write_chunk(self, frames: ChunkFrames, start: int, stop: int) -> None:
        """Append one simulated chunk (samples ``start:stop``) in a single transaction."""
        eid, base = self.ensemble_id, self.base
        runs = frames.runs.copy()
        runs.insert(0, "run_id", base + runs["sample_index"].to_numpy(np.int64) + 1)
        runs.insert(1, "ensemble_id", eid)
        params = frames.parameters.melt(id_vars=["sample_index"], var_name="name", value_name="value")
        params.insert(0, "run_id", base + params.pop("sample_index").to_numpy(np.int64) + 1)
        params.insert(1, "ensemble_id", eid)
        traj = frames.trajectories.copy()
        traj.insert(0, "run_id", base + traj.pop("sample_index").to_numpy(np.int64) + 1)
        traj.insert(1, "ensemble_id", eid)
        miles = frames.milestones.copy()
        miles.insert(0, "run_id", base + miles.pop("sample_index").to_numpy(np.int64) + 1)
        miles.insert(1, "ensemble_id", eid)
        per_actor = {}
        for table in ("actor_trajectories", "project_milestones", "events"):
            frame = getattr(frames, table).copy()
            frame.insert(0, "run_id", base + frame.pop("sample_index").to_numpy(np.int64) + 1)
            frame.insert(1, "ensemble_id", eid)
            per_actor[table] = frame
        actors = frames.actors.copy()
        actors.insert(0, "ensemble_id", eid)
        fixed = {t: {c for c, _ in BASE_COLUMNS[t]} for t in ("runs", "trajectories")}
        con = self.con
        try:
            for table, frame in (("runs", runs), ("trajectories", traj)):
                existing = table_columns(con, table)
                add_double_columns(con, table, [c for c in frame.columns if c not in fixed[table]], existing)
            con.execute("BEGIN TRANSACTION")
            # the world's actors are the same in every chunk: the last chunk's list stands
            con.execute("DELETE FROM actors")
            for table, frame in (("runs", runs), ("parameters", params), ("trajectories", traj),
                                 ("milestones", miles), ("actors", actors), *per_actor.items()):
                if len(frame):
                    con.register("_chunk", frame)
                    con.execute(f"INSERT INTO {q(table)} BY NAME SELECT * FROM _chunk")
                    con.unregister("_chunk")
            con.execute("INSERT INTO _chunks (start_index, stop_index, seconds) VALUES (?, ?, ?)",
                        [int(start), int(stop), float(frames.seconds)])
            con.execute("COMMIT")
        except BaseException as err:
            with contextlib.suppress(Exception):
                con.execute("ROLLBACK")
            if isinstance(err, Exception) and is_disk_full(err):
                raise DiskFull(f"the disk filled up while writing {self.path} ({err}). The published store is "
                               f"unchanged; free some space and rerun (finished chunks are kept).") from None
            raise

    def finalize(self, specs: pd.DataFrame) -> None:
        """Precompute the fan-chart quantiles and store the parameter specs (after the last chunk)."""
        con, eid = self.con, self.ensemble_id
        metrics = [c for c in table_columns(con, "trajectories") if c not in {c for c, _ in
                                                                               BASE_COLUMNS["trajectories"]}]
        try:
            con.execute("BEGIN TRANSACTION")
            con.execute("DELETE FROM quantiles")
            con.execute("DELETE FROM actor_quantiles")
            con.execute("DELETE FROM parameter_specs")
            if metrics:
                probs = ", ".join(str(p / 100) for p in QUANTILES)
                picks = ", ".join(f"qs[{i + 1}] AS p{p}" for i, p in enumerate(QUANTILES))
                cols = ", ".join(q(m) for m in metrics)
                con.execute(f"""
                    INSERT INTO quantiles BY NAME
                    SELECT ? AS ensemble_id, metric, year, n, mean, {picks}
                    FROM (
                        SELECT metric, year, count(value) AS n, avg(value) AS mean,
                               quantile_cont(value, [{probs}]) AS qs
                        FROM (UNPIVOT (SELECT t.year, {cols} FROM trajectories t JOIN runs r USING (run_id)
                                       WHERE NOT r.is_central)
                              ON {cols} INTO NAME metric VALUE value)
                        WHERE isfinite(value)
                        GROUP BY metric, year
                    ) ORDER BY metric, year""", [eid])
            # the same bands for every actor's series (per-actor fan charts)
            probs = ", ".join(str(p / 100) for p in QUANTILES)
            picks = ", ".join(f"qs[{i + 1}] AS p{p}" for i, p in enumerate(QUANTILES))
            con.execute(f"""
                INSERT INTO actor_quantiles BY NAME
                SELECT ? AS ensemble_id, actor, metric, year, n, mean, {picks}
                FROM (
                    SELECT a.actor, a.metric, a.year, count(a.value) AS n, avg(a.value) AS mean,
                           quantile_cont(a.value, [{probs}]) AS qs
                    FROM actor_trajectories a JOIN runs r USING (run_id)
                    WHERE NOT r.is_central AND isfinite(a.value)
                    GROUP BY a.actor, a.metric, a.year
                ) ORDER BY actor, metric, year""", [eid])
            frame = specs.copy()
            frame.insert(0, "ensemble_id", eid)
            con.register("_specs", frame)
            con.execute("INSERT INTO parameter_specs BY NAME SELECT * FROM _specs")
            con.unregister("_specs")
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
        except BaseException as err:
            with contextlib.suppress(Exception):
                con.execute("ROLLBACK")
            if isinstance(err, Exception) and is_disk_full(err):
                raise DiskFull(f"the disk filled up while writing {self.path} ({err}); the published store "
                               f"is unchanged. Free some space and rerun.") from None
            raise

    def counts(self) -> dict[str, int]:
        return {t: int(self.con.execute(f"SELECT count(*) FROM {q(t)}").fetchone()[0])
                for t in DATA_TABLES if t != "parameter_specs"}


def _schema_of(con: duckdb.DuckDBPyConnection) -> int:
    """The store schema a staging file was written with (1: files from before it was recorded)."""
    row = con.execute("SELECT value FROM _meta WHERE key = 'schema_version'").fetchone()
    try:
        return int(row[0]) if row else 1
    except (TypeError, ValueError):
        return 1


def discard(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def read_progress(path: Path) -> tuple[dict, int] | None:
    """``(identity, runs written incl. the central run)`` of a staging file, or None if it is busy or unreadable."""
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None
    try:
        identity = json.loads(con.execute("SELECT value FROM _meta WHERE key = 'identity'").fetchone()[0])
        done = con.execute("SELECT coalesce(sum(stop_index - start_index), 0) FROM _chunks").fetchone()[0]
        return identity, int(done) if _schema_of(con) == SCHEMA_VERSION else 0
    except (duckdb.Error, TypeError, ValueError, KeyError):  # not a staging file we understand
        return None
    finally:
        con.close()

"""The DuckDB store: schema, views, read-only access, and the atomic publish of a finished ensemble.

Concurrency model (DuckDB allows one writing process per file, and a process that has the file
open read-write blocks every other process from opening it at all):

* The published store (``store/ai_futures.duckdb``) is **never modified in place**. Publishing an
  ensemble copies it to a temporary file next to it, writes the new ensemble there in one
  transaction, checkpoints, fsyncs, and ``os.replace``-s it over the store (atomic on POSIX).
* Readers open the store ``read_only`` with short-lived connections. A reader that opens before
  a swap keeps reading the old, complete file; one that opens after sees the new one. Readers
  never wait for a writer and never see a partial ensemble.
* Writers serialise on an ``flock`` on ``<store>.lock`` (released by the kernel if the writer dies,
  even by ``kill -9``), so two writers cannot lose each other's ensembles.
* Ensembles are computed into per-ensemble staging files (``store/.staging/ai_futures/<ensemble_id>.duckdb``,
  see :mod:`pipelines.staging`), outside the writer lock; only the publish holds it.

In a long-lived reader process (the dashboard), close connections to see new data: DuckDB caches
an open database per path and process. :func:`store_token` changes whenever a publish happened.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import itertools
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd

from pipelines.errors import DiskFull, StoreLocked, StoreMissing, is_disk_full, is_lock_conflict

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB = ROOT / "store" / "ai_futures.duckdb"
SCHEMA_VERSION = 2  # 2: per-actor tables (actors, actor_trajectories, actor_quantiles, project_milestones, events)
QUANTILES = (5, 10, 25, 50, 75, 90, 95)
MAX_USER_ENSEMBLES = 50  # oldest user (dashboard rerun) ensembles beyond this are dropped on publish
DATA_TABLES = ("runs", "parameters", "trajectories", "milestones", "quantiles", "parameter_specs",
               "actors", "actor_trajectories", "actor_quantiles", "project_milestones", "events")

# Fixed columns of each table. Metric columns (DOUBLE, named as in the metric catalogue) are added
# to `runs` (per-run metrics) and `trajectories` (series) as ensembles bring them.
BASE_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "ensembles": [
        ("ensemble_id", "VARCHAR NOT NULL"), ("scenario", "VARCHAR NOT NULL"), ("kind", "VARCHAR NOT NULL"),
        ("n_samples", "INTEGER"), ("seed", "BIGINT"), ("model_version", "VARCHAR"), ("param_hash", "VARCHAR"),
        ("started_at", "TIMESTAMP"), ("finished_at", "TIMESTAMP"), ("duration_s", "DOUBLE"),
        ("status", "VARCHAR"), ("source", "VARCHAR"), ("overrides", "VARCHAR"), ("description", "VARCHAR"),
        ("n_runs", "INTEGER"), ("grid_step", "DOUBLE"), ("executor", "VARCHAR"), ("chunk_size", "INTEGER"),
        ("run_id_min", "BIGINT"), ("run_id_max", "BIGINT"),
    ],
    "runs": [
        ("run_id", "BIGINT NOT NULL"), ("ensemble_id", "VARCHAR NOT NULL"), ("sample_index", "INTEGER NOT NULL"),
        ("is_central", "BOOLEAN NOT NULL"), ("status", "VARCHAR"), ("status_year", "DOUBLE"),
        ("growth_class", "VARCHAR"), ("labor_share_class", "VARCHAR"), ("wages_class", "VARCHAR"),
    ],
    "parameters": [("run_id", "BIGINT NOT NULL"), ("ensemble_id", "VARCHAR NOT NULL"), ("name", "VARCHAR NOT NULL"),
                   ("value", "DOUBLE")],
    "trajectories": [("run_id", "BIGINT NOT NULL"), ("ensemble_id", "VARCHAR NOT NULL"), ("year", "DOUBLE NOT NULL")],
    "milestones": [("run_id", "BIGINT NOT NULL"), ("ensemble_id", "VARCHAR NOT NULL"),
                   ("milestone", "VARCHAR NOT NULL"), ("year", "DOUBLE")],
    "quantiles": [("ensemble_id", "VARCHAR NOT NULL"), ("metric", "VARCHAR NOT NULL"), ("year", "DOUBLE NOT NULL"),
                  ("n", "BIGINT"), ("mean", "DOUBLE")] + [(f"p{q}", "DOUBLE") for q in QUANTILES],
    # per-actor results (a world's nations and AI projects; ``sim.Trajectory.actor_series`` etc.)
    "actors": [("ensemble_id", "VARCHAR NOT NULL"), ("actor", "VARCHAR NOT NULL"), ("kind", "VARCHAR NOT NULL"),
               ("owner", "VARCHAR")],
    "actor_trajectories": [("run_id", "BIGINT NOT NULL"), ("ensemble_id", "VARCHAR NOT NULL"),
                           ("year", "DOUBLE NOT NULL"), ("actor", "VARCHAR NOT NULL"), ("kind", "VARCHAR NOT NULL"),
                           ("metric", "VARCHAR NOT NULL"), ("value", "DOUBLE")],
    "actor_quantiles": [("ensemble_id", "VARCHAR NOT NULL"), ("actor", "VARCHAR NOT NULL"),
                        ("metric", "VARCHAR NOT NULL"), ("year", "DOUBLE NOT NULL"), ("n", "BIGINT"),
                        ("mean", "DOUBLE")] + [(f"p{q}", "DOUBLE") for q in QUANTILES],
    "project_milestones": [("run_id", "BIGINT NOT NULL"), ("ensemble_id", "VARCHAR NOT NULL"),
                           ("actor", "VARCHAR NOT NULL"), ("milestone", "VARCHAR NOT NULL"), ("year", "DOUBLE")],
    "events": [("run_id", "BIGINT NOT NULL"), ("ensemble_id", "VARCHAR NOT NULL"), ("event", "VARCHAR NOT NULL"),
               ("actor", "VARCHAR"), ("year", "DOUBLE")],
    "parameter_specs": [
        ("ensemble_id", "VARCHAR NOT NULL"), ("name", "VARCHAR NOT NULL"), ("module", "VARCHAR"), ("value", "DOUBLE"),
        ("unit", "VARCHAR"), ("distribution", "VARCHAR"), ("p10", "DOUBLE"), ("p90", "DOUBLE"), ("min", "DOUBLE"),
        ("max", "DOUBLE"), ("is_random", "BOOLEAN"), ("description", "VARCHAR"), ("source", "VARCHAR"),
    ],
    "metrics": [("name", "VARCHAR NOT NULL"), ("kind", "VARCHAR NOT NULL"), ("unit", "VARCHAR"),
                ("description", "VARCHAR"), ("log_scale", "BOOLEAN"), ("module", "VARCHAR")],
    "store_info": [("key", "VARCHAR NOT NULL"), ("value", "VARCHAR")],
}

_PERCENTILE_PICKS = ", ".join(f"y.ys[greatest(1, ({q} * n.n_runs + 99) // 100)] AS p{q}" for q in QUANTILES)

# The central run of an ensemble is its first run id (run_id = run_id_min, sample_index -1): views filter
# milestones on that instead of joining `runs` (a join on run_id over every milestone row costs 20x more).
VIEWS = {
    # The ensemble shown for each named scenario (there is one per scenario; user reruns are kind='user').
    "current_ensembles": "SELECT * FROM ensembles WHERE kind = 'named' AND status = 'complete'",
    # Milestone dates per ensemble: share of Monte Carlo runs reaching it and percentiles over all runs, the
    # one definition of sim.milestones.milestone_percentiles: p-th percentile = y(k), the k-th earliest year
    # among the reaching runs, k = max(1, ceil(p n / 100)) of n runs; NULL when k > n_reached (not reached
    # by the end year). A list index past the end is NULL in DuckDB, so `ys[k]` is exactly that rule.
    "milestone_percentiles": f"""
        WITH n AS (SELECT ensemble_id, count(*) AS n_runs FROM runs WHERE NOT is_central GROUP BY 1),
             names AS (SELECT DISTINCT ensemble_id, milestone FROM milestones),
             y AS (SELECT m.ensemble_id, m.milestone, list_sort(list(m.year)) AS ys, avg(m.year) AS mean
                   FROM milestones m JOIN ensembles e USING (ensemble_id)
                   WHERE m.run_id <> e.run_id_min AND isfinite(m.year)
                   GROUP BY 1, 2)
        SELECT e.ensemble_id, e.scenario, e.kind, names.milestone, n.n_runs,
               coalesce(len(y.ys), 0) AS n_reached, coalesce(len(y.ys), 0) / n.n_runs AS p_reached,
               {_PERCENTILE_PICKS}, y.mean
        FROM names JOIN ensembles e USING (ensemble_id) JOIN n USING (ensemble_id)
             LEFT JOIN y ON y.ensemble_id = names.ensemble_id AND y.milestone = names.milestone""",
    # Share of runs per takeoff class (growth / labour share / wages) per ensemble.
    "class_shares": """
        SELECT e.ensemble_id, e.scenario, e.kind, r.growth_class, r.labor_share_class, r.wages_class,
               count(*) AS n_runs, count(*) / sum(count(*)) OVER (PARTITION BY e.ensemble_id) AS share
        FROM runs r JOIN ensembles e USING (ensemble_id)
        WHERE NOT r.is_central
        GROUP BY e.ensemble_id, e.scenario, e.kind, r.growth_class, r.labor_share_class, r.wages_class""",
    # Share of runs per solver status (ok / diverged / singularity) per ensemble.
    "status_shares": """
        SELECT e.ensemble_id, e.scenario, e.kind, r.status,
               count(*) AS n_runs, count(*) / sum(count(*)) OVER (PARTITION BY e.ensemble_id) AS share,
               median(r.status_year) AS median_status_year
        FROM runs r JOIN ensembles e USING (ensemble_id)
        WHERE NOT r.is_central
        GROUP BY e.ensemble_id, e.scenario, e.kind, r.status""",
    # Milestone years of each ensemble's central (median-parameter) run.
    "central_milestones": """
        SELECT e.ensemble_id, e.scenario, e.kind, m.milestone, m.year
        FROM milestones m JOIN ensembles e USING (ensemble_id)
        WHERE m.run_id = e.run_id_min""",
}


def q(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def resolve_db(db: str | os.PathLike | None) -> Path:
    return Path(db).expanduser().resolve() if db else DEFAULT_DB


def lock_path(db: Path) -> Path:
    return db.with_name(db.name + ".lock")


def staging_dir(db: Path) -> Path:
    """Where ensembles of the store ``db`` are computed before publishing (one folder per store)."""
    return db.parent / ".staging" / db.stem


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC).replace(tzinfo=None)


# -- reading -------------------------------------------------------------------------------------------------


def store_token(db: str | os.PathLike | None = None) -> tuple[int, int] | None:
    """Changes whenever a publish swapped in a new store file (inode, mtime); None if there is none."""
    try:
        st = os.stat(resolve_db(db))
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns)


def connect_readonly(db: str | os.PathLike | None = None, *, retries: int = 20, config: dict | None = None
                     ) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published store; close it soon (see the module docstring).

    Retries for about three seconds if a process holds the file read-write (only ever briefly, and only
    by something other than the pipelines, which never write the store in place).
    """
    path = resolve_db(db)
    if not path.exists():
        raise StoreMissing(f"no store at {path}; build it with `python -m pipelines run --all`")
    delay = 0.02
    for attempt in itertools.count():
        try:
            return duckdb.connect(str(path), read_only=True, config=config or {})
        except duckdb.IOException as err:
            if not is_lock_conflict(err) or attempt >= retries:
                if is_lock_conflict(err):
                    raise StoreLocked(f"the store {path} is open read-write in another process; close it (it is "
                                      f"only safe to open it read_only) and retry. Nothing was changed. ({err})"
                                      ) from None
                raise
        except duckdb.Error as err:
            # A file swapped in between our open and read can look briefly unreadable; retry once or twice.
            if attempt >= 3:
                raise
            _ = err
        time.sleep(delay)
        delay = min(0.2, delay * 1.5)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def reader(db: str | os.PathLike | None = None, **kwargs) -> Iterator[duckdb.DuckDBPyConnection]:
    """``with reader(db) as con:`` a short-lived read-only connection."""
    con = connect_readonly(db, **kwargs)
    try:
        yield con
    finally:
        con.close()


def read_ensembles(db: str | os.PathLike | None = None) -> pd.DataFrame:
    """The ``ensembles`` table (empty frame if there is no store yet)."""
    path = resolve_db(db)
    if not path.exists():
        return pd.DataFrame(columns=[c for c, _ in BASE_COLUMNS["ensembles"]])
    with reader(path) as con:
        return con.execute("SELECT * FROM ensembles ORDER BY scenario, kind, finished_at").df()


# -- writer lock -------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def file_lock(path: Path, timeout: float, what: str) -> Iterator[None]:
    """Exclusive ``flock`` on ``path``, waiting up to ``timeout`` seconds; raises :class:`StoreLocked`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(path)
                    raise StoreLocked(f"{what} is locked by another process{holder} (waited {timeout:g} s); "
                                      f"nothing was changed. Try again when it has finished, or pass a longer "
                                      f"--lock-timeout.") from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _read_holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid else ""


def writer_lock(db: Path, timeout: float) -> contextlib.AbstractContextManager:
    return file_lock(lock_path(db), timeout, f"the store {db}")


# -- schema ------------------------------------------------------------------------------------------------------


#: Columns renamed since a store could have been written: (table, old name, new name).
RENAMED_COLUMNS = (("runs", "labour_share_class", "labor_share_class"),)


def ensure_schema(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...] | None = None, schema: str = "") -> None:
    prefix = f"{schema}." if schema else ""
    for table in tables or tuple(BASE_COLUMNS):
        columns = ", ".join(f"{q(c)} {t}" for c, t in BASE_COLUMNS[table])
        con.execute(f"CREATE TABLE IF NOT EXISTS {prefix}{q(table)} ({columns})")
        for renamed_in, old, new in RENAMED_COLUMNS:  # a store written before a rename keeps its rows
            if renamed_in == table and not schema:
                own = con.execute("SELECT current_database()").fetchone()[0]
                present = set(table_columns(con, table, own))
                if old in present and new not in present:
                    con.execute(f"ALTER TABLE {q(table)} RENAME COLUMN {q(old)} TO {q(new)}")


def table_columns(con: duckdb.DuckDBPyConnection, table: str, catalog: str | None = None) -> list[str]:
    sql = "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
    args: list = [table]
    if catalog:
        sql += " AND table_catalog = ?"
        args.append(catalog)
    sql += " ORDER BY ordinal_position"
    return [r[0] for r in con.execute(sql, args).fetchall()]


def add_double_columns(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], existing: list[str],
                       prefix: str = "") -> None:
    for column in columns:
        if column not in existing:
            con.execute(f"ALTER TABLE {prefix}{q(table)} ADD COLUMN {q(column)} DOUBLE")
            existing.append(column)


def create_views(con: duckdb.DuckDBPyConnection) -> None:
    for name, sql in VIEWS.items():
        con.execute(f"CREATE OR REPLACE VIEW {q(name)} AS {sql}")


# -- publish -----------------------------------------------------------------------------------------------------

_publish_counter = itertools.count()
STAGING_ALIAS = "_pipelines_staging"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _cleanup_temporaries(db: Path) -> None:
    """Remove publish temporaries left by a killed writer (only called under the writer lock)."""
    for leftover in db.parent.glob(f".{db.name}.publish-*"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def _check_store_usable(db: Path) -> None:
    """Fail clearly if another program holds the store read-write (we would copy a file being written)."""
    if not db.exists():
        return
    wal = db.with_name(db.name + ".wal")
    try:
        if wal.exists():  # someone wrote the store in place and did not checkpoint: fold the WAL in first
            con = duckdb.connect(str(db))
            con.execute("CHECKPOINT")
        else:
            con = duckdb.connect(str(db), read_only=True)
        con.close()
    except duckdb.IOException as err:
        if is_lock_conflict(err):
            raise StoreLocked(f"the store {db} is open read-write in another process; close it (it is only "
                              f"safe to open it read_only) and rerun. Nothing was changed. ({err})") from None
        raise


def _check_space(db: Path, stagings: list[Path]) -> None:
    staged = sum(p.stat().st_size for p in stagings)
    need = (db.stat().st_size if db.exists() else 0) + 2 * staged + (32 << 20)
    free = shutil.disk_usage(db.parent).free
    if free < need:
        raise DiskFull(f"not enough free disk space to publish into {db}: {free / 2**20:.0f} MiB free, about "
                       f"{need / 2**20:.0f} MiB needed. The published store is unchanged and the computed "
                       f"ensemble(s) are kept in {stagings[0].parent}; free some space and rerun to publish them.")


def publish(db: Path, staging: Path | list[tuple[Path, dict]], ensemble: dict | None = None,
            catalog: pd.DataFrame | None = None, *, lock_timeout: float) -> dict[str, list[str]]:
    """Atomically add finished ensembles to the store in one swap, replacing what they supersede.

    ``staging`` is a list of ``(staging file, ensembles row)`` pairs (or one staging file with its
    row in ``ensemble``). All of them become visible together, in one ``os.replace``, or none does.
    A named ensemble replaces the other named ensembles of its scenario; a user ensemble replaces
    one with the same id and prunes the oldest user ensembles beyond ``MAX_USER_ENSEMBLES``.
    Returns ``{ensemble_id: ids of the ensembles it replaced}``.
    """
    items = [(Path(staging), ensemble)] if ensemble is not None else list(staging)
    if not items:
        return {}
    db.parent.mkdir(parents=True, exist_ok=True)
    where = items[0][0].parent if len(items) > 1 else items[0][0]
    with writer_lock(db, lock_timeout):
        _cleanup_temporaries(db)
        _check_store_usable(db)
        _check_space(db, [path for path, _ in items])
        tmp = db.with_name(f".{db.name}.publish-{os.getpid()}-{next(_publish_counter)}")
        con = None
        try:
            if db.exists():
                shutil.copyfile(db, tmp)
            con = duckdb.connect(str(tmp))
            con.execute("SET preserve_insertion_order = true")
            replaced = _write_ensembles(con, items, catalog)
            con.execute("CHECKPOINT")
            con.close()
            con = None
            _fsync(tmp)
            os.replace(tmp, db)
            with contextlib.suppress(OSError):
                _fsync(db.parent)
            return replaced
        except BaseException as err:
            if con is not None:
                with contextlib.suppress(Exception):
                    con.close()
            for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
                with contextlib.suppress(OSError):
                    leftover.unlink()
            if isinstance(err, Exception) and is_disk_full(err):
                raise DiskFull(f"the disk filled up while publishing into {db} ({err}). The published store "
                               f"is unchanged and the computed ensemble(s) are kept in {where}; free some space "
                               f"and rerun to publish them.") from None
            raise


def _write_ensembles(con: duckdb.DuckDBPyConnection, items: list[tuple[Path, dict]],
                     catalog: pd.DataFrame | None) -> dict[str, list[str]]:
    """Copy each staging file's ensemble into the store ``con`` in a single transaction."""
    ensure_schema(con)
    own = con.execute("SELECT current_database()").fetchone()[0]
    aliases = [f"{STAGING_ALIAS}_{i}" for i in range(len(items))]
    attached: list[str] = []
    replaced: dict[str, list[str]] = {}
    try:
        for (staging, _), alias in zip(items, aliases):
            con.execute(f"ATTACH {_sql_str(str(staging))} AS {alias} (READ_ONLY)")
            attached.append(alias)
            # bring the store's metric columns up to the staging file's (the model may have new metrics)
            for table in ("runs", "trajectories"):
                existing = table_columns(con, table, catalog=own)
                incoming = table_columns(con, table, catalog=alias)
                add_double_columns(con, table, [c for c in incoming if c not in existing], existing)

        con.execute("BEGIN TRANSACTION")
        for (_, ensemble), alias in zip(items, aliases):
            eid = ensemble["ensemble_id"]
            if ensemble["kind"] == "named":
                old = [r[0] for r in con.execute(
                    "SELECT ensemble_id FROM ensembles WHERE kind = 'named' AND scenario = ? AND ensemble_id <> ?",
                    [ensemble["scenario"], eid]).fetchall()]
            else:
                old = [r[0] for r in con.execute(
                    "SELECT ensemble_id FROM ensembles WHERE kind = 'user' AND ensemble_id <> ? "
                    "ORDER BY finished_at DESC OFFSET ?", [eid, MAX_USER_ENSEMBLES - 1]).fetchall()]
            collision = con.execute("SELECT ensemble_id FROM ensembles WHERE run_id_min = ? AND ensemble_id <> ?",
                                    [ensemble["run_id_min"], eid]).fetchall()
            if collision and collision[0][0] not in old:
                raise RuntimeError(f"run id range of {eid} collides with ensemble {collision[0][0]}")
            for gone in old + [eid]:
                delete_ensemble(con, gone)
            for table in DATA_TABLES:
                con.execute(f"INSERT INTO {q(table)} BY NAME SELECT * FROM {alias}.{q(table)}")
            columns = [c for c, _ in BASE_COLUMNS["ensembles"]]
            row = {c: ensemble.get(c) for c in columns}
            con.execute(f"INSERT INTO ensembles ({', '.join(q(c) for c in columns)}) VALUES "
                        f"({', '.join('?' for _ in columns)})", [row[c] for c in columns])
            replaced[eid] = old
        if catalog is not None and len(catalog):
            con.register("_catalog", catalog)
            con.execute("DELETE FROM metrics WHERE name IN (SELECT name FROM _catalog)")
            con.execute("INSERT INTO metrics BY NAME SELECT * FROM _catalog")
            con.unregister("_catalog")
        con.execute("DELETE FROM store_info")
        con.executemany("INSERT INTO store_info VALUES (?, ?)", [
            ("schema_version", str(SCHEMA_VERSION)), ("updated_at", utcnow().isoformat(timespec="seconds")),
            ("last_ensemble", items[-1][1]["ensemble_id"])])
        create_views(con)
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            con.execute("ROLLBACK")
        raise
    finally:
        for alias in attached:
            with contextlib.suppress(Exception):
                con.execute(f"DETACH {alias}")
    return replaced


def delete_ensemble(con: duckdb.DuckDBPyConnection, ensemble_id: str) -> None:
    for table in DATA_TABLES:
        con.execute(f"DELETE FROM {q(table)} WHERE ensemble_id = ?", [ensemble_id])
    con.execute("DELETE FROM ensembles WHERE ensemble_id = ?", [ensemble_id])


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def remove_ensembles(db: Path, ensemble_ids: list[str], *, lock_timeout: float = 60.0) -> None:
    """Delete ensembles from the store (same atomic copy-and-swap as a publish)."""
    with writer_lock(db, lock_timeout):
        _cleanup_temporaries(db)
        _check_store_usable(db)
        tmp = db.with_name(f".{db.name}.publish-{os.getpid()}-{next(_publish_counter)}")
        try:
            shutil.copyfile(db, tmp)
            con = duckdb.connect(str(tmp))
            con.execute("BEGIN TRANSACTION")
            for eid in ensemble_ids:
                delete_ensemble(con, eid)
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
            con.close()
            _fsync(tmp)
            os.replace(tmp, db)
        except BaseException as err:
            with contextlib.suppress(OSError):
                tmp.unlink()
            if isinstance(err, OSError) and err.errno == errno.ENOSPC:
                raise DiskFull(f"no space left to rewrite {db}; nothing was changed") from None
            raise


def ensemble_row_json(overrides: dict) -> str:
    return json.dumps(dict(sorted(overrides.items())), sort_keys=True)

"""All of the dashboard's data access: read-only DuckDB over the pipelines' store, cached.

Every page calls these functions and nothing else touches DuckDB. Rules kept here:

- One connection per store file, opened ``read_only`` with external access disabled and the
  configuration locked (so no query can read or write host files, attach databases, load
  extensions or change settings), cached with ``st.cache_resource`` and keyed on the file's
  identity (inode, size, mtime), so a store that the pipelines rewrite or swap is reopened.
- Query results are cached with ``st.cache_data``, keyed on the same identity plus the query's
  parameters; values from the user always travel as bound parameters. Identifiers (metric
  columns) are checked against the table's real columns before they are quoted into SQL.
- :func:`run_user_sql` is the SQL page's door (``pipelines.sql``, the same one as
  ``python -m pipelines sql``): one statement, ``SELECT``/``EXPLAIN`` only, a row limit pushed into
  the plan and a timeout that interrupts the query.
"""

from __future__ import annotations

import atexit
import os
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import streamlit as st

from pipelines import sql as sql_door
from pipelines.errors import PipelineError

#: Environment variable that points the dashboard at a store (else ``pipelines.DEFAULT_DB``).
DB_ENV = "AIFS_DB"
FALLBACK_DB = Path(__file__).resolve().parents[1] / "store" / "ai_futures.duckdb"

TABLES = ("ensembles", "runs", "parameters", "trajectories", "milestones", "quantiles")
QUANTILE_COLUMNS = ("p5", "p10", "p25", "p50", "p75", "p90", "p95")
CLASS_COLUMNS = ("growth_class", "labor_share_class", "wages_class")
#: ``runs`` columns that are not per-run result metrics.
RUN_BASE_COLUMNS = {
    "run_id",
    "ensemble_id",
    "sample_index",
    "is_central",
    "status",
    "status_year",
    *CLASS_COLUMNS,
}
MILESTONE_ORDER = ("AC", "SAR", "SIAR", "TED-AI", "ASI")
#: The order the economics literature reads the classes in (Trammell & Korinek tables).
CLASS_ORDER = {
    "growth_class": ["--", "-", "=", "+", "++", "I", "II"],
    "labor_share_class": ["C", "->0"],
    "wages_class": ["->0", "=", "C", "L", "++", "I"],
}
#: The SQL door (connection lock-down, statement check) is shared with ``python -m pipelines sql``.
LOCKDOWN = sql_door.LOCKDOWN
SQL_ALLOWED = sql_door.SQL_ALLOWED


class StoreError(RuntimeError):
    """The store cannot be read (missing, locked, wrong schema); the message says what to do."""


# --------------------------------------------------------------------------------------------- store


def db_path() -> Path:
    """The store the dashboard reads: ``$AIFS_DB``, else ``pipelines.DEFAULT_DB``."""
    env = os.environ.get(DB_ENV)
    if env:
        return Path(env).expanduser()
    try:
        from pipelines import DEFAULT_DB
    except Exception:  # noqa: BLE001 - any import problem falls back to the documented default
        return FALLBACK_DB
    return Path(DEFAULT_DB)


def fingerprint(path: Path | str | None = None) -> tuple | None:
    """Identity of the store file (path, inode, size, mtime, WAL mtime); None when it does not exist."""
    path = Path(path or db_path())
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    wal = Path(str(path) + ".wal")
    wal_mtime = wal.stat().st_mtime_ns if wal.exists() else 0
    return (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, wal_mtime)


def open_readonly(path: str | Path, retries: int = 20) -> duckdb.DuckDBPyConnection:
    """A locked-down read-only connection to the store file at ``path`` (:func:`pipelines.sql.open_locked`:
    no statement on it can read or write host files, attach databases, load extensions or change settings)."""
    try:
        return sql_door.open_locked(path, retries=retries)
    except (PipelineError, duckdb.IOException) as err:
        raise StoreError(f"cannot open the store {path} read-only: {err}") from err


@st.cache_resource(max_entries=1, show_spinner=False)
def _connection(fp: tuple) -> duckdb.DuckDBPyConnection:
    # Keyed on the file identity: when the pipelines publish (swap in a new file) the next call opens
    # the new file; the old connection is dropped from the cache and closed once no cursor uses it.
    return open_readonly(fp[0])


def connect(fp: tuple | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh cursor on the cached read-only connection (one cursor per query: cursors are not shared)."""
    fp = fp or fingerprint()
    if fp is None:
        raise StoreError(f"no store at {db_path()}")
    cur = _connection(fp).cursor()
    cur.execute("USE store")  # each cursor is a new client context: point it at the store again
    return cur


def release() -> None:
    """Forget the cached connection and query results (the next call reopens the store)."""
    _connection.clear()
    _query.clear()


@st.cache_data(max_entries=512, show_spinner=False)
def _query(fp: tuple, sql: str, params: tuple = ()) -> pd.DataFrame:
    with connect(fp) as cur:
        return cur.execute(sql, list(params)).df()


def query(sql: str, params: tuple | list = ()) -> pd.DataFrame:
    """Run a fixed SQL text with bound parameters against the current store, cached by store identity.

    Returns a copy so callers may modify it without touching the cache.
    """
    fp = fingerprint()
    if fp is None:
        raise StoreError(f"no store at {db_path()}")
    return _query(fp, sql, tuple(params))


def store_status() -> tuple[str, str]:
    """``(state, detail)``: state ``missing`` (no file), ``empty`` (no complete ensemble), ``locked``
    (another program holds it read-write), ``unreadable`` (not a DuckDB store; ``detail`` says why) or ``ok``."""
    fp = fingerprint()
    if fp is None:
        return "missing", ""
    try:
        present = tables()
    except (StoreError, duckdb.Error) as err:
        detail = str(err)
        return ("locked" if "lock" in detail.lower() else "unreadable"), detail
    if not set(TABLES) <= present:
        return "empty", ""
    if current_ensembles().empty:
        return "empty", ""
    return "ok", ""


def store_state() -> str:
    """``missing``, ``empty``, ``locked``, ``unreadable`` or ``ok`` (see :func:`store_status`)."""
    return store_status()[0]


def columns(table: str) -> list[str]:
    """Column names of a store table, in order."""
    frame = query(
        """SELECT column_name FROM information_schema.columns
           WHERE table_name = ? AND table_catalog = current_database() ORDER BY ordinal_position""",
        (table,),
    )
    return list(frame["column_name"])


def schema() -> pd.DataFrame:
    """Every table and view of the store with its columns and types (the SQL page shows it)."""
    return query(
        """SELECT c.table_name, t.table_type, c.column_name, c.data_type
           FROM information_schema.columns c
           JOIN information_schema.tables t USING (table_catalog, table_schema, table_name)
           WHERE c.table_catalog = current_database()
           ORDER BY t.table_type, c.table_name, c.ordinal_position"""
    )


def _ident(name: str, allowed: list[str]) -> str:
    """Quote a column name that must be one of ``allowed`` (never user text that is not checked)."""
    if name not in allowed:
        raise ValueError(f"unknown column {name!r}")
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------------------------------- ensembles

_ENSEMBLES_SQL = """
SELECT e.*, coalesce(r.mc_runs, 0) AS mc_runs
FROM ensembles e LEFT JOIN (SELECT ensemble_id, count(*) AS mc_runs FROM runs WHERE NOT is_central GROUP BY 1) r
     USING (ensemble_id)
ORDER BY e.finished_at DESC NULLS LAST
"""


def ensembles() -> pd.DataFrame:
    """Every ensemble in the store with its Monte Carlo run count (``mc_runs``, central run excluded),
    plus ``is_user``, ``complete`` and a display ``label`` (scenario name, or ``user/<id>`` for reruns)."""
    frame = query(_ENSEMBLES_SQL).copy()
    frame["ensemble_id"] = frame["ensemble_id"].astype(str)
    kind = frame["kind"].astype(str).str.lower()
    status = frame["status"].astype(str).str.lower()
    frame["is_user"] = kind.eq("user")
    frame["complete"] = status.eq("complete") & (frame["mc_runs"] > 0)
    frame["label"] = np.where(
        frame["is_user"], "user/" + frame["ensemble_id"].str[:8], frame["scenario"].astype(str)
    )
    return frame


def current_ensembles() -> pd.DataFrame:
    """The newest complete named ensemble of each scenario: baseline first, then by name."""
    frame = ensembles()
    frame = frame[frame["complete"] & ~frame["is_user"]]
    frame = frame.sort_values("finished_at", ascending=False, na_position="last").drop_duplicates("scenario")
    key = [(s != "baseline", s) for s in frame["scenario"]]
    order = sorted(range(len(key)), key=key.__getitem__)
    return frame.iloc[order].reset_index(drop=True)


def user_ensembles() -> pd.DataFrame:
    """Complete user (rerun) ensembles, newest first."""
    frame = ensembles()
    return frame[frame["is_user"] & frame["complete"]].reset_index(drop=True)


def choices() -> dict[str, str]:
    """Display label -> ensemble_id for every selectable ensemble (named scenarios, then user reruns)."""
    current, users = current_ensembles(), user_ensembles()
    out = dict(zip(current["scenario"], current["ensemble_id"]))
    out.update(zip(users["label"], users["ensemble_id"]))
    return out


def resolve(labels: list[str]) -> dict[str, str]:
    """Labels (scenario names or ``user/<id>``) -> ensemble ids, in the given order, unknown labels dropped."""
    known = choices()
    return {label: known[label] for label in labels if label in known}


def _in(values: list) -> tuple[str, tuple]:
    """Placeholders and parameters for ``IN (...)``."""
    values = list(values) or [""]
    return ",".join("?" * len(values)), tuple(values)


# ---------------------------------------------------------------------------------------- catalogue


def metric_catalogue() -> pd.DataFrame:
    """The store's copy of the metric catalogue (``name, kind, unit, description, log_scale, module``)."""
    if "metrics" not in tables():
        return pd.DataFrame(columns=["name", "kind", "unit", "description", "log_scale", "module"])
    return query("SELECT name, kind, unit, description, log_scale, module FROM metrics")


def tables() -> set[str]:
    return set(
        query("SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database()")[
            "table_name"
        ]
    )


def parameter_specs(ensemble_id: str) -> pd.DataFrame:
    """The parameter table an ensemble was computed with (value, unit, distribution, range, source)."""
    if "parameter_specs" not in tables():
        return pd.DataFrame()
    return query(
        "SELECT * EXCLUDE (ensemble_id) FROM parameter_specs WHERE ensemble_id = ? ORDER BY name",
        (ensemble_id,),
    )


# ---------------------------------------------------------------------------------------- quantiles


def quantile_metrics() -> list[str]:
    return list(query("SELECT DISTINCT metric FROM quantiles ORDER BY metric")["metric"])


def quantiles(ensemble_ids: list[str], metric: str) -> pd.DataFrame:
    """Precomputed fan-chart bands: ``ensemble_id, year, n, p5 ... p95`` for one metric.

    ``n`` is the number of runs with a finite value that year (the pipelines leave out runs that
    diverged), so bands late in a run describe the runs still finite.
    """
    marks, params = _in(ensemble_ids)
    return query(
        f"""SELECT ensemble_id, year, n, {", ".join(QUANTILE_COLUMNS)} FROM quantiles
            WHERE metric = ? AND ensemble_id IN ({marks}) ORDER BY ensemble_id, year""",
        (metric, *params),
    )


def sample_trajectories(ensemble_id: str, metric: str, n: int = 5) -> pd.DataFrame:
    """The central run and the first ``n - 1`` sampled runs of one metric (``run_id, sample_index, year, value``)."""
    column = _ident(metric, columns("trajectories"))
    return query(
        f"""WITH picked AS (SELECT run_id, sample_index FROM runs WHERE ensemble_id = ?
                            ORDER BY sample_index LIMIT ?)
            SELECT t.run_id, p.sample_index, t.year, t.{column} AS value
            FROM trajectories t JOIN picked p USING (run_id)
            WHERE t.ensemble_id = ? AND isfinite(t.{column}) ORDER BY t.run_id, t.year""",
        (ensemble_id, int(n), ensemble_id),
    )


# -------------------------------------------------------------------------------------------- actors
#: The actor choice meaning "the world-level series" (the frontier project's, from ``quantiles``).
WORLD = ""
#: Per-actor tables (stores written before them lack them; every function below then returns nothing).
ACTOR_TABLES = ("actors", "actor_quantiles", "actor_trajectories", "project_milestones", "events")


def has_actor_tables() -> bool:
    return set(ACTOR_TABLES) <= tables()


def actors(ensemble_ids: list[str]) -> pd.DataFrame:
    """The actors of the given ensembles: ``ensemble_id, actor, kind, owner`` (nations first, file order)."""
    if not has_actor_tables():
        return pd.DataFrame(columns=["ensemble_id", "actor", "kind", "owner"])
    marks, params = _in(ensemble_ids)
    return query(
        f"""SELECT ensemble_id, actor, kind, owner FROM actors WHERE ensemble_id IN ({marks})
            ORDER BY ensemble_id, kind, rowid""",
        params,
    )


def actor_metrics() -> list[str]:
    """Metrics with per-actor fan-chart bands in the store."""
    if not has_actor_tables():
        return []
    return list(query("SELECT DISTINCT metric FROM actor_quantiles ORDER BY metric")["metric"])


def metric_actors(ensemble_ids: list[str], metric: str) -> list[str]:
    """The actors that have bands of ``metric`` in any of the ensembles (nations first, then projects)."""
    if not has_actor_tables():
        return []
    marks, params = _in(ensemble_ids)
    frame = query(
        f"""SELECT a.actor, min(a.kind) AS kind, min(a.rowid) AS pos FROM actors a
            WHERE a.ensemble_id IN ({marks}) AND EXISTS (
                SELECT 1 FROM actor_quantiles q WHERE q.ensemble_id = a.ensemble_id AND q.actor = a.actor
                  AND q.metric = ?)
            GROUP BY 1 ORDER BY 2, 3""",
        (*params, metric),
    )
    return list(frame["actor"])


def actor_quantiles(ensemble_ids: list[str], metric: str, actor: str) -> pd.DataFrame:
    """One actor's fan-chart bands of a per-actor metric: ``ensemble_id, year, n, p5 ... p95``."""
    if not has_actor_tables():
        return pd.DataFrame(columns=["ensemble_id", "year", "n", *QUANTILE_COLUMNS])
    marks, params = _in(ensemble_ids)
    return query(
        f"""SELECT ensemble_id, year, n, {", ".join(QUANTILE_COLUMNS)} FROM actor_quantiles
            WHERE metric = ? AND actor = ? AND ensemble_id IN ({marks}) ORDER BY ensemble_id, year""",
        (metric, actor, *params),
    )


def actor_sample_trajectories(ensemble_id: str, metric: str, actor: str, n: int = 5) -> pd.DataFrame:
    """The central run and the first ``n - 1`` sampled runs of one actor's series (as :func:`sample_trajectories`)."""
    return query(
        """WITH picked AS (SELECT run_id, sample_index FROM runs WHERE ensemble_id = ?
                           ORDER BY sample_index LIMIT ?)
           SELECT a.run_id, p.sample_index, a.year, a.value
           FROM actor_trajectories a JOIN picked p USING (run_id)
           WHERE a.ensemble_id = ? AND a.metric = ? AND a.actor = ? AND isfinite(a.value)
           ORDER BY a.run_id, a.year""",
        (ensemble_id, int(n), ensemble_id, metric, actor),
    )


def actor_values_at(ensemble_ids: list[str], metric: str, year: float) -> pd.DataFrame:
    """Every actor's bands of ``metric`` at the stored year nearest ``year``:
    ``ensemble_id, actor, kind, owner, year, n, p10, p50, p90`` (empty when the metric is not stored)."""
    if not has_actor_tables():
        return pd.DataFrame(columns=["ensemble_id", "actor", "kind", "owner", "year", "n", "p10", "p50", "p90"])
    marks, params = _in(ensemble_ids)
    return query(
        f"""WITH q AS (SELECT * FROM actor_quantiles WHERE metric = ? AND ensemble_id IN ({marks})),
                 nearest AS (SELECT ensemble_id, arg_min(year, abs(year - ?)) AS year FROM q GROUP BY 1)
            SELECT q.ensemble_id, q.actor, a.kind, a.owner, q.year, q.n, q.p10, q.p50, q.p90
            FROM q JOIN nearest USING (ensemble_id, year)
            LEFT JOIN actors a ON a.ensemble_id = q.ensemble_id AND a.actor = q.actor
            ORDER BY q.ensemble_id, a.kind, a.rowid""",
        (metric, *params, float(year)),
    )


def event_counts(ensemble_ids: list[str]) -> pd.DataFrame:
    """Event firings of the Monte Carlo runs per calendar year: ``ensemble_id, event, actor, year, firings,
    runs`` (``actor`` ``(world)`` for events about the world; ``runs``: distinct runs that fired it)."""
    if not has_actor_tables():
        return pd.DataFrame(columns=["ensemble_id", "event", "actor", "year", "firings", "runs"])
    marks, params = _in(ensemble_ids)
    return query(
        f"""SELECT ev.ensemble_id, ev.event, coalesce(ev.actor, '(world)') AS actor, floor(ev.year) AS year,
                   count(*) AS firings, count(DISTINCT ev.run_id) AS runs
            FROM events ev JOIN ensembles e USING (ensemble_id)
            WHERE ev.ensemble_id IN ({marks}) AND ev.run_id <> e.run_id_min AND isfinite(ev.year)
            GROUP BY ALL ORDER BY ALL""",
        params,
    )


# ------------------------------------------------------------------------------------------- policy
#: Phases of a slowdown agreement in the order they come (``sim.parameters.policies``); an agreement's event
#: ``agreement_<phase>`` marks the year it enters the phase. Phases never go backwards except into
#: ``collapsed`` (the last), so a run's phase at a year is the latest-ordered one entered by then.
PHASES = ("none", "negotiating", "signed", "in_force", "collapsed")


def policy_grid(ensemble_ids: list[str], step: float = 0.25) -> list[float]:
    """Years on which the Policy page evaluates phases and detection: ``step`` apart, from the first stored year
    to the latest horizon end of the ensembles."""
    lo = year_range()[0]
    hi = horizon_end(ensemble_ids)
    return [float(y) for y in np.arange(lo, hi + step / 2, step)]


def agreement_phase_shares(ensemble_ids: list[str], years: list[float]) -> pd.DataFrame:
    """Share of Monte Carlo runs in each phase of each agreement at each of ``years``:
    ``ensemble_id, agreement, year, phase, runs, share`` (every phase of :data:`PHASES` listed, shares summing
    to 1 per ensemble, agreement and year). Agreements are those with at least one phase event in the store."""
    empty = pd.DataFrame(columns=["ensemble_id", "agreement", "year", "phase", "runs", "share"])
    if not has_actor_tables() or not years:
        return empty
    marks, params = _in(ensemble_ids)
    ymarks, yparams = _in([float(y) for y in years])
    phases = ", ".join(f"('{p}', {i})" for i, p in enumerate(PHASES))
    frame = query(
        f"""WITH r AS ({_MC_RUNS.format(marks=marks)}),
                 ph(phase, k) AS (VALUES {phases}),
                 ev AS (SELECT ev.run_id, ev.actor AS agreement, ph.k, ev.year FROM events ev
                        JOIN r USING (run_id) JOIN ph ON ev.event = 'agreement_' || ph.phase
                        WHERE ev.actor IS NOT NULL),
                 ag AS (SELECT DISTINCT r.ensemble_id, ev.agreement FROM ev JOIN r USING (run_id)),
                 g(year) AS (SELECT unnest([{ymarks}]::DOUBLE[])),
                 st AS (SELECT ag.ensemble_id, ag.agreement, r.run_id, g.year,
                               coalesce(max(ev.k) FILTER (WHERE ev.year <= g.year), 0) AS k
                        FROM ag JOIN r USING (ensemble_id) CROSS JOIN g
                        LEFT JOIN ev ON ev.run_id = r.run_id AND ev.agreement = ag.agreement
                        GROUP BY ALL),
                 n AS (SELECT ensemble_id, count(*) AS n FROM r GROUP BY 1)
            SELECT ag.ensemble_id, ag.agreement, g.year, ph.phase, count(st.run_id) AS runs,
                   count(st.run_id) / any_value(n.n) AS share
            FROM ag CROSS JOIN g CROSS JOIN ph JOIN n USING (ensemble_id)
            LEFT JOIN st ON st.ensemble_id = ag.ensemble_id AND st.agreement = ag.agreement AND st.year = g.year
                            AND st.k = ph.k
            GROUP BY ag.ensemble_id, ag.agreement, g.year, ph.phase, ph.k
            ORDER BY ag.ensemble_id, ag.agreement, g.year, ph.k""",
        (*params, *yparams),
    )
    return frame if len(frame) else empty


def hidden_projects(ensemble_ids: list[str]) -> pd.DataFrame:
    """Projects marked hidden (``covert.ACTOR.hidden = 1`` in ``parameter_specs``): ``ensemble_id, actor``."""
    if "parameter_specs" not in tables():
        return pd.DataFrame(columns=["ensemble_id", "actor"])
    marks, params = _in(ensemble_ids)
    return query(
        f"""SELECT ensemble_id, split_part(name, '.', 2) AS actor FROM parameter_specs
            WHERE ensemble_id IN ({marks}) AND name LIKE 'covert.%.hidden' AND len(string_split(name, '.')) = 3
              AND value > 0 ORDER BY 1, 2""",
        params,
    )


def detection_by_year(ensemble_ids: list[str], years: list[float], event: str = "covert_detected") -> pd.DataFrame:
    """P(a hidden project detected by year): ``ensemble_id, actor, year, detected, runs, probability`` for every
    hidden project (:func:`hidden_projects`), the share of Monte Carlo runs whose first ``event`` is at or before
    the year."""
    hidden = hidden_projects(ensemble_ids)
    if hidden.empty or not has_actor_tables() or not years:
        return pd.DataFrame(columns=["ensemble_id", "actor", "year", "detected", "runs", "probability"])
    marks, params = _in(ensemble_ids)
    ymarks, yparams = _in([float(y) for y in years])
    frame = query(
        f"""WITH r AS ({_MC_RUNS.format(marks=marks)}),
                 n AS (SELECT ensemble_id, count(*) AS n FROM r GROUP BY 1),
                 first AS (SELECT r.ensemble_id, ev.run_id, ev.actor, min(ev.year) AS year FROM events ev
                           JOIN r USING (run_id) WHERE ev.event = ? AND isfinite(ev.year) GROUP BY ALL),
                 g(year) AS (SELECT unnest([{ymarks}]::DOUBLE[]))
            SELECT f.ensemble_id, f.actor, g.year, count(*) FILTER (WHERE f.year <= g.year) AS detected
            FROM first f CROSS JOIN g GROUP BY ALL ORDER BY ALL""",
        (*params, event, *yparams),
    )
    counts = run_counts(ensemble_ids)
    grid = pd.DataFrame({"year": [float(y) for y in years]})
    out = hidden.merge(grid, how="cross").merge(frame, on=["ensemble_id", "actor", "year"], how="left")
    out["detected"] = out["detected"].fillna(0).astype(int)
    out["runs"] = out["ensemble_id"].map(counts).astype(int)
    out["probability"] = out["detected"] / out["runs"]
    return out


def project_milestone_percentiles(ensemble_ids: list[str], probs=(0.1, 0.5, 0.9)) -> pd.DataFrame:
    """Per ensemble, project and milestone: runs, runs reaching it, and percentiles of its year over all Monte
    Carlo runs, with the store's definition (:func:`milestone_percentiles`: the p-th percentile is the earliest
    year by which p % of all runs reached it, ``inf`` when fewer do by the end):
    ``ensemble_id, actor, milestone, runs, reached, p10, p50, p90``."""
    cols = [f"p{round(p * 100)}" for p in probs]
    if not has_actor_tables():
        return pd.DataFrame(columns=["ensemble_id", "actor", "milestone", "runs", "reached", *cols])
    marks, params = _in(ensemble_ids)
    picks = ", ".join(
        f"ys[greatest(1, ({round(p * 100)} * n + 99) // 100)] AS p{round(p * 100)}" for p in probs
    )
    frame = query(
        f"""WITH r AS ({_MC_RUNS.format(marks=marks)}),
                 n AS (SELECT ensemble_id, count(*) AS n FROM r GROUP BY 1),
                 y AS (SELECT r.ensemble_id, m.actor, m.milestone,
                              list_sort(list(m.year) FILTER (WHERE isfinite(m.year))) AS ys
                       FROM project_milestones m JOIN r USING (run_id) GROUP BY 1, 2, 3)
            SELECT y.ensemble_id, y.actor, y.milestone, n.n AS runs, len(y.ys) AS reached, {picks}
            FROM y JOIN n USING (ensemble_id) ORDER BY 1, 2, 3""",
        params,
    ).copy()
    for c in cols:
        frame[c] = frame[c].astype(float).fillna(float("inf"))
    return frame


def paired_milestone_delays(ensemble_id: str, reference_id: str, milestones: list[str]) -> pd.DataFrame:
    """Per project and milestone, the delay of ``ensemble_id`` against ``reference_id`` run by run (runs paired by
    ``sample_index``: the same seed draws the same samples), each year censored at its ensemble's horizon end
    (a milestone not reached counts as reached at the end): ``actor, milestone, pairs, p10, p50, p90`` in years."""
    if not has_actor_tables():
        return pd.DataFrame(columns=["actor", "milestone", "pairs", "p10", "p50", "p90"])
    ends = horizon_ends()
    marks, params = _in(milestones)
    return query(
        f"""WITH y AS (SELECT r.ensemble_id, r.sample_index, m.actor, m.milestone,
                              least(coalesce(CASE WHEN isfinite(m.year) THEN m.year END, 'inf'::DOUBLE),
                                    CASE r.ensemble_id WHEN ? THEN ?::DOUBLE ELSE ?::DOUBLE END) AS year
                       FROM project_milestones m JOIN runs r USING (run_id)
                       WHERE NOT r.is_central AND r.ensemble_id IN (?, ?) AND m.milestone IN ({marks})),
                 d AS (SELECT a.actor, a.milestone, a.year - b.year AS delay FROM y a JOIN y b
                       ON a.sample_index = b.sample_index AND a.actor = b.actor AND a.milestone = b.milestone
                       WHERE a.ensemble_id = ? AND b.ensemble_id = ?)
            SELECT actor, milestone, count(*) AS pairs, quantile_cont(delay, 0.1) AS p10,
                   quantile_cont(delay, 0.5) AS p50, quantile_cont(delay, 0.9) AS p90
            FROM d GROUP BY 1, 2 ORDER BY 1, 2""",
        (ensemble_id, ends.get(ensemble_id, float("inf")), ends.get(reference_id, float("inf")),
         ensemble_id, reference_id, *params, ensemble_id, reference_id),
    )


def year_range() -> tuple[float, float]:
    """First and last year on the stored output grid."""
    frame = query("SELECT min(year) AS lo, max(year) AS hi FROM quantiles")
    return float(frame["lo"].iloc[0]), float(frame["hi"].iloc[0])


def horizon_ends() -> dict[str, float]:
    """Ensemble id -> its last simulated year (``simulation.end_year`` it was computed with).

    Scenarios have different horizons (the AI Futures ones end in 2060, some Trammell & Korinek ones
    in 2324), so "not reached" always means "not by the end of *that* ensemble's runs". Falls back to
    the last year in the ensemble's ``quantiles`` for a store without ``parameter_specs``.
    """
    spec = ""
    if "parameter_specs" in tables():
        spec = """LEFT JOIN (SELECT ensemble_id, max(value) AS end_year FROM parameter_specs
                             WHERE name = 'simulation.end_year' GROUP BY 1) s USING (ensemble_id)"""
    frame = query(
        f"""SELECT e.ensemble_id, {"coalesce(s.end_year, q.hi)" if spec else "q.hi"} AS end_year
            FROM ensembles e {spec}
            LEFT JOIN (SELECT ensemble_id, max(year) AS hi FROM quantiles GROUP BY 1) q USING (ensemble_id)"""
    )
    return {str(e): float(y) for e, y in zip(frame["ensemble_id"], frame["end_year"]) if pd.notna(y)}


def horizon_end(ensemble_ids: list[str] | None = None) -> float:
    """Last simulated year of the given ensembles (all of them by default): the latest of their ends."""
    ends = horizon_ends()
    picked = [ends[e] for e in (ensemble_ids if ensemble_ids is not None else ends) if e in ends]
    return max(picked) if picked else year_range()[1]


# --------------------------------------------------------------------------------------- milestones


def _milestone_key(name: str) -> tuple:
    """AC, SAR, SIAR, TED-AI, ASI first; then the AI R&D uplift milestones by size (AIR-5x ... AIR-10000x); then the rest."""
    if name in MILESTONE_ORDER:
        return (0, MILESTONE_ORDER.index(name), "")
    uplift = re.fullmatch(r"AIR-(\d+)x", name)
    if uplift:
        return (1, int(uplift.group(1)), "")
    return (2, 0, name)


def milestone_names() -> list[str]:
    names = list(query("SELECT DISTINCT milestone FROM milestones")["milestone"])
    return sorted(names, key=_milestone_key)


#: Monte Carlo runs of the requested ensembles (the central run is not a sample of the distribution).
_MC_RUNS = "SELECT run_id, ensemble_id FROM runs WHERE NOT is_central AND ensemble_id IN ({marks})"
#: Milestone years of those runs, NULL when not reached (the store writes NaN or omits the row).
_REACHED = "CASE WHEN isfinite(m.year) THEN m.year END"


def milestone_percentiles(
    ensemble_ids: list[str], probs=(0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
) -> pd.DataFrame:
    """Per ensemble and milestone: runs, runs reaching it, and percentiles of its year over *all* runs.

    The store's ``milestone_percentiles`` view's definition (its SQL text from ``pipelines.store``, run
    here on the tables, so a store written by older code still reads the same way;
    ``sim.milestones.milestone_percentiles`` documents it): the p-th percentile is the earliest year by
    which p% of all Monte Carlo runs have reached the milestone, ``inf`` (shown as "> end year") when
    fewer than p% reach it by the end. ``end_year`` is the ensemble's last simulated year.
    """
    from pipelines.store import QUANTILES, VIEWS

    percents = [round(float(p) * 100) for p in probs]
    unknown = [p for p in percents if p not in QUANTILES]
    if unknown:
        raise ValueError(f"percentiles {unknown} are not among the stored ones {QUANTILES}")
    marks, params = _in(ensemble_ids)
    picks = ", ".join(f"p{p}" for p in percents)
    frame = query(
        f"""SELECT ensemble_id, milestone, n_runs AS runs, n_reached AS reached, {picks}
            FROM ({VIEWS["milestone_percentiles"]}) WHERE ensemble_id IN ({marks})""",
        params,
    ).copy()
    for p in percents:
        frame[f"p{p}"] = frame[f"p{p}"].astype(float).fillna(float("inf"))
    frame["share_reached"] = frame["reached"] / frame["runs"]
    frame["end_year"] = frame["ensemble_id"].map(horizon_ends()).astype(float)
    return frame


def run_counts(ensemble_ids: list[str]) -> dict[str, int]:
    """Monte Carlo runs per ensemble."""
    marks, params = _in(ensemble_ids)
    frame = query(
        f"SELECT ensemble_id, count(*) AS n FROM ({_MC_RUNS.format(marks=marks)}) GROUP BY 1", params
    )
    return dict(zip(frame["ensemble_id"], frame["n"].astype(int)))


def milestone_cdf(ensemble_ids: list[str], step: float = 0.25) -> pd.DataFrame:
    """Milestone years binned on a ``step``-year grid: ``ensemble_id, milestone, year, count, cdf``.

    ``count``: runs first reaching it in the bin ending at ``year``; ``cdf``: share of *all* the
    ensemble's runs that reached it by ``year``.
    """
    marks, params = _in(ensemble_ids)
    binned = query(
        f"""WITH r AS ({_MC_RUNS.format(marks=marks)})
            SELECT r.ensemble_id, m.milestone, ceil(m.year / ?::DOUBLE) * ?::DOUBLE AS year, count(*) AS count
            FROM milestones m JOIN r USING (run_id)
            WHERE isfinite(m.year) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""",
        (*params, float(step), float(step)),
    ).copy()
    totals = run_counts(ensemble_ids)
    binned["cdf"] = (
        binned.groupby(["ensemble_id", "milestone"])["count"].cumsum() / binned["ensemble_id"].map(totals)
    ).astype(float)
    return binned


def milestone_by_year(ensemble_ids: list[str], year: float) -> pd.DataFrame:
    """P(each milestone reached by ``year``) per ensemble (``ensemble_id, milestone, probability``)."""
    marks, params = _in(ensemble_ids)
    return query(
        f"""WITH r AS ({_MC_RUNS.format(marks=marks)}), names AS (SELECT DISTINCT milestone FROM milestones)
            SELECT r.ensemble_id, names.milestone,
                   avg(CASE WHEN isfinite(m.year) AND m.year <= ? THEN 1.0 ELSE 0.0 END) AS probability
            FROM r CROSS JOIN names
            LEFT JOIN milestones m ON m.run_id = r.run_id AND m.milestone = names.milestone
            GROUP BY 1, 2 ORDER BY 1, 2""",
        (*params, float(year)),
    )


# ------------------------------------------------------------------------------------------ classes


def class_shares(ensemble_ids: list[str]) -> pd.DataFrame:
    """Share of Monte Carlo runs in each (growth, labor share, wages) class per ensemble."""
    marks, params = _in(ensemble_ids)
    frame = query(
        f"""SELECT ensemble_id, coalesce(growth_class, '?') AS growth_class,
                   coalesce(labor_share_class, '?') AS labor_share_class,
                   coalesce(wages_class, '?') AS wages_class, count(*) AS runs
            FROM runs WHERE NOT is_central AND ensemble_id IN ({marks}) GROUP BY ALL""",
        params,
    ).copy()
    frame["share"] = frame["runs"] / frame.groupby("ensemble_id")["runs"].transform("sum")
    return frame


def run_metric_columns() -> list[str]:
    """Per-run result columns in ``runs`` (peak GDP growth, ...), numeric only."""
    frame = query(
        """SELECT column_name, data_type FROM information_schema.columns
           WHERE table_name = 'runs' AND table_catalog = current_database() ORDER BY ordinal_position"""
    )
    numeric = (
        frame["data_type"]
        .str.upper()
        .str.match(r"(DOUBLE|FLOAT|REAL|DECIMAL|BIGINT|INTEGER|HUGEINT|SMALLINT)")
    )
    return [c for c, ok in zip(frame["column_name"], numeric) if ok and c not in RUN_BASE_COLUMNS]


def run_metric_percentiles(ensemble_ids: list[str], column: str) -> pd.DataFrame:
    """10th/50th/90th percentile of a per-run metric (finite values only) per ensemble."""
    col = _ident(column, run_metric_columns())
    marks, params = _in(ensemble_ids)
    return query(
        f"""SELECT ensemble_id, quantile_cont({col}, 0.1) AS p10, median({col}) AS p50,
                   quantile_cont({col}, 0.9) AS p90, count({col}) AS runs
            FROM runs WHERE NOT is_central AND ensemble_id IN ({marks}) AND isfinite({col}::DOUBLE) GROUP BY 1""",
        params,
    )


def sampled_parameters(ensemble_id: str) -> list[str]:
    """Parameters that vary across the runs of an ensemble (pinned ones are not stored per run)."""
    frame = query(
        """SELECT name FROM parameters WHERE ensemble_id = ?
           GROUP BY 1 HAVING min(value) < max(value) ORDER BY 1""",
        (ensemble_id,),
    )
    return list(frame["name"])


def runs_with_parameters(ensemble_id: str, names: list[str], limit: int = 4000) -> pd.DataFrame:
    """One row per Monte Carlo run (first ``limit`` by sample index): status, classes and the named parameters."""
    names = list(dict.fromkeys(names))
    marks, params = _in(names)
    index = ["run_id", "sample_index", "status", *CLASS_COLUMNS]
    runs = query(
        """SELECT run_id, sample_index, status, growth_class, labor_share_class, wages_class
           FROM runs WHERE ensemble_id = ? AND NOT is_central ORDER BY sample_index LIMIT ?""",
        (ensemble_id, int(limit)),
    )
    long = query(
        f"""SELECT run_id, name, value FROM parameters
            WHERE ensemble_id = ? AND name IN ({marks}) AND run_id IN (
                SELECT run_id FROM runs WHERE ensemble_id = ? AND NOT is_central ORDER BY sample_index LIMIT ?)""",
        (ensemble_id, *params, ensemble_id, int(limit)),
    )
    if long.empty:
        return runs.reindex(columns=[*index, *names])
    wide = long.pivot(index="run_id", columns="name", values="value").reset_index()
    wide.columns.name = None
    return runs.merge(wide, on="run_id", how="left").reindex(columns=[*index, *names])


def runs_of_class(
    ensemble_id: str, growth: str | None, labour: str | None, wages: str | None, limit: int = 200
) -> pd.DataFrame:
    """Drill-down: runs of one class (None = any) with status, per-run metrics and milestone years."""
    metrics = run_metric_columns()
    extra = "".join(f", r.{_ident(c, metrics)}" for c in metrics)
    frame = query(
        f"""SELECT r.run_id, r.sample_index, r.status, r.status_year, r.growth_class, r.labor_share_class,
                   r.wages_class{extra}
            FROM runs r WHERE r.ensemble_id = ? AND NOT r.is_central
              AND (?::VARCHAR IS NULL OR coalesce(r.growth_class, '?') = ?)
              AND (?::VARCHAR IS NULL OR coalesce(r.labor_share_class, '?') = ?)
              AND (?::VARCHAR IS NULL OR coalesce(r.wages_class, '?') = ?)
            ORDER BY r.sample_index LIMIT ?""",
        (ensemble_id, growth, growth, labour, labour, wages, wages, int(limit)),
    ).copy()
    if frame.empty:
        return frame
    marks, params = _in([int(x) for x in frame["run_id"]])
    years = query(
        f"SELECT run_id, milestone, {_REACHED} AS year FROM milestones m WHERE ensemble_id = ? AND run_id IN ({marks})",
        (ensemble_id, *params),
    )
    if not years.empty:
        wide = years.pivot(index="run_id", columns="milestone", values="year").reset_index()
        wide.columns.name = None
        ordered = [m for m in milestone_names() if m in wide.columns]
        frame = frame.merge(wide[["run_id", *ordered]], on="run_id", how="left")
    return frame


def run_parameters(run_id: int) -> pd.DataFrame:
    """Every sampled parameter value of one run."""
    return query("SELECT name, value FROM parameters WHERE run_id = ? ORDER BY name", (int(run_id),))


# -------------------------------------------------------------------------------------- sensitivity


def outcomes() -> dict[str, tuple[str, str]]:
    """Outcome label -> (kind, key) for the tornado chart: milestone years, then per-run metrics."""
    out = {f"{m} year": ("milestone", m) for m in milestone_names()}
    for column in run_metric_columns():
        out[column] = ("run", column)
    return out


def sensitivity(ensemble_id: str, kind: str, key: str) -> pd.DataFrame:
    """How each sampled parameter moves an outcome, from the stored Monte Carlo runs of one ensemble.

    Per parameter that varies: ``low``/``high`` = median outcome among runs whose parameter is in its
    bottom/top decile (binned medians), ``median`` = overall median, ``spearman`` = rank correlation
    (Spearman's, average ranks for ties). Milestone years of runs that never reach the milestone are
    censored at the ensemble's horizon end. Sorted by ``|high - low|``, largest first.

    Sampling noise, from a permutation test (:func:`permutation_noise`): ``noise`` is the 95th percentile of
    ``|high - low|`` and ``spearman_noise`` that of ``|spearman|`` when the outcomes are shuffled across
    runs (no parameter matters); ``within_noise`` marks the parameters whose bar is no longer than that.
    """
    if kind == "milestone":
        outcome_sql = f"""SELECT r.run_id, coalesce({_REACHED}, ?) AS y FROM runs r
                          LEFT JOIN milestones m ON m.run_id = r.run_id AND m.milestone = ?
                          WHERE r.ensemble_id = ? AND NOT r.is_central"""
        params: tuple = (horizon_end([ensemble_id]), key, ensemble_id)
    else:
        column = _ident(key, run_metric_columns())
        outcome_sql = f"""SELECT run_id, {column}::DOUBLE AS y FROM runs
                          WHERE ensemble_id = ? AND NOT is_central AND isfinite({column}::DOUBLE)"""
        params = (ensemble_id,)
    # average ranks (ties share the mean of their positions): (first + last position) / 2
    frame = query(
        f"""WITH o AS ({outcome_sql}),
                 j AS (SELECT p.name, p.value, o.y,
                              percent_rank() OVER (PARTITION BY p.name ORDER BY p.value) AS pr,
                              (rank() OVER (PARTITION BY p.name ORDER BY p.value) + count(*) OVER (PARTITION BY p.name)
                               + 1 - rank() OVER (PARTITION BY p.name ORDER BY p.value DESC)) / 2 AS rv,
                              (rank() OVER (PARTITION BY p.name ORDER BY o.y) + count(*) OVER (PARTITION BY p.name)
                               + 1 - rank() OVER (PARTITION BY p.name ORDER BY o.y DESC)) / 2 AS ry
                       FROM parameters p JOIN o USING (run_id) WHERE p.ensemble_id = ?)
            SELECT name,
                   median(y) FILTER (WHERE pr <= 0.1) AS low,
                   median(y) FILTER (WHERE pr >= 0.9) AS high,
                   median(y) AS median,
                   corr(rv, ry) AS spearman,
                   quantile_cont(value, 0.1) AS p10_value,
                   quantile_cont(value, 0.9) AS p90_value,
                   count(*) AS runs
            FROM j GROUP BY name HAVING min(value) < max(value)
            ORDER BY abs(coalesce(high, 0) - coalesce(low, 0)) DESC, abs(coalesce(spearman, 0)) DESC, name""",
        (*params, ensemble_id),
    ).copy()
    y = query(f"SELECT y FROM ({outcome_sql}) WHERE y IS NOT NULL", params)["y"].to_numpy(float)
    noise, spearman_noise = permutation_noise(y)
    frame["noise"], frame["spearman_noise"] = noise, spearman_noise
    frame["within_noise"] = (frame["high"] - frame["low"]).abs() <= noise
    return frame


def permutation_noise(y: np.ndarray, permutations: int = 400, level: float = 0.95, seed: int = 0
                      ) -> tuple[float, float]:
    """How long a tornado bar and how large a Spearman rho get from sampling noise alone.

    Shuffles the outcomes ``y`` across runs ``permutations`` times (a fixed seed: the same store gives the
    same band) and returns the ``level`` quantiles of ``|median(top decile) - median(bottom decile)|``,
    the deciles taken as :func:`sensitivity` takes them (``percent_rank <= 0.1`` and ``>= 0.9`` of
    n distinct parameter values), and of ``|Spearman rho|``. NaN for fewer than three runs.
    """
    n = len(y)
    if n < 3:
        return float("nan"), float("nan")
    rank = np.arange(n) / (n - 1)  # percent_rank of distinct values
    low, high = rank <= 0.1 + 1e-12, rank >= 0.9 - 1e-12
    rng = np.random.default_rng(seed)
    shuffled = np.array([rng.permutation(y) for _ in range(permutations)])
    spread = np.abs(np.median(shuffled[:, high], axis=1) - np.median(shuffled[:, low], axis=1))
    y_rank = pd.Series(y).rank(method="average").to_numpy()
    ranks = np.array([rng.permutation(y_rank) for _ in range(permutations)])
    centred = ranks - ranks.mean(axis=1, keepdims=True)
    x = np.arange(1, n + 1, dtype=float) - (n + 1) / 2
    denom = np.sqrt((centred**2).sum(axis=1) * (x**2).sum())
    rho = np.where(denom > 0, centred @ x / np.where(denom > 0, denom, 1.0), 0.0)
    return float(np.quantile(spread, level)), float(np.quantile(np.abs(rho), level))


# --------------------------------------------------------------------------------------- free SQL


SqlResult = sql_door.SqlResult
SqlRefused = sql_door.SqlRefused
check_sql = sql_door.check_sql


def run_user_sql(sql: str, limit: int = 10_000, timeout_s: float = 10.0) -> SqlResult:
    """Run one read-only statement from the user with a row limit and a timeout
    (:func:`pipelines.sql.run_checked` on a cursor of the cached locked-down connection).

    Raises :class:`SqlRefused` for refused statements, ``TimeoutError`` when interrupted and
    ``duckdb.Error`` for errors in the query itself.
    """
    check_sql(sql)
    cur = connect()
    try:
        return sql_door.run_checked(cur, sql, limit=limit, timeout_s=timeout_s)
    finally:
        cur.close()


atexit.register(release)  # close cached connections before interpreter shutdown (no leaked DuckDB objects)

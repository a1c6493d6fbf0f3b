"""The one door for SQL text typed by a user: ``python -m pipelines sql`` and the dashboard's SQL page.

Two pieces, used by both callers:

- :func:`open_locked` opens the store for such text. The store file is ATTACHed ``READ_ONLY`` to a
  private in-memory database (a plain ``duckdb.connect(path)`` could hand back the previous file after
  the pipelines swap a new one in, since DuckDB shares one instance per path within a process); then
  external access is switched off and the configuration locked (:data:`LOCKDOWN`). After that no
  statement on the connection can read or write host files (``read_csv``, ``read_text``, ``glob``,
  ``COPY``, ``EXPORT``, ``ATTACH``), install or load extensions, or change a setting.
- :func:`run_checked` runs one statement on such a connection: :func:`check_sql` first (exactly one
  ``SELECT``/``EXPLAIN`` statement), then the query with a row limit pushed into the plan (DuckDB stops
  after ``limit + 1`` rows) and a timer that interrupts it after ``timeout_s``.

The connection is the lock; the statement check gives a clear message before DuckDB would refuse.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from dataclasses import dataclass

import duckdb
import pandas as pd

from pipelines.errors import StoreLocked, StoreMissing, is_lock_conflict

#: Settings applied to every such connection after the store is attached. Order matters: external
#: access off (no files, no extensions), then the configuration locked (no SET can undo it).
LOCKDOWN = (
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET memory_limit = '2GB'",
    "SET enable_external_access = false",
    "SET lock_configuration = true",
)
#: Statement types a user may run (``WITH ... SELECT`` and ``SHOW`` parse as ``SELECT``).
SQL_ALLOWED = frozenset({"SELECT", "EXPLAIN"})
#: Defaults for both doors: rows returned at most, and seconds before a query is stopped.
DEFAULT_ROW_LIMIT = 10_000
DEFAULT_TIMEOUT_S = 10.0
#: The command line's cap on rows returned when it is asked for all of them (``--max-rows 0``, csv/json).
CLI_ROW_CAP = 1_000_000
#: The alias the store is attached under (``USE store`` makes its tables the default).
ALIAS = "store"


class SqlRefused(ValueError):
    """A statement the SQL door does not run (writes, several statements, settings, ...)."""


@dataclass
class SqlResult:
    frame: pd.DataFrame
    truncated: bool
    seconds: float


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def open_locked(path: str | os.PathLike, retries: int = 20) -> duckdb.DuckDBPyConnection:
    """A locked-down read-only connection to the store file at ``path`` (see the module docstring).

    Raises :class:`~pipelines.errors.StoreMissing` when there is no file and
    :class:`~pipelines.errors.StoreLocked` when another program holds it read-write for longer than
    the brief retries.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise StoreMissing(f"no store at {path}; build it with `python -m pipelines run --all`")
    delay = 0.05
    for attempt in itertools.count():
        con = duckdb.connect(":memory:")
        try:
            con.execute(f"ATTACH {_sql_string(path)} AS {ALIAS} (READ_ONLY)")
            con.execute(f"USE {ALIAS}")
            for statement in LOCKDOWN:
                con.execute(statement)
            return con
        except duckdb.IOException as err:
            con.close()
            if attempt >= retries or not is_lock_conflict(err):
                if is_lock_conflict(err):
                    raise StoreLocked(f"the store {path} is open read-write in another process; close it "
                                      f"and retry. Nothing was changed. ({err})") from None
                raise
        except BaseException:
            con.close()
            raise
        time.sleep(delay)
        delay = min(0.25, delay * 1.5)
    raise AssertionError("unreachable")


def check_sql(sql: str) -> None:
    """Refuse anything that is not exactly one SELECT/EXPLAIN statement (raises :class:`SqlRefused`)."""
    text = (sql or "").strip()
    if not text:
        raise SqlRefused("Type a query first.")
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as err:
        raise SqlRefused(f"Could not parse the query: {err}") from None
    if len(statements) != 1:
        raise SqlRefused(f"Run one statement at a time (found {len(statements)}).")
    kind = statements[0].type.name
    if kind not in SQL_ALLOWED:
        raise SqlRefused(
            f"Only read-only queries (SELECT, WITH ... SELECT, EXPLAIN) run here; this statement is {kind}."
        )


def run_checked(con: duckdb.DuckDBPyConnection, sql: str, limit: int = DEFAULT_ROW_LIMIT,
                timeout_s: float = DEFAULT_TIMEOUT_S) -> SqlResult:
    """Run one user statement on a connection from :func:`open_locked` with a row limit and a timeout.

    Raises :class:`SqlRefused` for refused statements, ``TimeoutError`` when interrupted and
    ``duckdb.Error`` for errors in the query itself (including the connection's own refusals).
    """
    check_sql(sql)
    timer = threading.Timer(timeout_s, con.interrupt)
    started = time.perf_counter()
    timer.start()
    try:
        relation = con.sql(sql.strip().rstrip(";"))
        frame = relation.limit(int(limit) + 1).df() if relation is not None else pd.DataFrame()
    except duckdb.InterruptException:
        raise TimeoutError(f"The query ran longer than {timeout_s:g} s and was stopped.") from None
    finally:
        timer.cancel()
    truncated = len(frame) > limit
    return SqlResult(frame.head(limit), truncated, time.perf_counter() - started)

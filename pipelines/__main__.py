"""Command line: ``python -m pipelines run | status | schedule | sql | export``."""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
import time
from pathlib import Path

import pandas as pd

from pipelines.errors import PipelineError, ScenarioError
from pipelines.store import DEFAULT_DB, reader, resolve_db

DESCRIPTION = ("Batch pipelines: Monte Carlo ensembles of the simulator's scenarios, precomputed into a DuckDB "
               f"store (default {DEFAULT_DB}). `python -m pipelines COMMAND --help` shows each command's options; "
               "pipelines/README.md documents the store's tables and views.")

EPILOG = """examples:
  python -m pipelines run --all                       # every named scenario, 1,000 samples each (skips up-to-date)
  python -m pipelines run --scenario baseline --samples 10000 --executor ray
  python -m pipelines status
  python -m pipelines sql "SELECT scenario, count(*) FROM runs JOIN ensembles USING (ensemble_id) GROUP BY 1"
  python -m pipelines export --format parquet --out export/
  python -m pipelines schedule --cron "0 3 * * *"
"""


# -- formatting -------------------------------------------------------------------------------------------------


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _blank(value) -> str:
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _cell(value)


def format_table(frame: pd.DataFrame, max_width: int = 60) -> str:
    """Aligned text table (numbers right-aligned), like the duckdb CLI's box-less mode."""
    columns = [str(c) for c in frame.columns]
    cells = [[_cell(v)[:max_width] for v in row] for row in frame.itertuples(index=False, name=None)]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
               for c in frame.columns]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    out = [line(columns), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    return "\n".join(out)


def _json_ready(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records", date_format="iso", default_handler=str))


def emit(frame: pd.DataFrame, fmt: str, out=None) -> None:
    out = out or sys.stdout
    if fmt == "csv":
        frame.to_csv(out, index=False)
    elif fmt == "json":
        json.dump(_json_ready(frame), out, indent=1)
        out.write("\n")
    else:
        out.write(format_table(frame) + "\n")


def _size(path: Path) -> str:
    try:
        size = path.stat().st_size
    except OSError:
        return "?"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


# -- commands ---------------------------------------------------------------------------------------------------


def _parse_set(items: list[str] | None) -> dict[str, float]:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise PipelineError(f"--set expects NAME=VALUE, got {item!r}")
        name, value = item.split("=", 1)
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise PipelineError(f"--set {name.strip()}: {value!r} is not a number") from None
    return out


def cmd_run(args: argparse.Namespace) -> int:
    from pipelines import simulation
    from pipelines.runner import EnsembleRequest, run_ensembles

    overrides = _parse_set(args.set)
    kind = "user" if overrides else "named"
    if args.scenario and args.all:
        raise PipelineError("give either --scenario or --all, not both")
    names = args.scenario or [name for name, _ in simulation.list_named()]
    requests = [EnsembleRequest(name, args.samples, args.seed, kind=kind, overrides=overrides,
                                grid_step=args.grid_step) for name in names]
    db = resolve_db(args.db)
    started = time.perf_counter()
    try:
        results = run_ensembles(requests, db, executor=args.executor, address=args.address,
                                chunk_size=args.chunk_size, force=args.force, progress=not args.no_progress,
                                lock_timeout=args.lock_timeout, publish_every=args.publish_every)
    except KeyboardInterrupt:
        print("\ninterrupted: the published store holds only complete ensembles; what this run had not published "
              "yet (finished chunks and ensembles) is kept in staging. Rerun the same command to complete and "
              "publish it.", file=sys.stderr)
        return 130
    except PipelineError as err:
        done = getattr(err, "results", [])
        if done:
            _print_summary(done, db, time.perf_counter() - started)
        raise
    _print_summary(results, db, time.perf_counter() - started)
    return 1 if any(r.action == "failed" for r in results) else 0


def _print_summary(results, db: Path, wall: float | None = None) -> None:
    rows = [{"scenario": r.scenario, "kind": r.kind, "action": r.action, "samples": r.n_samples,
                 "computed_runs": r.computed_samples, "seconds": round(r.seconds, 2),
                 "samples_per_s": round(r.samples_per_second, 1) if r.computed_samples else float("nan"),
                 "ensemble_id": r.ensemble_id or ""} for r in results]
    if rows:
        print(format_table(pd.DataFrame(rows)))
    for r in results:
        if r.error:
            print(f"error: {r.scenario}: {r.error}", file=sys.stderr)
    computed = [r for r in results if r.action.startswith(("computed", "resumed"))]
    n = sum(r.computed_samples for r in computed)
    seconds = sum(r.seconds for r in computed)
    rate = f", {n / seconds:,.1f} samples/s" if seconds > 0 and n else ""
    batches = {r.publish_batch: r.publish_seconds for r in computed if r.publish_batch}
    published = sum(1 for r in computed if r.publish_batch)
    swaps = (f"; {published} published in {len(batches)} atomic swap(s) ({sum(batches.values()):.1f} s)"
             if batches else "")
    took = f" Total {wall:.1f} s." if wall is not None else ""
    what = (f"{len(computed)} ensemble(s) computed ({n:,} runs incl. central runs in {seconds:.1f} s{rate}){swaps}"
            if computed else "nothing computed")
    print(f"\n{what}; {sum(r.action == 'up-to-date' for r in results)} up to date; "
          f"{sum(r.action == 'failed' for r in results)} failed.{took}")
    print(f"store: {db} ({_size(db)}); see `python -m pipelines status`")


def cmd_status(args: argparse.Namespace) -> int:
    from pipelines.status import store_status

    db = resolve_db(args.db)
    frame = store_status(db)
    if args.format != "table":
        emit(frame, args.format)
        return 0
    if not db.exists():
        print(f"no store at {db} yet; build it with `python -m pipelines run --all`")
    else:
        print(f"store: {db} ({_size(db)})")
    if len(frame):
        show = frame.copy()
        show["took_s"] = pd.to_numeric(show.pop("duration_s")).round(1)
        show["computed_at"] = show.pop("finished_at")
        show = show[["scenario", "kind", "n_samples", "seed", "model_version", "param_hash", "computed_at",
                     "took_s", "state", "ensemble_id", "reason"]]
        # blank (not NULL) where a row has no value, e.g. a named scenario not computed yet
        show = pd.DataFrame({c: [_blank(v) for v in show[c]] for c in show.columns})
        print(format_table(show, max_width=80))
        counts = frame["state"].value_counts().to_dict()
        print("\n" + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    """One read-only statement through the locked SQL door (``pipelines/sql.py``, shared with the dashboard)."""
    import duckdb

    from pipelines import sql as sql_door

    query = sys.stdin.read() if args.query == "-" else args.query
    limit = args.max_rows if args.max_rows > 0 else sql_door.CLI_ROW_CAP
    try:
        sql_door.check_sql(query)
        con = sql_door.open_locked(resolve_db(args.db))
        try:
            result = sql_door.run_checked(con, query, limit=limit, timeout_s=args.timeout)
        finally:
            con.close()
    except sql_door.SqlRefused as err:
        raise PipelineError(f"refused: {err}\n(`sql` runs one read-only SELECT on a locked-down connection; "
                            "`python -m pipelines export` writes files)") from None
    except TimeoutError as err:
        raise PipelineError(f"{err} (--timeout sets the limit)") from None
    except duckdb.Error as err:
        text = str(err)
        if isinstance(err, duckdb.PermissionException) or "external access" in text.lower():
            text += "\n(`sql` cannot read or write files on this machine, attach databases or load extensions)"
        raise PipelineError(text) from None
    frame, truncated = result.frame, result.truncated
    emit(frame, args.format)
    if truncated:
        shown = f"first {len(frame)} rows shown" + ("; --max-rows 0 for up to "
                                                    f"{sql_door.CLI_ROW_CAP:,}" if args.max_rows else "")
        print(f"({shown})", file=sys.stderr)
    elif args.format == "table":
        print(f"({len(frame)} row{'s' if len(frame) != 1 else ''})", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from pipelines.store import q

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with reader(args.db) as con:
        objects = con.execute("SELECT table_name, table_type FROM information_schema.tables "
                              "WHERE table_schema = 'main' ORDER BY table_type, table_name").fetchall()
        for name, kind in objects:
            if args.tables and name not in args.tables:
                continue
            if kind == "VIEW" and not args.views:
                continue
            target = out / f"{name}.{args.format}"
            tmp = out / f".{name}.{args.format}.tmp"
            options = "FORMAT parquet, COMPRESSION zstd" if args.format == "parquet" else "FORMAT csv, HEADER"
            con.execute(f"COPY (SELECT * FROM {q(name)}) TO '{str(tmp).replace(chr(39), chr(39) * 2)}' ({options})")
            os.replace(tmp, target)
            n = con.execute(f"SELECT count(*) FROM {q(name)}").fetchone()[0]
            rows.append({"table": name, "type": kind.lower().replace("base table", "table"), "rows": n,
                             "file": str(target), "size": _size(target)})
    if args.tables:
        unknown = set(args.tables) - {r["table"] for r in rows}
        if unknown:
            raise PipelineError(f"no such table(s): {', '.join(sorted(unknown))}")
    print(format_table(pd.DataFrame(rows)))
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    import logging

    from pipelines.scheduler import build_scheduler, make_job, parse_cron

    db = resolve_db(args.db)
    job = make_job(db, n_samples=args.samples, seed=args.seed, executor=args.executor, address=args.address,
                   chunk_size=args.chunk_size, progress=args.once and not args.no_progress)
    if args.once:
        return 0 if job() else 1
    parse_cron(args.cron)  # fail early on a bad expression
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    scheduler = build_scheduler(job, args.cron, run_now=args.run_now)
    trigger = scheduler.get_jobs()[0].trigger
    next_run = trigger.get_next_fire_time(None, datetime.datetime.now(trigger.timezone))
    print(f"scheduler: recomputing stale ensembles in {db} on cron '{args.cron}' "
          f"(next: {'now' if args.run_now else next_run}); Ctrl-C to stop", flush=True)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0


# -- parser -----------------------------------------------------------------------------------------------------


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=None, help=f"DuckDB store (default: {DEFAULT_DB})")


def build_parser() -> argparse.ArgumentParser:
    from pipelines.runner import (
        DEFAULT_CHUNK,
        DEFAULT_GRID_STEP,
        DEFAULT_LOCK_TIMEOUT,
        DEFAULT_PUBLISH_EVERY,
        DEFAULT_SAMPLES,
        DEFAULT_SEED,
    )
    from pipelines.scheduler import DEFAULT_CRON

    parser = argparse.ArgumentParser(prog="python -m pipelines", description=DESCRIPTION,
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def compute_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--samples", type=int, default=DEFAULT_SAMPLES,
                       help=f"Monte Carlo samples per ensemble (default {DEFAULT_SAMPLES})")
        p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"sampling seed (default {DEFAULT_SEED})")
        p.add_argument("--executor", choices=["local", "ray"], default="local",
                       help="local: batched simulate calls in this process; ray: chunks as Ray tasks")
        p.add_argument("--address", default=None, help="Ray cluster address (default: start Ray locally)")
        p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK,
                       help=f"samples per batched simulate call (default {DEFAULT_CHUNK})")
        _add_db(p)

    p = sub.add_parser("run", help="compute ensembles into the store (skips up-to-date ones)",
                       description="Run each scenario as a Monte Carlo ensemble (plus its central run) and publish "
                                   "it to the store atomically. Up-to-date ensembles are skipped; stale ones are "
                                   "recomputed; an interrupted ensemble resumes where it stopped.")
    p.add_argument("--scenario", action="append", metavar="NAME",
                   help="scenario name or override-CSV path (repeatable)")
    p.add_argument("--all", action="store_true", help="every named scenario (the default without --scenario)")
    compute_options(p)
    p.add_argument("--force", action="store_true", help="recompute even if up to date")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="pin a parameter (stores a kind='user' ensemble, like a dashboard rerun)")
    p.add_argument("--grid-step", type=float, default=DEFAULT_GRID_STEP,
                   help=f"years between stored trajectory points (default {DEFAULT_GRID_STEP:g})")
    p.add_argument("--lock-timeout", type=float, default=DEFAULT_LOCK_TIMEOUT,
                   help=f"seconds to wait for another writer (default {DEFAULT_LOCK_TIMEOUT:g})")
    p.add_argument("--publish-every", type=float, default=DEFAULT_PUBLISH_EVERY, metavar="SECONDS",
                   help="finished ensembles are published together in one atomic swap at the end of the run, "
                        f"or after this many seconds of a long run (default {DEFAULT_PUBLISH_EVERY:g}; "
                        "0: after each ensemble)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="list the ensembles in the store and whether they are stale",
                       description="Per ensemble: samples, seed, model version, parameter hash, when computed, how "
                                   "long it took, and its state (fresh, stale, partial, missing, unknown).")
    _add_db(p)
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("schedule", help="long-running scheduler that recomputes stale ensembles",
                       description="Recompute stale (and build missing) named ensembles on a cron schedule with "
                                   "APScheduler. Runs until Ctrl-C. For cron/systemd instead, see pipelines/README.md.")
    p.add_argument("--cron", default=DEFAULT_CRON, help=f"5-field crontab expression (default '{DEFAULT_CRON}')")
    p.add_argument("--run-now", action="store_true", help="also refresh once at start")
    p.add_argument("--once", action="store_true", help="refresh once and exit (no scheduler; for cron/systemd)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar with --once")
    compute_options(p)
    p.set_defaults(func=cmd_schedule)

    p = sub.add_parser("sql", help="run a read-only SQL query on the store",
                       description="Run one SELECT on a locked-down read-only connection to the store: writes, "
                                   "settings, files on this machine, ATTACH and extensions are refused, and the "
                                   "query is stopped after --timeout seconds (the dashboard's SQL page is the "
                                   "same door).")
    p.add_argument("query", help="the SQL query ('-' reads it from stdin)")
    _add_db(p)
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--max-rows", type=int, default=1000, help="rows returned at most (table format default 1000; csv/json default and 0: "
                                                     "up to 1,000,000)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds before the query is stopped (default 60)")
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("export", help="export every table to Parquet (or CSV) files",
                       description="Write one file per table of the store into --out.")
    p.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--tables", nargs="+", metavar="TABLE", help="only these tables (default: all)")
    p.add_argument("--views", action="store_true", help="also export the views")
    _add_db(p)
    p.set_defaults(func=cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "format", None) != "table" and args.command == "sql" and args.max_rows == 1000:
        args.max_rows = 0  # csv/json: everything
    try:
        return args.func(args)
    except ScenarioError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `python -m pipelines sql ... | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())

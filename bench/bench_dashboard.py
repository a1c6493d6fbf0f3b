"""Dashboard page render times on a large store (the issue's target: < 1 s per page at 10,000 runs/scenario).

    python bench/bench_dashboard.py --db store/ai_futures.duckdb            # measure a store as it is
    python bench/bench_dashboard.py --inflate-from store/ai_futures.duckdb --runs 10000 --db /tmp/big.duckdb

``--inflate-from`` builds ``--db`` from a real pipeline store by resampling each named ensemble's
Monte Carlo runs (with replacement) up to ``--runs`` runs, with new, distinct run ids, copying their
rows in ``runs``, ``parameters``, ``trajectories`` and ``milestones``; the schema is the pipelines' own
(the store is copied, then rows are added). It exists because computing 10,000 samples per scenario
through the simulator takes hours on a 2-core machine; the tables then have the row counts of a real
10,000-run store, which is what the page queries scale with. The ``quantiles`` table has one row per
ensemble, metric and year whatever the number of runs, so by default it is kept from the source
(``n`` scaled to the new run count); ``--recompute-quantiles`` recomputes it from the inflated
trajectories as the pipelines do (slow for long-horizon scenarios: billions of values).
The numbers in an inflated store are the source's runs repeated: use it for timing, not for results.

Each page is rendered with ``streamlit.testing.v1.AppTest`` in this process and timed by the app itself
(``app.py`` measures ``page.run()``; AppTest's own polling is not counted): *cold* is the first render
after all caches are cleared (DuckDB queries run), *warm* the median of the next renders (Streamlit
caches hit, as for a second visitor or a widget change). ``--browser`` also times each page in headless
chromium (navigation until the page script finished and the charts drew).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGES = {
    "overview": ({}, None),
    "fan_charts": (
        {"scenarios": ["baseline", "aifm_eli"], "metric": "time_horizon_minutes", "samples": "3"},
        "fan_charts",
    ),
    "milestones": ({}, "milestones"),
    "takeoff": ({}, "takeoff"),
    "rerun": ({}, "rerun"),
    "parameters": ({"outcome": "AC year"}, "parameters"),
    "sql": ({}, "sql"),
}


def inflate(source: Path, target: Path, runs: int, seed: int = 0, recompute_quantiles: bool = False) -> None:
    import duckdb

    if target.exists():
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(target))
    con.execute("SET enable_progress_bar = false")
    con.execute(f"ATTACH '{source}' AS src (READ_ONLY)")
    con.execute("COPY FROM DATABASE src TO " + con.execute("SELECT current_database()").fetchone()[0])
    con.execute("DETACH src")
    named = [r[0] for r in con.execute("SELECT ensemble_id FROM ensembles WHERE kind = 'named'").fetchall()]
    con.execute("DELETE FROM ensembles WHERE kind <> 'named'")
    for table in ("runs", "parameters", "trajectories", "milestones", "quantiles"):
        con.execute(f"DELETE FROM {table} WHERE ensemble_id NOT IN (SELECT ensemble_id FROM ensembles)")
    metrics = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'trajectories' "
            "AND column_name NOT IN ('run_id', 'ensemble_id', 'year') ORDER BY ordinal_position"
        ).fetchall()
    ]
    for i, eid in enumerate(named):
        started = time.perf_counter()
        # new sample k (0 .. runs-1) copies a random Monte Carlo run of the same ensemble
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE pick AS
            WITH mc AS (SELECT run_id, row_number() OVER (ORDER BY sample_index) - 1 AS i,
                               count(*) OVER () AS n FROM runs WHERE ensemble_id = ? AND NOT is_central)
            SELECT k.k AS sample_index, mc.run_id AS old_id,
                   (? + 1) * 100000000000 + k.k + 1 AS new_id
            FROM range(?) k(k) JOIN mc ON mc.i = hash(k.k, ?) % mc.n""",
            [eid, i, runs, seed],
        )
        con.execute("""INSERT INTO runs BY NAME SELECT r.* EXCLUDE (run_id, sample_index) REPLACE (false AS is_central),
                              p.new_id AS run_id, p.sample_index
                       FROM runs r JOIN pick p ON r.run_id = p.old_id""")
        for table in ("parameters", "trajectories", "milestones"):
            con.execute(
                f"INSERT INTO {table} BY NAME SELECT t.* EXCLUDE (run_id), p.new_id AS run_id "
                f"FROM {table} t JOIN pick p ON t.run_id = p.old_id"
            )
        # drop the original runs (keep the central run), so the ensemble has exactly `runs` samples
        for table in ("parameters", "trajectories", "milestones", "runs"):
            con.execute(
                f"DELETE FROM {table} WHERE run_id IN (SELECT run_id FROM runs WHERE ensemble_id = ? "
                f"AND NOT is_central) AND run_id NOT IN (SELECT new_id FROM pick)",
                [eid],
            )
        if not recompute_quantiles:
            con.execute(
                "UPDATE quantiles SET n = round(n * ? / (SELECT max(n) FROM quantiles WHERE ensemble_id = ?)) "
                "WHERE ensemble_id = ?",
                [runs, eid, eid],
            )
            con.execute(
                "UPDATE ensembles SET n_samples = ?, n_runs = ? WHERE ensemble_id = ?", [runs, runs + 1, eid]
            )
            print(f"  inflated {eid} to {runs:,} runs in {time.perf_counter() - started:.1f} s", flush=True)
            continue
        con.execute("DELETE FROM quantiles WHERE ensemble_id = ?", [eid])
        probs = ", ".join(str(p / 100) for p in (5, 10, 25, 50, 75, 90, 95))
        picks = ", ".join(f"qs[{j + 1}] AS p{p}" for j, p in enumerate((5, 10, 25, 50, 75, 90, 95)))
        cols = ", ".join(f'"{m}"' for m in metrics)
        con.execute(
            f"""
            INSERT INTO quantiles BY NAME
            SELECT ? AS ensemble_id, metric, year, n, mean, {picks}
            FROM (SELECT metric, year, count(value) AS n, avg(value) AS mean, quantile_cont(value, [{probs}]) AS qs
                  FROM (UNPIVOT (SELECT t.year, {cols} FROM trajectories t JOIN runs r USING (run_id)
                                 WHERE r.ensemble_id = ? AND NOT r.is_central)
                        ON {cols} INTO NAME metric VALUE value)
                  WHERE isfinite(value) GROUP BY metric, year)""",
            [eid, eid],
        )
        con.execute(
            "UPDATE ensembles SET n_samples = ?, n_runs = ? WHERE ensemble_id = ?", [runs, runs + 1, eid]
        )
        print(f"  inflated {eid} to {runs:,} runs in {time.perf_counter() - started:.1f} s", flush=True)
    con.execute(
        """UPDATE ensembles SET run_id_min = r.lo, run_id_max = r.hi
           FROM (SELECT ensemble_id, min(run_id) AS lo, max(run_id) AS hi FROM runs GROUP BY 1) r
           WHERE ensembles.ensemble_id = r.ensemble_id"""
    )
    con.execute("CHECKPOINT")
    con.close()


def measure(db: Path, repeats: int) -> dict[str, tuple[float, float]]:
    os.environ["AIFS_DB"] = str(db)
    import streamlit as st
    import streamlit.logger
    from streamlit.testing.v1 import AppTest

    streamlit.logger.set_log_level("error")  # AppTest outside a server warns about a missing runtime ...
    logging.disable(logging.WARNING)  # ... on loggers that set_log_level does not reach

    # one-time cost of a fresh server process: the simulator (torch) import; app.py does it in a
    # background thread, so it is paid once here rather than inside the first page measured
    started = time.perf_counter()
    import pipelines.status  # noqa: F401
    import sim  # noqa: F401

    print(f"  (one-time simulator import of a fresh server process: {time.perf_counter() - started:.2f} s)")
    started = time.perf_counter()
    import dashboard.charts
    import dashboard.meta
    import dashboard.ui  # noqa: F401

    print(
        f"  (one-time dashboard/altair import of a fresh server process: {time.perf_counter() - started:.2f} s)"
    )
    out = {}
    for name, (query, page) in PAGES.items():
        st.cache_data.clear()
        st.cache_resource.clear()
        times = []
        for _attempt in range(repeats + 1):
            at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=600)
            for key, value in query.items():
                at.query_params[key] = value
            if page:
                at.run()  # the default page first, then switch (as a click in the sidebar)
                at.switch_page(f"views/{page}.py")
            at.run()
            times.append(
                float(at.session_state["_render_s"])
            )  # the page script's own time (app.py measures it)
            if at.exception:
                raise RuntimeError(f"{name}: {[e.message for e in at.exception]}")
        out[name] = (times[0], statistics.median(times[1:]))
        print(f"  {name:12s} cold {times[0]:6.2f} s   warm {out[name][1]:6.3f} s", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--inflate-from", type=Path)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument(
        "--recompute-quantiles", action="store_true", help="recompute quantiles from the inflated runs (slow)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--browser", action="store_true", help="also time each page in headless chromium")
    args = parser.parse_args()
    if args.inflate_from:
        print(
            f"building {args.db} from {args.inflate_from} with {args.runs:,} runs per named ensemble",
            flush=True,
        )
        inflate(
            args.inflate_from.resolve(),
            args.db.resolve(),
            args.runs,
            recompute_quantiles=args.recompute_quantiles,
        )
    import duckdb

    con = duckdb.connect(str(args.db), read_only=True)
    counts = {
        t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("ensembles", "runs", "parameters", "trajectories", "milestones", "quantiles")
    }
    per = con.execute("SELECT scenario, n_samples FROM ensembles ORDER BY 1").fetchall()
    con.close()
    size = args.db.stat().st_size / 2**20
    print(f"store {args.db} ({size:.0f} MiB): {counts}; ensembles {per}")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    measure(args.db.resolve(), args.repeats)
    if args.browser:
        browser_times(args.db.resolve())
    return 0


def browser_times(db: Path) -> None:
    """Time in headless chromium: a click in the sidebar until the page went quiet (first visit, then again)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import screenshots

    titles = {
        "overview": "Overview",
        "fan_charts": "Fan charts",
        "milestones": "Milestones",
        "takeoff": "Takeoff classes",
        "rerun": "Rerun",
        "parameters": "Parameters",
        "sql": "SQL",
    }
    log = Path("/tmp") / f"bench_dashboard_{os.getpid()}.log"
    with screenshots.serve(db, screenshots.free_port(), log) as url, screenshots.browser() as context:
        page = context.new_page()
        started = time.time()
        page.goto(url)
        print(
            f"  browser: first load of a fresh server (Overview) {screenshots.wait_rendered(page) - started:.2f} s"
        )
        for visit in ("first", "second"):
            for name, title in titles.items():
                link = page.locator("[data-testid='stSidebarNav'] a", has_text=title).first
                started = time.time()
                link.click()
                page.wait_for_timeout(50)
                seconds = screenshots.wait_rendered(page) - started
                print(f"  browser: {name:12s} {visit} visit {seconds:5.2f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())

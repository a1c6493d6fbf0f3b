"""Pipelines benchmark: samples/s of the local executor and DuckDB query times on a 100k-run store.

    python bench/bench_pipelines.py                       # 100, 1,000 and 10,000 samples of baseline
    python bench/bench_pipelines.py --sizes 100 1000 --query-runs 100000 --json bench/pipelines.json
    python bench/bench_pipelines.py --scenario short --query-scenario baseline --query-samples 100

1. ``run_ensembles`` (local executor, default chunk size) into a fresh store for each size: wall time,
   samples/s, ms per sample, and how much of it was simulation vs store writes (staging, quantiles,
   publish).
2. A store with ``--query-runs`` runs, made by copying the largest ensemble of part 1 under new
   ensemble ids (identical numbers, distinct runs; simulating 100k samples is not what is measured
   here), then the dashboard's two hot queries, each on a fresh read-only connection (as a reader
   does after a publish) and on a warm one: the fan-chart read of precomputed quantiles (one scenario,
   one metric) and the milestone-percentile view (every scenario); plus, for scale, the same fan chart
   computed on the fly from ``trajectories``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb

from pipelines import simulation
from pipelines.runner import DEFAULT_CHUNK, EnsembleRequest, run_ensembles

#: ``--scenario short``: four years from the simulator's start year with coarse steps and the economy off,
#: to measure what the pipeline itself costs per sample (staging, quantiles, publish) when the simulation is cheap.
SHORT_YEARS = 4
SHORT = {"simulation.solver_step_years": 0.125, "simulation.output_step_years": 0.5,
         "software_rnd.spinup_step_years": 0.25, "software_rnd.frontier_grid_points": 256,
         "software_rnd.taste_tail_grid_points": 200, "software_rnd.taste_floor_grid_points": 50, "economy.enabled": 0}


def resolve_scenario(name: str, workdir: Path) -> str:
    if name != "short":
        return name
    import sim

    start = int(sim.load_scenario("baseline").model_parameters["simulation.start_year"].value)
    rows = {**SHORT, "simulation.end_year": start + SHORT_YEARS}
    path = workdir / "short.csv"
    path.write_text(f"# bench: baseline distributions, {start}-{start + SHORT_YEARS}, coarse steps, economy off\n"
                    "name,value\n" + "".join(f"{k},{v}\n" for k, v in rows.items()))
    return str(path)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import torch

    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, torch {torch.__version__} ({torch.get_num_threads()} "
            f"threads), duckdb {duckdb.__version__}, Python {platform.python_version()}; load avg at start {load:.1f}")


def bench_sizes(scenario: str, sizes: list[int], chunk: int, workdir: Path) -> tuple[list[dict], Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    rows, largest = [], None
    real = simulation.simulate_chunk
    for n in sizes:
        db = workdir / f"size_{n}.duckdb"
        spent = {"simulate": 0.0}

        def timed(*args, spent=spent, **kwargs):
            t = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                spent["simulate"] += time.perf_counter() - t

        from pipelines.executors import base

        base.simulate_chunk = timed
        try:
            started = time.perf_counter()
            [result] = run_ensembles([EnsembleRequest(scenario, n)], db, chunk_size=chunk, progress=False)
            wall = time.perf_counter() - started
        finally:
            base.simulate_chunk = real
        row = {"scenario": scenario, "samples": n, "runs": n + 1, "chunk_size": chunk, "wall_s": round(wall, 2),
                   "samples_per_s": round((n + 1) / wall, 1), "ms_per_sample": round(1000 * wall / (n + 1), 2),
                   "simulate_s": round(spent["simulate"], 2), "store_s": round(wall - spent["simulate"], 2),
                   "store_mib": round(db.stat().st_size / 2**20, 1), "action": result.action}
        print(json.dumps(row), flush=True)
        rows.append(row)
        largest = db
    return rows, largest


def build_query_store(source: Path, target: Path, runs: int) -> dict:
    """Copy the single ensemble of ``source`` under new ids until ``target`` holds >= ``runs`` runs."""
    import shutil

    shutil.copyfile(source, target)
    con = duckdb.connect(str(target))
    eid, n_runs, scenario = con.execute("SELECT ensemble_id, n_runs, scenario FROM ensembles").fetchone()
    copies = max(1, -(-runs // n_runs))
    from pipelines.staging import run_id_base

    started = time.perf_counter()
    old_base = run_id_base(eid)
    for i in range(1, copies):
        new = f"{(int(eid, 16) + (i << 24)) % 2**64:016x}"  # another run-id prefix (its first 10 hex digits)
        shift = run_id_base(new) - old_base
        con.execute("BEGIN")
        con.execute("INSERT INTO ensembles SELECT * REPLACE (? AS ensemble_id, ? AS scenario, "
                    "run_id_min + ? AS run_id_min, run_id_max + ? AS run_id_max) FROM ensembles WHERE ensemble_id = ?",
                    [new, f"{scenario}_copy{i}", shift, shift, eid])
        for table in ("runs", "parameters", "trajectories", "milestones"):
            con.execute(f"INSERT INTO {table} SELECT * REPLACE (run_id + ? AS run_id, ? AS ensemble_id) "
                        f"FROM {table} WHERE ensemble_id = ?", [shift, new, eid])
        for table in ("quantiles", "parameter_specs"):
            con.execute(f"INSERT INTO {table} SELECT * REPLACE (? AS ensemble_id) FROM {table} WHERE ensemble_id = ?",
                        [new, eid])
        con.execute("COMMIT")
    con.execute("CHECKPOINT")
    total = con.execute("SELECT count(*) FROM runs").fetchone()[0]
    assert con.execute("SELECT count(DISTINCT run_id) FROM runs").fetchone()[0] == total, "run ids collide"
    traj = con.execute("SELECT count(*) FROM trajectories").fetchone()[0]
    metric = con.execute("SELECT metric FROM quantiles GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()[0]
    con.close()
    return {"runs": total, "ensembles": copies, "trajectory_rows": traj, "scenario": scenario, "ensemble_id": eid,
                "metric": metric, "build_s": round(time.perf_counter() - started, 1),
                "store_mib": round(target.stat().st_size / 2**20, 1)}


def timed_query(db: Path, sql: str, args: list, repeats: int, fresh: bool) -> dict:
    times, rows = [], 0
    con = None if fresh else duckdb.connect(str(db), read_only=True)
    if con is not None:
        con.execute(sql, args).fetchall()  # warm-up
    for _ in range(repeats):
        t = time.perf_counter()
        c = duckdb.connect(str(db), read_only=True) if fresh else con
        rows = len(c.execute(sql, args).fetchall())
        if fresh:
            c.close()
        times.append(time.perf_counter() - t)
    if con is not None:
        con.close()
    return {"median_ms": round(1000 * statistics.median(times), 2), "min_ms": round(1000 * min(times), 2), "rows": rows}


def bench_queries(db: Path, info: dict, repeats: int) -> dict:
    fan = ("SELECT year, p5, p10, p25, p50, p75, p90, p95 FROM quantiles WHERE ensemble_id = ? AND metric = ? "
           "ORDER BY year")
    miles = "SELECT * FROM milestone_percentiles ORDER BY scenario, milestone"
    on_the_fly = (f'SELECT year, quantile_cont("{info["metric"]}", [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95]) '
                  f"FROM trajectories t JOIN runs r USING (run_id) WHERE r.ensemble_id = ? AND NOT r.is_central "
                  f"GROUP BY year ORDER BY year")
    out = {}
    for name, sql, args in (("fan_chart_quantiles", fan, [info["ensemble_id"], info["metric"]]),
                            ("milestone_percentiles_all", miles, []),
                            ("fan_chart_on_the_fly", on_the_fly, [info["ensemble_id"]])):
        for fresh in (True, False):
            key = f"{name}_{'fresh' if fresh else 'warm'}_connection"
            out[key] = timed_query(db, sql, args, repeats, fresh)
            print(key, json.dumps(out[key]), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="baseline")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK)
    parser.add_argument("--query-runs", type=int, default=100_000)
    parser.add_argument("--query-scenario", help="scenario of the ensemble copied into the query store "
                                                 "(default: --scenario, using the largest ensemble of part 1)")
    parser.add_argument("--query-samples", type=int, default=100,
                        help="samples of that ensemble when --query-scenario is given (default 100)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--workdir", type=Path, help="keep the stores here (default: a temporary directory)")
    args = parser.parse_args()

    results = {"machine": machine(), "scenario": args.scenario}
    print(results["machine"], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        scenario = resolve_scenario(args.scenario, workdir)
        results["sizes"], largest = bench_sizes(scenario, args.sizes, args.chunk_size, workdir)
        if args.query_scenario:
            [results["query_source"]], largest = bench_sizes(resolve_scenario(args.query_scenario, workdir),
                                                             [args.query_samples],
                                                             args.chunk_size, workdir / "query_source")
        query_db = workdir / "query_store.duckdb"
        results["query_store"] = build_query_store(largest, query_db, args.query_runs)
        print("query store", json.dumps(results["query_store"]), flush=True)
        results["queries"] = bench_queries(query_db, results["query_store"], args.repeats)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

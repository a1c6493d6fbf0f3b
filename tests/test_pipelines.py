"""Pipelines: ensembles into the DuckDB store, incremental, transactional, concurrent-reader safe.

Every test uses a short-horizon scenario (an override CSV setting ``simulation.end_year`` a few
years after the simulator's start year, coarse steps, economy off unless needed) and a dozen
samples, and calls the CLI in-process unless a separate process is the point of the test (kill -9,
a concurrent reader, another process holding the store, a file-size limit), so the file runs in
well under two minutes on two cores.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipelines import simulation, store
from pipelines.errors import DiskFull, PipelineError, ScenarioError, StoreLocked
from pipelines.runner import EnsembleRequest, run_ensembles, run_user_ensemble, validate_overrides
from pipelines.staging import run_id_base

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
N = 12  # samples per test ensemble
CHUNK = 4
# Short horizon, coarse solver and calibration grids, economy off: a simulate call takes well under a second.
HORIZON = 4  # years simulated by the test scenarios (from the simulator's own start year)
FAST = {
    "simulation.solver_step_years": 0.25, "simulation.output_step_years": 0.5,
    "software_rnd.spinup_step_years": 0.5, "software_rnd.anchor_spinup_step_years": 0.5,
    "software_rnd.frontier_grid_points": 256,
    "software_rnd.taste_tail_grid_points": 200, "software_rnd.taste_floor_grid_points": 50, "economy.enabled": 0,
}


def start_year() -> int:
    """The simulator's default start year (read from the parameter files, never hard-coded here)."""
    import sim

    return int(sim.load_scenario("baseline").model_parameters["simulation.start_year"].value)


def write_scenario(path: Path, years: int = HORIZON, **settings) -> Path:
    """A short-horizon override CSV: ``years`` years from the start year, coarse steps.

    Its rows are only those the current parameter files define.
    """
    import sim

    known = set(sim.load_scenario("baseline").model_parameters.names)
    rows = {**FAST, "simulation.end_year": start_year() + years, **settings}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Short-horizon test scenario: baseline distributions, coarse steps.\nname,value\n"
                    + "".join(f"{k},{v}\n" for k, v in rows.items() if k in known))
    return path


@pytest.fixture(scope="session")
def prebuilt(tmp_path_factory):
    """Scenario files v1 and v2 (same name 'short', other end year) and stores built once from them."""
    base = tmp_path_factory.mktemp("prebuilt")
    v1, v2 = write_scenario(base / "v1" / "short.csv"), write_scenario(base / "v2" / "short.csv", years=HORIZON + 1)
    stores = {}
    for name, path in (("v1", v1), ("v2", v2)):
        stores[name] = base / f"{name}.duckdb"
        run_ensembles([EnsembleRequest(str(path), N)], stores[name], progress=False, chunk_size=N)
    return {"v1": v1, "v2": v2, "v1_store": stores["v1"], "v2_store": stores["v2"]}


@pytest.fixture
def scenario(tmp_path) -> Path:
    return write_scenario(tmp_path / "short.csv")


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "store" / "test.duckdb"


@pytest.fixture
def v1_db(prebuilt, db) -> Path:
    """A store holding one complete ensemble of scenario v1 (a copy of the prebuilt one)."""
    import shutil

    db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(prebuilt["v1_store"], db)
    return db


def run(requests, db, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("chunk_size", CHUNK)
    return run_ensembles(requests, db, **kw)


def cli(*args, timeout=300, env=None, **kw) -> subprocess.CompletedProcess:
    """``python -m pipelines ARGS`` in a new process (only where a separate process matters)."""
    return subprocess.run([PY, "-m", "pipelines", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          check=False, timeout=timeout, env=env, **kw)


@pytest.fixture
def main(capsys):
    """The CLI in this process: ``main(*args)`` returns (exit code, stdout, stderr)."""
    from pipelines.__main__ import main as cli_main

    def call(*args) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = cli_main([str(a) for a in args])
        except SystemExit as exit_:  # argparse: --help, usage errors
            code = exit_.code
        out = capsys.readouterr()
        return code, out.out, out.err

    return call


def snapshot(db: Path) -> dict[str, pd.DataFrame]:
    """Every table's rows in a canonical order (timestamps and timings dropped)."""
    out = {}
    with store.reader(db) as con:
        for table in ("ensembles", "runs", "parameters", "trajectories", "milestones", "quantiles"):
            frame = con.execute(f"SELECT * FROM {table}").df()
            frame = frame.drop(columns=[c for c in ("started_at", "finished_at", "duration_s", "executor",
                                                    "chunk_size", "source") if c in frame.columns])
            keys = [c for c in ("ensemble_id", "run_id", "name", "milestone", "metric", "year") if c in frame]
            out[table] = frame.sort_values(keys).reset_index(drop=True)
    return out


def assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame], tables=None) -> None:
    for table in tables or a:
        pd.testing.assert_frame_equal(a[table], b[table], check_like=True, obj=table)


def assert_complete(db: Path) -> None:
    """Each stored ensemble has all its runs, trajectories and quantiles: nothing partial is visible."""
    with store.reader(db) as con:
        rows = con.execute("""
            SELECT e.ensemble_id, e.n_runs,
                   (SELECT count(*) FROM runs r WHERE r.ensemble_id = e.ensemble_id),
                   (SELECT count(DISTINCT run_id) FROM trajectories t WHERE t.ensemble_id = e.ensemble_id),
                   (SELECT count(*) FROM quantiles q WHERE q.ensemble_id = e.ensemble_id)
            FROM ensembles e""").fetchall()
        orphans = con.execute("SELECT count(*) FROM runs WHERE ensemble_id NOT IN "
                              "(SELECT ensemble_id FROM ensembles)").fetchone()[0]
    assert rows, "store has no ensembles"
    for eid, n_runs, runs, traj_runs, quantiles in rows:
        assert runs == n_runs and traj_runs == n_runs and quantiles > 0, (eid, n_runs, runs, traj_runs, quantiles)
    assert orphans == 0


# -- building the store -----------------------------------------------------------------------------------------


def test_run_builds_complete_store_with_schema_and_views(tmp_path, db):
    # the economy on here, so the takeoff classes are filled
    scenario = write_scenario(tmp_path / "econ.csv", **{"economy.enabled": 1})
    [result] = run([EnsembleRequest(str(scenario), N, seed=3)], db, chunk_size=N + 1)  # one simulate call
    assert result.action == "computed" and result.computed_samples == N + 1
    loaded = simulation.load(str(scenario))
    with store.reader(db) as con:
        ens = con.execute("SELECT * FROM ensembles").df().iloc[0]
        assert (ens.scenario, ens.kind, ens.n_samples, ens.seed, ens.status) == ("econ", "named", N, 3, "complete")
        assert ens.param_hash == loaded.param_hash and ens.model_version == loaded.model_version
        assert ens.duration_s > 0 and ens.finished_at >= ens.started_at
        runs = con.execute("SELECT * FROM runs ORDER BY sample_index").df()
        assert len(runs) == N + 1 and runs.run_id.is_unique
        assert list(runs.sample_index) == list(range(-1, N)) and runs.is_central.sum() == 1
        assert runs.loc[runs.is_central, "sample_index"].item() == -1
        assert set(runs.status) <= {"ok", "diverged", "singularity"}
        assert (runs.run_id - run_id_base(ens.ensemble_id) - 1 == runs.sample_index).all()
        assert runs.growth_class.notna().all() and runs.wages_class.notna().all()
        # one parameter row per random parameter per run
        n_params = con.execute("SELECT count(*) FROM parameters").fetchone()[0]
        assert n_params == (N + 1) * len(loaded.random_names) > 0
        # yearly grid from the start year to the end year, with one column per catalogue metric
        years = [r[0] for r in con.execute("SELECT DISTINCT year FROM trajectories ORDER BY 1").fetchall()]
        first = start_year()
        assert years == [float(first + i) for i in range(HORIZON + 1)]
        metric_cols = set(store.table_columns(con, "trajectories")) - {"run_id", "ensemble_id", "year"}
        assert metric_cols and metric_cols <= set(con.execute("SELECT name FROM metrics").df().name)
        assert con.execute("SELECT count(*) FROM trajectories").fetchone()[0] == (N + 1) * len(years)
        # quantiles: monotone in p, over the N Monte Carlo runs (the central run excluded)
        qt = con.execute("SELECT * FROM quantiles").df()
        assert set(qt.metric) <= metric_cols and len(qt) <= len(metric_cols) * len(years)
        assert (qt.n <= N).all() and (qt.n == N).any()
        ordered = qt.dropna(subset=["p5"])
        for lo, hi in zip(["p5", "p10", "p25", "p50", "p75", "p90"], ["p10", "p25", "p50", "p75", "p90", "p95"]):
            assert (ordered[lo] <= ordered[hi] + 1e-9 * ordered[hi].abs()).all()
        metric = qt[qt.n == N].metric.iloc[0]
        check = con.execute(f"""SELECT quantile_cont("{metric}", 0.5) FROM trajectories JOIN runs USING (run_id)
                                WHERE year = {first + 2} AND NOT is_central""").fetchone()[0]
        stored = qt[(qt.metric == metric) & (qt.year == first + 2)].p50.item()
        assert check == pytest.approx(stored)
        # milestones: one row per (run, milestone), NULL when not reached
        n_milestones = con.execute("SELECT count(DISTINCT milestone) FROM milestones").fetchone()[0]
        assert n_milestones > 0
        assert con.execute("SELECT count(*) FROM milestones").fetchone()[0] == (N + 1) * n_milestones
        # the views answer
        mp = con.execute("SELECT * FROM milestone_percentiles").df()
        assert len(mp) == n_milestones and (mp.n_runs == N).all()
        assert con.execute("SELECT sum(share) FROM class_shares").fetchone()[0] == pytest.approx(1.0)
        assert con.execute("SELECT sum(share) FROM status_shares").fetchone()[0] == pytest.approx(1.0)
        assert len(con.execute("SELECT * FROM current_ensembles").df()) == 1
        assert len(con.execute("SELECT * FROM central_milestones").df()) == n_milestones
        assert len(con.execute("SELECT * FROM parameter_specs").df()) == len(loaded.specs())
        units = con.execute("SELECT count(*) FROM metrics WHERE kind = 'series' AND unit IS NOT NULL").fetchone()[0]
        assert units >= len(metric_cols)
    assert_complete(db)


def test_a_store_from_before_the_labor_rename_is_migrated(v1_db, prebuilt):
    """`labour_share_class` (old stores) became `labor_share_class`: publishing into an old store renames the
    column and keeps its rows, so the store is never left with both spellings."""
    with duckdb.connect(str(v1_db)) as con:
        con.execute("ALTER TABLE runs RENAME COLUMN labor_share_class TO labour_share_class")
    [result] = run_ensembles([EnsembleRequest(str(prebuilt["v2"]), N)], v1_db, progress=False, chunk_size=N)
    assert result.action == "computed", result.error
    with store.reader(v1_db) as con:
        columns = store.table_columns(con, "runs")
        assert "labor_share_class" in columns and "labour_share_class" not in columns
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == N + 1  # v2 replaced v1 (same name)


def test_incremental_skip_force_and_stale(scenario, db, prebuilt):
    [first] = run([EnsembleRequest(str(scenario), N)], db, chunk_size=N)
    token, before = store.store_token(db), snapshot(db)
    assert_same(before, snapshot(prebuilt["v1_store"]))  # same identity, same rows, wherever it was computed
    [again] = run([EnsembleRequest(str(scenario), N)], db)
    assert again.action == "up-to-date" and store.store_token(db) == token  # the file was not even rewritten
    [forced] = run([EnsembleRequest(str(scenario), N)], db, force=True, chunk_size=5)
    assert forced.action == "computed" and forced.ensemble_id == first.ensemble_id
    assert_same(before, snapshot(db))  # deterministic, and the chunk size does not change a single number

    from pipelines.status import store_status

    assert store_status(db, check_missing=False).state.tolist() == ["fresh"], store_status(db).reason.tolist()
    write_scenario(scenario, years=HORIZON + 1)  # parameter file changed -> stale
    status = store_status(db, check_missing=False)
    assert status.state.tolist() == ["stale"] and "parameter files changed" in status.reason[0]
    [recomputed] = run([EnsembleRequest(str(scenario), N)], db, chunk_size=N)
    assert recomputed.action == "computed" and recomputed.replaced == [first.ensemble_id]
    assert_same(snapshot(prebuilt["v2_store"]), snapshot(db))  # the old ensemble is gone, the new one complete
    assert store_status(db, check_missing=False).state.tolist() == ["fresh"], store_status(db).reason.tolist()


def test_exception_mid_ensemble_keeps_previous_and_rerun_resumes(v1_db, prebuilt, monkeypatch):
    db = v1_db
    before, token = snapshot(db), store.store_token(db)
    real = simulation.simulate_chunk
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("boom")
        return real(*args, **kwargs)

    monkeypatch.setattr("pipelines.executors.base.simulate_chunk", flaky)
    with pytest.raises(RuntimeError, match="boom"):  # fail_fast: the exception itself
        run([EnsembleRequest(str(prebuilt["v2"]), N)], db, fail_fast=True)  # v2 replaces v1 when it completes
    assert store.store_token(db) == token  # the published store was not touched
    calls["n"] = 2  # fails again on the next chunk: by default reported in the result, not raised
    [failed] = run([EnsembleRequest(str(prebuilt["v2"]), N)], db)
    assert failed.action == "failed" and "RuntimeError: boom" in failed.error and "test_pipelines.py" in failed.error
    assert store.store_token(db) == token
    assert_same(before, snapshot(db))
    monkeypatch.setattr("pipelines.executors.base.simulate_chunk", real)
    [resumed] = run([EnsembleRequest(str(prebuilt["v2"]), N)], db)
    # 13 runs in chunks of 5, 4, 4: the first two were kept, only the last is computed again
    assert resumed.action == "resumed" and resumed.computed_samples == 4
    assert_same(snapshot(prebuilt["v2_store"]), snapshot(db))  # identical to computing it in one go
    assert_complete(db)


def test_kill_9_mid_run_then_rerun_completes_uncorrupted(v1_db, prebuilt, main):
    db, chunk = v1_db, 2
    before = snapshot(db)
    proc = subprocess.Popen([PY, "-m", "pipelines", "run", "--scenario", str(prebuilt["v2"]), "--samples", str(N),
                             "--db", str(db), "--chunk-size", str(chunk)], cwd=ROOT, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    seen, buffer, deadline = 0, "", time.monotonic() + 120
    try:
        while time.monotonic() < deadline:  # the progress bar reports samples written: kill after two chunks
            ch = proc.stderr.read(1)
            if not ch:
                break
            buffer = (buffer + ch)[-300:]
            found = re.findall(r"(\d+)/(\d+) samples \[", buffer)
            if found and int(found[-1][0]) >= 2 * chunk:
                seen = int(found[-1][0])
                break
        assert 0 < seen < N + 1, f"did not catch the run mid-way (saw {seen}): {buffer!r}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # the previous complete ensemble is still there, intact; nothing of the new one is visible
    assert_same(before, snapshot(db))
    assert_complete(db)
    code, out, err = main("status", "--db", db, "--format", "json")
    assert code == 0, err
    states = sorted(r["state"] for r in json.loads(out) if r["scenario"] == "short")
    assert states == ["fresh", "partial"], out  # v1 (its own file unchanged) and the interrupted v2
    # rerun: completes from the finished chunks and equals a run done in one go
    code, out, err = main("run", "--scenario", prebuilt["v2"], "--samples", N, "--db", db, "--chunk-size", chunk,
                          "--no-progress")
    assert code == 0, err
    match = re.search(r"short\s+named\s+resumed\s+12\s+(\d+)", out)
    assert match and 0 < int(match[1]) <= N - 1, out  # only the missing samples (>= 1 chunk was kept)
    assert_same(snapshot(prebuilt["v2_store"]), snapshot(db))
    assert_complete(db)
    with duckdb.connect(str(db), read_only=True) as con:  # every column of every table reads back
        for table in ("ensembles", "runs", "parameters", "trajectories", "milestones", "quantiles"):
            con.execute(f"SELECT count(*), sum(hash(COLUMNS(*))) FROM {table}").fetchall()
    assert not list(store.staging_dir(db).glob("*.duckdb"))


READER = textwrap.dedent("""
    import json, os, sys, time, duckdb
    db, stop, ready = sys.argv[1], sys.argv[2], sys.argv[3]
    stats = {"reads": 0, "errors": [], "states": set()}
    QUERY = (
        "SELECT e.ensemble_id, e.n_runs, "
        "(SELECT count(*) FROM runs r WHERE r.ensemble_id = e.ensemble_id), "
        "(SELECT count(DISTINCT run_id) FROM trajectories t WHERE t.ensemble_id = e.ensemble_id), "
        "(SELECT count(*) FROM quantiles q WHERE q.ensemble_id = e.ensemble_id) "
        "FROM ensembles e ORDER BY 1")
    while not os.path.exists(stop):
        try:
            con = duckdb.connect(db, read_only=True)
            rows = con.execute(QUERY).fetchall()
            con.execute("SELECT * FROM milestone_percentiles").fetchall()
            con.close()
            for eid, n_runs, runs, traj_runs, quantiles in rows:
                if runs != n_runs or traj_runs != n_runs or quantiles == 0:
                    stats["errors"].append(f"partial ensemble visible: {eid} {runs}/{n_runs} runs "
                                           f"{traj_runs} trajectories {quantiles} quantiles")
            stats["states"].add(tuple(r[0] for r in rows))
            stats["reads"] += 1
        except Exception as err:
            stats["errors"].append(repr(err))
        if stats["reads"] == 1:
            open(ready, "w").close()
        time.sleep(0.005)  # leave the writer some of the two cores
    stats["states"] = len(stats["states"])
    print(json.dumps(stats))
""")


def test_reader_never_fails_during_writes(v1_db, prebuilt, tmp_path):
    db, stop, ready = v1_db, tmp_path / "stop", tmp_path / "ready"
    reader = subprocess.Popen([PY, "-c", READER, str(db), str(stop), str(ready)], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and reader.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), "the reader did not start"
        other = write_scenario(tmp_path / "other.csv", years=2)
        # publishes while the reader reads, each replacing or adding an ensemble: one swap per ensemble ...
        run([EnsembleRequest(str(prebuilt["v1"]), 4, seed=1), EnsembleRequest(str(other), 4, seed=1)],
            db, chunk_size=5, publish_every=0)
        # ... and the default: both ensembles of a run in one swap
        run([EnsembleRequest(str(prebuilt["v1"]), 4, seed=2), EnsembleRequest(str(other), 4, seed=2)],
            db, chunk_size=5)
    finally:
        stop.touch()
        out, _ = reader.communicate(timeout=60)
    stats = json.loads(out)
    assert stats["errors"] == [], stats["errors"][:5]
    assert stats["reads"] > 20 and stats["states"] >= 3, stats
    assert_complete(db)


def test_one_run_publishes_its_ensembles_in_one_swap(v1_db, prebuilt, tmp_path, monkeypatch):
    from pipelines import runner

    db = v1_db
    a, b = write_scenario(tmp_path / "a.csv", years=1), write_scenario(tmp_path / "b.csv", years=1)
    calls = []
    real = runner.publish

    def counting(db, items, *args, **kwargs):
        calls.append([row["scenario"] for _, row in items])
        return real(db, items, *args, **kwargs)

    monkeypatch.setattr(runner, "publish", counting)
    results = run([EnsembleRequest(str(a), 2), EnsembleRequest(str(b), 2), EnsembleRequest(str(a), 2)], db)
    assert calls == [["a", "b"]]  # one atomic swap for both; the duplicate request is computed once
    assert [(r.scenario, r.action, r.publish_batch) for r in results] == [("a", "computed", 1), ("b", "computed", 1)]
    assert sorted(store.read_ensembles(db).scenario) == ["a", "b", "short"]
    assert_complete(db)
    # --publish-every 0: one swap per ensemble
    calls.clear()
    run([EnsembleRequest(str(a), 2, seed=1), EnsembleRequest(str(b), 2, seed=1)], db, publish_every=0)
    assert calls == [["a"], ["b"]]
    # the simulator failing on one scenario: the others are still computed and published
    calls.clear()
    real_chunk = simulation.simulate_chunk

    def fail_on_b(scenario, *args, **kwargs):
        if scenario.name == "b":
            raise RuntimeError("boom")
        return real_chunk(scenario, *args, **kwargs)

    monkeypatch.setattr("pipelines.executors.base.simulate_chunk", fail_on_b)
    results = run([EnsembleRequest(str(b), 2, seed=2), EnsembleRequest(str(a), 2, seed=2)], db)
    assert [r.action for r in results] == ["failed", "computed"] and "boom" in results[0].error
    assert calls == [["a"]]
    assert not list(store.staging_dir(db).glob("*.duckdb"))  # b had no finished chunk: no 'partial' left behind
    # an error that stops the run still publishes the ensembles finished before it
    calls.clear()
    with pytest.raises(RuntimeError, match="boom"):
        run([EnsembleRequest(str(a), 2, seed=3), EnsembleRequest(str(b), 2, seed=3)], db, fail_fast=True)
    assert calls == [["a"]]
    stored = store.read_ensembles(db).set_index("scenario")
    assert stored.loc["a", "seed"] == 3 and stored.loc["b", "seed"] == 1  # b's previous ensemble is kept
    assert_complete(db)


# -- errors -----------------------------------------------------------------------------------------------------


def test_locked_store_gives_clear_error_and_loses_nothing(v1_db, prebuilt, main):
    db, v1 = v1_db, prebuilt["v1"]
    before = snapshot(db)
    # 1) another pipelines writer holds the store
    with store.writer_lock(db, timeout=1), pytest.raises(StoreLocked, match="locked by another process"):
        run([EnsembleRequest(str(v1), 4, seed=9)], db, lock_timeout=0.3)
    assert_same(before, snapshot(db))
    # 2) some other program has the store open read-write
    holder = subprocess.Popen([PY, "-c", (f"import duckdb, time; c = duckdb.connect({str(db)!r}); "
                                         "print('open', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        code, _, err = main("run", "--scenario", v1, "--samples", 4, "--seed", 9, "--db", db, "--no-progress")
        assert code == StoreLocked.exit_code, err
        assert "open read-write in another process" in err and "Nothing was changed" in err
    finally:
        holder.kill()
        holder.wait()
    assert_same(before, snapshot(db))
    # the ensemble computed in 1) (only its publish was refused) was kept: the rerun just publishes it
    [done] = run([EnsembleRequest(str(v1), 4, seed=9)], db)
    assert done.action == "resumed" and done.computed_samples == 0
    assert_complete(db)


def test_bad_parameter_file_and_unknown_scenario(v1_db, prebuilt, tmp_path, main):
    db = v1_db
    before, token = snapshot(db), store.store_token(db)
    code, _, err = main("run", "--scenario", "no_such_scenario", "--db", db, "--no-progress")
    assert code == 1 and "unknown scenario 'no_such_scenario'" in err
    assert "baseline" in err  # lists the known ones
    bad = tmp_path / "bad.csv"
    bad.write_text("name,value\nsimulation.end_year,soon\n")
    code, _, err = main("run", "--scenario", bad, "--db", db, "--no-progress")
    assert code == 1 and f"{bad}, line 2, field 'value'" in err and "'soon'" in err
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("name,value\nno_such.parameter,1\n")
    code, _, err = main("run", "--scenario", unknown, "--db", db, "--no-progress")
    assert code == 1 and "no_such.parameter" in err
    code, _, err = main("run", "--scenario", prebuilt["v1"], "--set", "simulation.end_year=soon", "--db", db)
    assert code == 1 and "not a number" in err
    assert store.store_token(db) == token  # none of these touched the store file
    # a bad scenario does not stop the good ones, and nothing stored is lost
    results = run([EnsembleRequest(str(bad), N), EnsembleRequest(str(prebuilt["v1"]), N)], db)
    assert [r.action for r in results] == ["failed", "up-to-date"]
    assert_same(before, snapshot(db))


def test_disk_full_while_publishing_gives_clear_error(v1_db, prebuilt):
    db = v1_db
    before = snapshot(db)
    limit = db.stat().st_size + 64 * 1024  # a file growing past this fails with EFBIG, as on a full disk
    code = textwrap.dedent(f"""
        import resource, signal, sys, runpy
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
        sys.argv = ["pipelines", "run", "--scenario", {str(prebuilt["v2"])!r}, "--samples", "{N}",
                    "--chunk-size", "{N}", "--db", {str(db)!r}, "--no-progress"]
        runpy.run_module("pipelines", run_name="__main__")
    """)
    result = subprocess.run([PY, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == DiskFull.exit_code, result.stderr[-3000:]
    assert "disk" in result.stderr and "unchanged" in result.stderr and "Traceback" not in result.stderr
    assert_same(before, snapshot(db))
    assert not list(db.parent.glob(f".{db.name}.publish-*"))
    # with the space back, the rerun publishes what was computed
    [done] = run([EnsembleRequest(str(prebuilt["v2"]), N)], db)
    assert done.action in ("resumed", "computed")
    assert_same(snapshot(prebuilt["v2_store"]), snapshot(db))


def test_publish_failure_leaves_store_and_keeps_computed_ensemble(v1_db, prebuilt, monkeypatch):
    import errno

    db = v1_db
    before, token = snapshot(db), store.store_token(db)

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, "replace", full)
    with pytest.raises(DiskFull, match="unchanged") as failure:
        run([EnsembleRequest(str(prebuilt["v2"]), N)], db)
    assert [r.action for r in failure.value.results] == ["computed, not published"]
    monkeypatch.undo()
    assert store.store_token(db) == token and not list(db.parent.glob(f".{db.name}.publish-*"))
    assert_same(before, snapshot(db))
    # not enough free space is refused before anything is written
    monkeypatch.setattr(store.shutil, "disk_usage", lambda p: type("U", (), {"free": 1024})())
    with pytest.raises(DiskFull, match="not enough free disk space"):
        run([EnsembleRequest(str(prebuilt["v2"]), N)], db)
    monkeypatch.undo()
    [done] = run([EnsembleRequest(str(prebuilt["v2"]), N)], db)
    assert done.action == "resumed" and done.computed_samples == 0  # published from the kept staging file
    assert_same(snapshot(prebuilt["v2_store"]), snapshot(db))


# -- user ensembles (dashboard reruns) --------------------------------------------------------------------------


def test_user_ensemble_cached_and_validated(v1_db, prebuilt):
    db, v1 = v1_db, str(prebuilt["v1"])
    loaded = simulation.load(v1)
    name = next(n for n in loaded.random_names if n.startswith("software_rnd."))
    value = float(loaded.specs().set_index("name").loc[name, "value"])
    progress = []
    eid = run_user_ensemble(v1, {name: value}, n=4, db=db, on_progress=lambda d, t: progress.append((d, t)))
    assert progress and progress[-1] == (5, 5)
    token = store.store_token(db)
    assert run_user_ensemble(v1, {name: value}, n=4, db=db) == eid  # cache hit
    assert store.store_token(db) == token
    with store.reader(db) as con:
        kind, overrides = con.execute("SELECT kind, overrides FROM ensembles WHERE ensemble_id = ?", [eid]).fetchone()
        assert kind == "user" and json.loads(overrides) == {name: value}
        pinned = con.execute("SELECT is_random, value FROM parameter_specs WHERE ensemble_id = ? AND name = ?",
                             [eid, name]).fetchone()
        assert pinned == (False, value)
        assert con.execute("SELECT count(*) FROM parameters WHERE ensemble_id = ? AND name = ?",
                           [eid, name]).fetchone()[0] == 0  # pinned: no longer sampled
        assert con.execute("SELECT count(*) FROM ensembles").fetchone()[0] == 2  # the named one is kept
    assert validate_overrides(v1, {name: value}) == {}
    problems = validate_overrides(v1, {name: "abc", "no.such": 1.0, "simulation.end_year": 5000})
    assert set(problems) == {name, "no.such", "simulation.end_year"}
    assert "not a number" in problems[name] and "unknown parameter" in problems["no.such"]
    assert "outside" in problems["simulation.end_year"]
    with pytest.raises(ScenarioError, match="outside"):
        run_user_ensemble(v1, {"simulation.end_year": 5000}, n=4, db=db)
    # without overrides, the matching named ensemble is reused
    named = store.read_ensembles(db).query("kind == 'named'").ensemble_id.item()
    assert run_user_ensemble(v1, {}, n=N, db=db) == named


# -- CLI ---------------------------------------------------------------------------------------------------------


REFUSED_SQL = {  # name -> (statement, a fragment of the message); {dir} is the test's own directory
    "read_text": ("SELECT * FROM read_text('/etc/hostname')", "file system operations are disabled"),
    "read_csv": ("SELECT * FROM read_csv('/etc/passwd')", "file system operations are disabled"),
    "read_in_subquery": ("SELECT count(*) FROM runs WHERE run_id IN (SELECT 1 FROM read_csv('/etc/passwd'))",
                         "file system operations are disabled"),
    "glob": ("SELECT * FROM glob('/etc/*')", "file system operations are disabled"),
    "copy_to": ("COPY (SELECT 42) TO '{dir}/leak.csv'", "this statement is COPY"),
    "copy_from": ("COPY runs FROM '{dir}/leak.csv'", "this statement is COPY"),
    "export": ("EXPORT DATABASE '{dir}/exported'", "this statement is EXPORT"),
    "attach": ("ATTACH '{dir}/other.duckdb' AS other", "this statement is ATTACH"),
    "install": ("INSTALL httpfs", "this statement is"),
    "load": ("LOAD httpfs", "this statement is LOAD"),
    "set": ("SET enable_external_access = true", "this statement is SET"),
    "reset": ("RESET lock_configuration", "this statement is"),
    "pragma": ("PRAGMA threads = 1", "this statement is"),
    "create": ("CREATE TABLE evil AS SELECT 1", "this statement is CREATE"),
    "insert": ("INSERT INTO runs SELECT * FROM runs", "this statement is INSERT"),
    "delete": ("DELETE FROM runs", "read-only"),
    "drop": ("DROP TABLE runs", "this statement is DROP"),
    "several": ("SELECT 1; SELECT 2", "one statement at a time (found 2)"),
    "select_then_write": ("SELECT 1; COPY (SELECT 42) TO '{dir}/leak.csv'", "found 2"),
    "empty": ("   ", "Type a query first"),
}


@pytest.mark.parametrize("name", list(REFUSED_SQL))
def test_cli_sql_refuses_everything_but_one_read(v1_db, main, name):
    """`python -m pipelines sql` goes through the same locked door as the dashboard's SQL page: no host
    file is read or written, nothing attached, installed, loaded or changed, one statement at a time."""
    statement, message = REFUSED_SQL[name]
    before = sorted(p.name for p in v1_db.parent.iterdir())
    code, out, err = main("sql", statement.format(dir=v1_db.parent), "--db", v1_db)
    assert code == 1 and message in err and "Traceback" not in err, (name, out, err)
    assert out == ""  # nothing read back (the old door printed /etc/hostname here)
    assert sorted(p.name for p in v1_db.parent.iterdir()) == before  # no file written beside the store
    code, out, err = main("sql", "SELECT count(*) AS n FROM runs", "--db", v1_db, "--format", "csv")
    assert code == 0 and out.splitlines() == ["n", str(N + 1)], err  # the store is unchanged


def test_cli_sql_stops_a_long_query_and_limits_rows(v1_db, main):
    code, out, err = main("sql", "SELECT count(*) FROM range(1000000000000) a, range(1000) b", "--db", v1_db,
                          "--timeout", "0.5")  # hours of work if it were not stopped
    assert code == 1 and "ran longer than 0.5 s and was stopped" in err, err
    code, out, err = main("sql", "SELECT * FROM range(5000)", "--db", v1_db, "--format", "csv", "--max-rows", 7)
    assert code == 0 and len(out.splitlines()) == 1 + 7 and "first 7 rows shown" in err


def test_cli_help_for_every_command(main):
    result = cli("--help")  # the real entry point, once
    assert result.returncode == 0 and "usage: python -m pipelines" in result.stdout, result.stderr
    for command in ("run", "status", "schedule", "sql", "export"):
        assert command in result.stdout
        code, out, err = main(command, "--help")
        assert code == 0 and out.startswith(f"usage: python -m pipelines {command}"), (command, err)
    code, out, err = main("run", "--help")
    for option in ("--scenario", "--all", "--samples", "--seed", "--db", "--executor", "--chunk-size", "--force"):
        assert option in out
    code, out, err = main()  # no command: usage and a clear error, not a traceback
    assert code == 2 and "required" in err


def test_cli_run_status_sql_export(prebuilt, db, tmp_path, main):
    code, out, err = main("run", "--scenario", prebuilt["v1"], "--samples", 4, "--chunk-size", 2, "--db", db)
    assert code == 0, err
    assert "samples/s" in err  # the progress bar
    assert re.search(r"short\s+named\s+computed\s+4\s+5", out), out  # the summary
    assert "1 ensemble(s) computed" in out and "samples/s" in out and "1 atomic swap" in out
    code, out, err = main("status", "--db", db)
    assert code == 0 and re.search(r"short\s+named\s+4\s+0\s+\S+\s+[0-9a-f]{16}", out), out
    assert "fresh" in out
    query = "SELECT scenario, count(*) AS n FROM runs JOIN ensembles USING (ensemble_id) GROUP BY 1"
    table = cli("sql", query, "--db", db)  # the command, as a user runs it
    assert table.returncode == 0 and re.search(r"short\s+5", table.stdout), table.stderr
    code, out, err = main("sql", query, "--db", db, "--format", "json")
    assert json.loads(out) == [{"scenario": "short", "n": 5}]
    code, out, err = main("sql", query, "--db", db, "--format", "csv")
    assert out.splitlines() == ["scenario,n", "short,5"]
    code, out, err = main("sql", "DELETE FROM runs", "--db", db)
    assert code == 1 and "read-only" in err
    code, out, err = main("sql", "SELECT nope FROM runs", "--db", db)
    assert code == 1 and "nope" in err
    code, out, err = main("sql", "SELECT 1", "--db", tmp_path / "nope.duckdb")
    assert code == 1 and "no store" in err
    out_dir = tmp_path / "export"
    code, out, err = main("export", "--format", "parquet", "--out", out_dir, "--db", db)
    assert code == 0, err
    with store.reader(db) as con:
        for table in ("ensembles", "runs", "parameters", "trajectories", "milestones", "quantiles"):
            path = out_dir / f"{table}.parquet"
            n = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            assert con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()[0] == n > 0


def test_schedule(prebuilt, db, monkeypatch, main):
    import io

    from pipelines import runner
    from pipelines.scheduler import build_scheduler, make_job, parse_cron

    with pytest.raises(PipelineError, match="invalid cron expression"):
        parse_cron("every day")
    code, out, err = main("schedule", "--cron", "61 * * * *", "--db", db)
    assert code == 1 and "invalid cron" in err
    trigger = parse_cron("30 4 * * 1")
    assert str(trigger.fields[trigger.FIELD_NAMES.index("hour")]) == "4"

    # the job builds what is missing and refreshes what is stale; here run by a real APScheduler
    monkeypatch.setattr(simulation, "list_named", lambda: [(str(prebuilt["v1"]), "short")])
    monkeypatch.setattr(runner, "DEFAULT_CHUNK", 5)
    out, fired = io.StringIO(), []
    job = make_job(db, n_samples=4, seed=0, out=out)
    scheduler = build_scheduler(lambda: (job(), fired.append(1)), "0 3 * * *", run_now=True, blocking=False)
    scheduler.start()
    try:
        deadline = time.monotonic() + 120
        while not fired and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        scheduler.shutdown(wait=True)
    assert fired and "computed" in out.getvalue(), out.getvalue()
    assert len(store.read_ensembles(db)) == 1
    # `schedule --once`: one refresh, nothing stale now
    code, printed, err = main("schedule", "--once", "--samples", 4, "--db", db)
    assert code == 0 and re.search(r"short\s+up-to-date", printed), printed + err


def test_build_default_store(prebuilt, db, monkeypatch):
    import pipelines
    from pipelines.runner import build_default_store

    monkeypatch.setattr(simulation, "list_named", lambda: [(str(prebuilt["v1"]), "short")])
    results = build_default_store(db, n_samples=4, progress=False, chunk_size=5)
    assert [r.action for r in results] == ["computed"]
    assert pipelines.DEFAULT_DB == store.DEFAULT_DB == ROOT / "store" / "ai_futures.duckdb"
    assert pipelines.build_default_store is build_default_store
    assert pipelines.run_user_ensemble is run_user_ensemble


# -- Ray ---------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ray_executor_matches_local(prebuilt, tmp_path):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install -e .[ray])")
    ray_db = tmp_path / "ray.duckdb"
    try:
        # a local Ray instance (one CPU, so it fits a 2-core CI runner): 3 chunks as Ray tasks
        [result] = run([EnsembleRequest(str(prebuilt["v1"]), N)], ray_db, chunk_size=5, executor="ray",
                       executor_options={"num_cpus": 1})
    except PipelineError as err:
        if "could not start or reach Ray" in str(err):
            pytest.skip(f"Ray could not start on this machine: {err}")
        raise
    assert result.action == "computed" and not ray.is_initialized()
    assert_same(snapshot(prebuilt["v1_store"]), snapshot(ray_db))  # same rows as the local executor
    assert store.read_ensembles(ray_db).executor.tolist() == ["ray"]


def test_compiled_switch_reads_the_environment(monkeypatch):
    """``$AIFS_COMPILED=1`` runs big chunks compiled; small ones (central runs) and anything else stay eager."""
    from pipelines.simulation import COMPILED_ENV, COMPILED_MIN_BATCH, use_compiled

    monkeypatch.delenv(COMPILED_ENV, raising=False)
    assert not use_compiled(1000)
    monkeypatch.setenv(COMPILED_ENV, "1")
    assert use_compiled(1000) and use_compiled(COMPILED_MIN_BATCH)
    assert not use_compiled(1) and not use_compiled(COMPILED_MIN_BATCH - 1)
    monkeypatch.setenv(COMPILED_ENV, "yes please")
    assert not use_compiled(1000)

"""Pipelines: ensembles into the DuckDB store, incremental, transactional, concurrent-reader safe.

Every test uses a short-horizon scenario (an override CSV setting ``simulation.end_year``) and a
few dozen samples so the file runs in well under two minutes on two cores.
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
FAST = {
    "simulation.end_year": 2016, "simulation.solver_step_years": 0.125, "simulation.output_step_years": 0.5,
    "software_rnd.spinup_step_years": 0.25, "software_rnd.frontier_grid_points": 256,
    "software_rnd.taste_tail_grid_points": 200, "software_rnd.taste_floor_grid_points": 50, "economy.enabled": 0,
}


def write_scenario(path: Path, end: int = 2016, **settings) -> Path:
    """A short-horizon override CSV (its rows are only those the current parameter files define)."""
    import sim

    known = set(sim.load_scenario("baseline").model_parameters.names)
    rows = {**FAST, "simulation.end_year": end, **settings}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Short-horizon test scenario: baseline distributions, coarse steps.\nname,value\n"
                    + "".join(f"{k},{v}\n" for k, v in rows.items() if k in known))
    return path


@pytest.fixture(scope="session")
def prebuilt(tmp_path_factory):
    """Scenario files v1 and v2 (same name 'short', other end year) and stores built once from them."""
    base = tmp_path_factory.mktemp("prebuilt")
    v1, v2 = write_scenario(base / "v1" / "short.csv"), write_scenario(base / "v2" / "short.csv", end=2017)
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
    return subprocess.run([PY, "-m", "pipelines", *map(str, args)], cwd=ROOT, capture_output=True, text=True, check=False,
                          timeout=timeout, env=env, **kw)


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
        # yearly grid 2012..2016 with one column per catalogue metric
        years = [r[0] for r in con.execute("SELECT DISTINCT year FROM trajectories ORDER BY 1").fetchall()]
        assert years == [2012.0, 2013.0, 2014.0, 2015.0, 2016.0]
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
                                WHERE year = 2014 AND NOT is_central""").fetchone()[0]
        stored = qt[(qt.metric == metric) & (qt.year == 2014)].p50.item()
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
    write_scenario(scenario, end=2017)  # parameter file changed -> stale
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
    with pytest.raises(RuntimeError, match="boom"):
        run([EnsembleRequest(str(prebuilt["v2"]), N)], db)  # v2 replaces v1 when it completes
    assert store.store_token(db) == token  # the published store was not touched
    assert_same(before, snapshot(db))
    monkeypatch.setattr("pipelines.executors.base.simulate_chunk", real)
    [resumed] = run([EnsembleRequest(str(prebuilt["v2"]), N)], db)
    # 13 runs in chunks of 5, 4, 4: the first two were kept, only the last is computed again
    assert resumed.action == "resumed" and resumed.computed_samples == 4
    assert_same(snapshot(prebuilt["v2_store"]), snapshot(db))  # identical to computing it in one go
    assert_complete(db)


def test_kill_9_mid_run_then_rerun_completes_uncorrupted(v1_db, prebuilt):
    db, chunk = v1_db, 2
    before = snapshot(db)
    proc = subprocess.Popen([PY, "-m", "pipelines", "run", "--scenario", str(prebuilt["v2"]), "--samples", str(N),
                             "--db", str(db), "--chunk-size", str(chunk)], cwd=ROOT, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    seen, buffer, deadline = 0, "", time.monotonic() + 120
    try:
        while time.monotonic() < deadline:  # the progress bar reports runs written: kill after two chunks
            ch = proc.stderr.read(1)
            if not ch:
                break
            buffer = (buffer + ch)[-300:]
            found = re.findall(r"(\d+)/(\d+) \[", buffer)
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
    status = cli("status", "--db", db, "--format", "json")
    states = sorted(r["state"] for r in json.loads(status.stdout) if r["scenario"] == "short")
    assert states == ["fresh", "partial"], status.stdout  # v1 (its own file unchanged) and the interrupted v2
    # rerun: completes from the finished chunks and equals a run done in one go
    rerun = cli("run", "--scenario", prebuilt["v2"], "--samples", N, "--db", db, "--chunk-size", chunk,
                "--no-progress")
    assert rerun.returncode == 0, rerun.stderr
    assert re.search(r"short\s+named\s+resumed", rerun.stdout), rerun.stdout
    assert_same(snapshot(prebuilt["v2_store"]), snapshot(db))
    assert_complete(db)
    with duckdb.connect(str(db), read_only=True) as con:  # every column of every table reads back
        for table in ("ensembles", "runs", "parameters", "trajectories", "milestones", "quantiles"):
            con.execute(f"SELECT count(*), sum(hash(COLUMNS(*))) FROM {table}").fetchall()
    assert not list((db.parent / ".staging").glob("*.duckdb"))


READER = textwrap.dedent("""
    import json, os, sys, duckdb
    db, stop = sys.argv[1], sys.argv[2]
    stats = {"reads": 0, "errors": [], "states": set()}
    QUERY = (
        "SELECT e.ensemble_id, e.n_runs, "
        "(SELECT count(*) FROM runs r WHERE r.ensemble_id = e.ensemble_id), "
        "(SELECT count(*) FROM quantiles q WHERE q.ensemble_id = e.ensemble_id) "
        "FROM ensembles e ORDER BY 1")
    while not os.path.exists(stop):
        try:
            con = duckdb.connect(db, read_only=True)
            rows = con.execute(QUERY).fetchall()
            con.execute("SELECT * FROM milestone_percentiles").fetchall()
            con.close()
            for eid, n_runs, runs, quantiles in rows:
                if runs != n_runs or quantiles == 0:
                    stats["errors"].append(f"partial ensemble visible: {eid} {runs}/{n_runs} runs {quantiles} q")
            stats["states"].add(tuple(r[0] for r in rows))
            stats["reads"] += 1
        except Exception as err:
            stats["errors"].append(repr(err))
    stats["states"] = len(stats["states"])
    print(json.dumps(stats))
""")


def test_reader_never_fails_during_writes(v1_db, prebuilt, tmp_path):
    db, stop = v1_db, tmp_path / "stop"
    reader = subprocess.Popen([PY, "-c", READER, str(db), str(stop)], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        other = write_scenario(tmp_path / "other.csv", end=2014)
        for seed in (1, 2):  # several publishes, each replacing or adding an ensemble, while the reader reads
            run([EnsembleRequest(str(prebuilt["v1"]), 4, seed=seed), EnsembleRequest(str(other), 4, seed=seed)],
                db, chunk_size=5)
    finally:
        stop.touch()
        out, _ = reader.communicate(timeout=60)
    stats = json.loads(out)
    assert stats["errors"] == [], stats["errors"][:5]
    assert stats["reads"] > 20 and stats["states"] >= 3, stats
    assert_complete(db)


# -- errors -----------------------------------------------------------------------------------------------------


def test_locked_store_gives_clear_error_and_loses_nothing(v1_db, prebuilt):
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
        result = cli("run", "--scenario", v1, "--samples", 4, "--seed", 9, "--db", db, "--no-progress")
        assert result.returncode == StoreLocked.exit_code, result.stderr
        assert "open read-write in another process" in result.stderr and "Traceback" not in result.stderr
    finally:
        holder.kill()
        holder.wait()
    assert_same(before, snapshot(db))
    # the ensemble computed in 1) (only its publish was refused) was kept: the rerun just publishes it
    [done] = run([EnsembleRequest(str(v1), 4, seed=9)], db)
    assert done.action == "resumed" and done.computed_samples == 0
    assert_complete(db)


def test_bad_parameter_file_and_unknown_scenario(v1_db, prebuilt, tmp_path):
    db = v1_db
    before = snapshot(db)
    result = cli("run", "--scenario", "no_such_scenario", "--db", db, "--no-progress")
    assert result.returncode == 1 and "unknown scenario 'no_such_scenario'" in result.stderr
    assert "baseline" in result.stderr and "Traceback" not in result.stderr  # lists the known ones
    bad = tmp_path / "bad.csv"
    bad.write_text("name,value\nsimulation.end_year,soon\n")
    result = cli("run", "--scenario", bad, "--db", db, "--no-progress")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{bad}, line 2, field 'value'" in result.stderr and "'soon'" in result.stderr
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
    with pytest.raises(DiskFull, match="unchanged"):
        run([EnsembleRequest(str(prebuilt["v2"]), N)], db)
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


def test_cli_help_for_every_command():
    for command in ([], ["run"], ["status"], ["schedule"], ["sql"], ["export"]):
        result = cli(*command, "--help")
        assert result.returncode == 0 and "usage: python -m pipelines" in result.stdout, command


def test_cli_run_status_sql_export(prebuilt, db, tmp_path):
    result = cli("run", "--scenario", prebuilt["v1"], "--samples", 4, "--chunk-size", 2, "--db", db)
    assert result.returncode == 0, result.stderr
    assert "samples/s" in result.stderr  # the progress bar
    assert re.search(r"short\s+named\s+computed\s+4\s+5", result.stdout), result.stdout
    assert "1 ensemble(s) computed" in result.stdout
    status = cli("status", "--db", db)
    assert status.returncode == 0 and re.search(r"short\s+named\s+4\s+0\s+\S+\s+[0-9a-f]{16}", status.stdout)
    assert "fresh" in status.stdout
    query = "SELECT scenario, count(*) AS n FROM runs JOIN ensembles USING (ensemble_id) GROUP BY 1"
    table = cli("sql", query, "--db", db)
    assert table.returncode == 0 and re.search(r"short\s+5", table.stdout)
    as_json = json.loads(cli("sql", query, "--db", db, "--format", "json").stdout)
    assert as_json == [{"scenario": "short", "n": 5}]
    assert cli("sql", query, "--db", db, "--format", "csv").stdout.splitlines() == ["scenario,n", "short,5"]
    refused = cli("sql", "DELETE FROM runs", "--db", db)
    assert refused.returncode == 1 and "read-only" in refused.stderr and "Traceback" not in refused.stderr
    missing = cli("sql", "SELECT 1", "--db", tmp_path / "nope.duckdb")
    assert missing.returncode == 1 and "no store" in missing.stderr
    out = tmp_path / "export"
    exported = cli("export", "--format", "parquet", "--out", out, "--db", db)
    assert exported.returncode == 0, exported.stderr
    with store.reader(db) as con:
        for table in ("ensembles", "runs", "parameters", "trajectories", "milestones", "quantiles"):
            path = out / f"{table}.parquet"
            n = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            assert con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()[0] == n > 0


def test_schedule(prebuilt, db, monkeypatch):
    import io

    from pipelines import runner
    from pipelines.scheduler import build_scheduler, make_job, parse_cron

    with pytest.raises(PipelineError, match="invalid cron expression"):
        parse_cron("every day")
    bad = cli("schedule", "--cron", "61 * * * *", "--db", db)
    assert bad.returncode == 1 and "invalid cron" in bad.stderr
    trigger = parse_cron("30 4 * * 1")
    assert str(trigger.fields[trigger.FIELD_NAMES.index("hour")]) == "4"

    # the job builds what is missing and refreshes what is stale; here run by a real APScheduler
    monkeypatch.setattr(simulation, "list_named", lambda: [(str(prebuilt["v1"]), "short")])
    monkeypatch.setattr(runner, "DEFAULT_CHUNK", 4)
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
    job()  # nothing stale now
    assert "up-to-date" in out.getvalue().splitlines()[-1]


def test_build_default_store(prebuilt, db, monkeypatch):
    from pipelines.runner import build_default_store

    monkeypatch.setattr(simulation, "list_named", lambda: [(str(prebuilt["v1"]), "short")])
    results = build_default_store(db, n_samples=4, progress=False, chunk_size=5)
    assert [r.action for r in results] == ["computed"]
    assert store.DEFAULT_DB == ROOT / "store" / "ai_futures.duckdb"


# -- Ray ---------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ray_executor_matches_local(prebuilt, tmp_path):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install -e .[ray])")
    ray_db = tmp_path / "ray.duckdb"
    try:
        [result] = run([EnsembleRequest(str(prebuilt["v1"]), N)], ray_db, chunk_size=3, executor="ray")
    except PipelineError as err:
        if "could not start or reach Ray" in str(err):
            pytest.skip(f"Ray could not start on this machine: {err}")
        raise
    assert result.action == "computed" and not ray.is_initialized()
    assert_same(snapshot(prebuilt["v1_store"]), snapshot(ray_db))  # same rows as the local executor
    assert store.read_ensembles(ray_db).executor.tolist() == ["ray"]

"""Per-actor outputs users see: the CLI's JSON, the store's per-actor tables, the README's example queries,
and the dashboard pages that read them.

One small store (baseline and aifm_eli to 2031, 16 samples each) is built through the real pipeline with a
test event added to the compute module (no module defines events yet): the first project fires ``test_year``
once at 2027.75, and the world fires ``test_tick`` every mid-year (2024.5, 2025.5, ...: an event that repeats).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = 16
END_YEAR = 2031

pytestmark = pytest.mark.slow


def _test_events(self):
    """Events for the tests: one for the first project at 2027.75 and a repeating world-level one each mid-year."""
    from sim.updaters.base import Event

    ids = self.params.actors.projects
    events = [Event("test_year", trigger=lambda t, w: t - 2027.75, apply=lambda t, w, m: w, actor=ids[0])]
    events.append(Event("test_tick", trigger=lambda t, w: torch.remainder(t, 1.0) - 0.5,
                        apply=lambda t, w, m: w, repeat=True))
    return events


@pytest.fixture(scope="module")
def with_events():
    from sim.updaters.compute import ComputeUpdater

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ComputeUpdater, "events", _test_events)
        yield


def _scenario_file(directory: Path, name: str) -> Path:
    """A copy of a named scenario ending in END_YEAR (same file name, so the same scenario name)."""
    text = (ROOT / "parameters" / "scenarios" / f"{name}.csv").read_text().rstrip("\n").splitlines()
    header_at = next(i for i, line in enumerate(text) if line and not line.lstrip().startswith("#"))
    columns = text[header_at].split(",")
    rows = [["simulation.end_year", str(END_YEAR)] + [""] * (len(columns) - 2)]
    if name == "baseline":  # the exogenous trend: only the test events fire, no nation series (tests below
        # that need the supply chain's series use the real baseline)
        rows.append(["compute.supply_chain", "0"] + [""] * (len(columns) - 2))
    path = directory / f"{name}.csv"
    path.write_text("\n".join(text + [",".join(row) for row in rows]) + "\n")
    companion = ROOT / "parameters" / "scenarios" / f"{name}.actors.csv"
    if companion.exists():
        shutil.copyfile(companion, directory / companion.name)
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory, with_events):
    from pipelines import EnsembleRequest, run_ensembles

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches: one intra-op thread is fastest (see test_dashboard.py)
    try:
        base = tmp_path_factory.mktemp("actors_store")
        (base / "scenarios").mkdir()
        db = base / "store" / "ai_futures.duckdb"
        files = {name: _scenario_file(base / "scenarios", name) for name in ("baseline", "aifm_eli")}
        results = run_ensembles([EnsembleRequest(str(f), SAMPLES, seed=0) for f in files.values()], db,
                                progress=False, chunk_size=SAMPLES)
        assert all(r.action == "computed" for r in results), [(r.scenario, r.error) for r in results]
    finally:
        torch.set_num_threads(threads)
    return {"db": db, "files": files}


def _reference(path: Path):
    """The trajectory the store's baseline ensemble holds: central run first, then the samples."""
    import sim

    scenario = sim.load_scenario(str(path))
    central, samples = scenario.central(), scenario.sample(SAMPLES, 0)
    params = sim.SimulationParameters({n: torch.cat([central[n].expand(1), samples[n]]) for n in samples.names},
                                      actors=scenario.actors)
    return sim.simulate(params, scenario)


def _store_frame(db: Path, sql: str, args=()) -> pd.DataFrame:
    from pipelines import store

    with store.reader(db) as con:
        return con.execute(sql, list(args)).df()


# -- the store ---------------------------------------------------------------------------------------------------


def test_store_per_actor_tables_equal_the_trajectory(built, with_events):
    db = built["db"]
    traj = _reference(built["files"]["baseline"])
    eid = _store_frame(db, "SELECT ensemble_id FROM ensembles WHERE scenario = 'baseline'").ensemble_id.item()
    runs = _store_frame(db, "SELECT run_id, sample_index FROM runs WHERE ensemble_id = ?", [eid])
    sample_of = dict(zip(runs.run_id, runs.sample_index + 1))  # trajectory row: central = 0

    actors = _store_frame(db, "SELECT actor, kind, owner FROM actors WHERE ensemble_id = ? ORDER BY rowid", [eid])
    expected = traj.actor_list_dataframe()
    assert list(actors.actor) == ["us", "prc", "row", "us_frontier", "prc_frontier", "row_frontier"]
    assert list(actors.kind) == list(expected.kind)
    assert list(actors.owner.fillna("")) == list(expected.owner)

    # actor_trajectories: the trajectory's per-actor series on the yearly grid the store keeps
    stored = _store_frame(db, "SELECT * FROM actor_trajectories WHERE ensemble_id = ?", [eid])
    stored["row"] = stored.run_id.map(sample_of)
    years = traj.years.numpy()
    every = int(round(1.0 / float(years[1] - years[0])))
    mine = traj.actors_dataframe(every=every).rename(columns={"sample": "row"})
    assert set(stored.metric) == set(traj.actor_series) and len(stored) == len(mine)
    merged = mine.merge(stored, on=["row", "year", "actor", "metric"], suffixes=("", "_db"), validate="1:1")
    assert len(merged) == len(mine) and (merged.kind == merged.kind_db).all()
    both = merged.value.notna()
    assert (both == merged.value_db.notna()).all()
    # the same simulation, chunked the same way: equal to the bit
    np.testing.assert_array_equal(merged.value[both].to_numpy(), merged.value_db[both].to_numpy())

    # actor_quantiles: DuckDB's quantiles over the Monte Carlo runs (central run excluded) of each series
    aq = _store_frame(db, "SELECT * FROM actor_quantiles WHERE ensemble_id = ?", [eid])
    values = traj.actor_metric("progress_ooms", "prc_frontier")[1:].numpy()  # [SAMPLES, T]
    k = list(years).index(2029.0)
    row = aq[(aq.actor == "prc_frontier") & (aq.metric == "progress_ooms") & (aq.year == 2029.0)].iloc[0]
    assert row.n == SAMPLES
    for q in (5, 50, 95):
        assert row[f"p{q}"] == pytest.approx(np.percentile(values[:, k], q), rel=1e-12)
    assert row["mean"] == pytest.approx(values[:, k].mean(), rel=1e-12)

    # project_milestones: each project's milestone years
    pm = _store_frame(db, "SELECT * FROM project_milestones WHERE ensemble_id = ?", [eid])
    pm["row"] = pm.run_id.map(sample_of)
    ref = traj.actor_milestones_dataframe().rename(columns={"sample": "row"})
    merged = ref.merge(pm, on=["row", "actor", "milestone"], suffixes=("", "_db"), validate="1:1")
    assert len(merged) == len(ref) == len(pm) > 0
    assert (merged.year.isna() == merged.year_db.isna()).all()
    assert np.array_equal(merged.year.dropna().to_numpy(), merged.year_db.dropna().to_numpy())

    # events: every firing, the world's with a NULL actor
    ev = _store_frame(db, "SELECT * FROM events WHERE ensemble_id = ?", [eid])
    ev["row"] = ev.run_id.map(sample_of)
    ref = traj.events_dataframe()
    assert len(ev) == len(ref) > 0
    assert set(ev.event) == {"test_year", "test_tick"}
    assert ev[ev.event == "test_tick"].actor.isna().all()
    assert set(ev[ev.event == "test_year"].actor) == {"us_frontier"}
    key = ["row", "event", "year"]
    got = ev.sort_values(key)[key].reset_index(drop=True)
    want = ref.rename(columns={"sample": "row"}).sort_values(key)[key].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    ticks = ev[ev.event == "test_tick"].groupby("row").size()
    assert (ticks == END_YEAR - 2024).all()  # 2024.5 .. 2030.5, once a year: the event fires again
    # the one-project world keeps its own actors
    one = _store_frame(db, "SELECT a.actor, a.owner FROM actors a JOIN ensembles e USING (ensemble_id) "
                           "WHERE e.scenario = 'aifm_eli'")
    assert list(one.actor) == ["us", "leading"] and one.owner.iloc[1] == "us"


def test_old_store_and_old_staging_files_migrate(built, tmp_path, with_events):
    """A store and a staging file written before the per-actor tables existed."""
    from pipelines import EnsembleRequest, run_ensembles, store
    from pipelines.staging import Staging

    old = tmp_path / "store" / "old.duckdb"
    old.parent.mkdir()
    shutil.copyfile(built["db"], old)
    con = duckdb.connect(str(old))
    for table in ("actors", "actor_trajectories", "actor_quantiles", "project_milestones", "events"):
        con.execute(f"DROP TABLE {table}")
    con.execute("UPDATE store_info SET value = '1' WHERE key = 'schema_version'")
    con.close()
    # an old staging file of another ensemble: no schema_version in its _meta -> recomputed, not resumed
    path = tmp_path / "other.csv"
    path.write_text(built["files"]["aifm_eli"].read_text().replace("aifm_eli", "other"))
    shutil.copyfile(built["files"]["aifm_eli"].with_name("aifm_eli.actors.csv"), tmp_path / "other.actors.csv")
    [result] = run_ensembles([EnsembleRequest(str(path), 4, seed=1)], old, progress=False, chunk_size=4)
    assert result.action == "computed"
    with store.reader(old) as con:
        assert con.execute("SELECT value FROM store_info WHERE key = 'schema_version'").fetchone()[0] == "2"
        per = dict(con.execute("SELECT e.scenario, count(a.actor) FROM ensembles e LEFT JOIN actors a "
                               "USING (ensemble_id) GROUP BY 1").fetchall())
    assert per == {"baseline": 0, "aifm_eli": 0, "other": 2}  # old ensembles have no per-actor rows; new ones do
    staging = Staging(tmp_path / "stage.duckdb", {"ensemble_id": "0123456789abcdef", "x": 1})
    staging.con.execute("DELETE FROM _meta WHERE key = 'schema_version'")
    staging.con.execute("INSERT INTO _chunks (start_index, stop_index, seconds) VALUES (-1, 3, 0)")
    staging.close()
    again = Staging(tmp_path / "stage.duckdb", {"ensemble_id": "0123456789abcdef", "x": 1})
    assert len(again.done_indices()) == 0  # discarded: its chunks lack the per-actor tables
    again.close()


# -- README example queries ----------------------------------------------------------------------------------------


def _readme_queries() -> list[tuple[str, str]]:
    """(file, statement) of every SQL block in README.md and pipelines/README.md, plus `pipelines sql "..."` lines."""
    out = []
    for name in ("README.md", "pipelines/README.md"):
        text = (ROOT / name).read_text()
        for block in re.findall(r"```sql\n(.*?)```", text, flags=re.S):
            for statement in duckdb.extract_statements(block):
                out.append((name, statement.query.strip()))
        for line in re.findall(r'pipelines sql "([^"]+)"', text):
            if line.split()[0].upper() in ("SELECT", "WITH"):  # not the `sql "..."` of the command table
                out.append((name, line))
    return out


def test_readme_queries_are_found():
    queries = _readme_queries()
    assert len(queries) >= 15
    assert any("actor_quantiles" in q for _, q in queries) and any("FROM events" in q for _, q in queries)


@pytest.mark.parametrize("where, sql", _readme_queries(), ids=lambda x: x[:60] if isinstance(x, str) else x)
def test_readme_query_runs_on_a_fresh_store(built, where, sql):
    frame = _store_frame(built["db"], sql)
    assert frame.shape[1] >= 1
    # queries on tables the test store fills must return rows (share_of_world_compute awaits the supply chain)
    if "share_of_world_compute" not in sql and "2040" not in sql and "AC" not in sql:
        assert len(frame) > 0, f"{where}: no rows from\n{sql}"


def test_readme_queries_pass_the_dashboard_sql_door(built):
    from dashboard import store

    for _, sql in _readme_queries():
        store.check_sql(sql)


# -- the CLI's JSON --------------------------------------------------------------------------------------------------


def _cli_json(capsys, *args) -> dict:
    from sim.cli import main

    assert main(["run", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


OLD_SAMPLE_KEYS = {"index", "status", "status_year", "milestones", "final", "takeoff", "run_metrics"}


def test_cli_json_per_actor_keys(capsys, with_events):
    import sim

    data = _cli_json(capsys, "--scenario", "baseline", "--samples", "4", "--seed", "3", "--end", "2030")
    scenario = sim.load_scenario("baseline")
    traj = sim.simulate(scenario.sample(4, 3).with_values(simulation__end_year=2030.0), scenario)
    # old keys as before
    assert set(data) == {"scenario", "seed", "n_samples", "summary", "samples"}
    assert {"milestones", "status", "takeoff_classes"} <= set(data["summary"])
    first = data["samples"][0]
    assert OLD_SAMPLE_KEYS <= set(first)
    assert set(first["final"]) == set(traj.series)
    assert first["final"]["progress_ooms"] == pytest.approx(float(traj.series["progress_ooms"][0, -1]), rel=1e-12)
    # per actor: kind, owner, final value of every per-actor metric
    assert set(first) - OLD_SAMPLE_KEYS == {"actors", "project_milestones", "events"}
    assert list(first["actors"]) == ["us", "prc", "row", "us_frontier", "prc_frontier", "row_frontier"]
    prc = first["actors"]["prc_frontier"]
    assert prc["kind"] == "project" and prc["owner"] == "prc"
    project_metrics = {n for n in traj.actor_series if traj.actor_kinds[n] == "project"}
    nation_metrics = {n for n in traj.actor_series if traj.actor_kinds[n] == "nation"}
    assert set(prc["final"]) == project_metrics and nation_metrics  # the supply chain records per nation
    for i, sample in enumerate(data["samples"]):
        for name in ("experiment_compute_h100e", "progress_ooms"):
            got = sample["actors"]["prc_frontier"]["final"][name]
            assert got == pytest.approx(float(traj.actor_metric(name, "prc_frontier")[i, -1]), rel=1e-12)
    us = first["actors"]["us"]
    assert us["kind"] == "nation" and set(us["final"]) == nation_metrics
    shares = [first["actors"][n]["final"]["share_of_world_compute"] for n in ("us", "prc", "row")]
    assert sum(shares) == pytest.approx(1.0, rel=1e-12)
    assert us["final"]["compute_stock_h100e"] == pytest.approx(
        float(traj.actor_metric("compute_stock_h100e", "us")[0, -1]), rel=1e-12)
    # project milestones: each project's years, null when not reached
    assert set(first["project_milestones"]) == {"us_frontier", "prc_frontier", "row_frontier"}
    ac = traj.actor_milestones["AC"][:, 0].numpy()
    for i, sample in enumerate(data["samples"]):
        got = sample["project_milestones"]["us_frontier"]["AC"]
        assert (got is None) == (not np.isfinite(ac[i])) and (got is None or got == pytest.approx(ac[i]))
    # events per sample, in time order
    test_events = [e for e in first["events"] if e["name"].startswith("test")]
    names = [(e["name"], e["actor"]) for e in test_events]
    assert names == [("test_tick", "")] * 4 + [("test_year", "us_frontier")] + [("test_tick", "")] * 2
    years = [e["year"] for e in test_events]
    assert years == sorted(years) and years[4] == pytest.approx(2027.75, abs=1e-9)
    assert years[:4] == pytest.approx([2024.5, 2025.5, 2026.5, 2027.5], abs=1e-3)
    # summary
    summary = data["summary"]
    # (the supply chain's own compute_wake_up may fire too)
    assert {k: v for k, v in summary["events"].items() if k.startswith("test")} == {"test_tick": 24,
                                                                                    "test_year[us_frontier]": 4}
    assert set(summary["events"]) <= {"test_tick", "test_year[us_frontier]", "compute_wake_up"}
    entry = summary["project_milestones"]["us_frontier"]["AC"]
    reached = ac[np.isfinite(ac)]
    assert entry["reached"] == len(reached) / 4
    assert entry["p50"] == (pytest.approx(float(np.median(reached))) if len(reached) else None)
    med = summary["actors"]["row_frontier"]["final_median"]["progress_ooms"]
    assert med == pytest.approx(float(np.median(traj.actor_metric("progress_ooms", "row_frontier")[:, -1])))


def test_cli_json_one_project_world(capsys):
    data = _cli_json(capsys, "--scenario", "aifm_eli", "--end", "2027")
    sample = data["samples"][0]
    assert list(sample["actors"]) == ["us", "leading"]
    assert sample["actors"]["leading"]["owner"] == "us"
    # (this module's test events are on) the world's ticks up to 2027; 2027.75 is after the end
    assert [(e["name"], e["actor"]) for e in sample["events"]] == [("test_tick", "")] * 3
    assert data["summary"]["events"] == {"test_tick": 3}
    assert list(data["summary"]["project_milestones"]) == ["leading"]


# -- dashboard pages -------------------------------------------------------------------------------------------------


@pytest.fixture
def store_path(built, tmp_path, monkeypatch) -> Path:
    db = tmp_path / "store" / "ai_futures.duckdb"
    db.parent.mkdir(parents=True)
    shutil.copyfile(built["db"], db)
    monkeypatch.setenv("AIFS_DB", str(db))
    return db


def _app(page=None, query=None):
    from tests.test_dashboard import app

    return app(page, query)


def _charts(at):
    from tests.test_dashboard import charts

    return charts(at)


def _texts(at):
    from tests.test_dashboard import texts

    return texts(at)


def test_fan_chart_actor_picker_switches_the_series(store_path):
    from dashboard import store

    at = _app("fan_charts", {"scenarios": "baseline", "metric": "progress_ooms"})
    picker = at.selectbox(key="actor")
    assert picker.value == store.WORLD  # the world (frontier) series by default
    assert picker.options[0].startswith("world") and any("prc_frontier (project of prc)" in o for o in picker.options)
    world = next(f for f in _charts(at)[0]["_frames"].values() if "p50" in f.columns)
    expected = store.quantiles(list(store.resolve(["baseline"]).values()), "progress_ooms")
    assert np.allclose(np.sort(world["p50"].unique()), np.sort(expected["p50"].unique()))
    picker.select("prc_frontier").run()
    assert not at.exception
    spec = _charts(at)[0]
    prc = next(f for f in spec["_frames"].values() if "p50" in f.columns)
    assert set(prc["scenario"]) == {"baseline · prc_frontier"}
    expected = store.actor_quantiles(list(store.resolve(["baseline"]).values()), "progress_ooms", "prc_frontier")
    assert np.allclose(np.sort(prc["p50"].unique()), np.sort(expected["p50"].unique()))
    assert not np.allclose(np.sort(prc["p50"].unique()), np.sort(world["p50"].unique()))
    assert "Actor: `prc_frontier`" in _texts(at)
    # a world-only metric has no picker
    at = _app("fan_charts", {"scenarios": "baseline", "metric": "gdp"})
    assert not [s for s in at.selectbox if s.key == "actor"]


def test_overview_compute_shares_note_when_absent_chart_when_present(store_path):
    at = _app()
    assert "no per-actor `share_of_world_compute` series" in _texts(at)
    assert not any("actor" in f.columns and "p50" in f.columns for s in _charts(at) for f in s["_frames"].values()
                   if "milestone" not in f.columns)
    # events: counts per year by event
    events = next(s for s in _charts(at) if any("firings" in f.columns for f in s["_frames"].values()))
    frame = next(f for f in events["_frames"].values() if "firings" in f.columns)
    assert set(frame["label"]) == {"test_tick", "test_year [us_frontier]", "test_year [leading]"}
    assert frame[frame.scenario == "baseline"]["firings"].sum() == SAMPLES * (1 + END_YEAR - 2024)
    # add the metric the supply chain will record: the chart appears, one bar per actor and scenario
    from dashboard import store

    store.release()  # the dashboard holds the file attached: write a copy and swap it in, as a publish does
    edited = store_path.with_name("edited.duckdb")
    shutil.copyfile(store_path, edited)
    con = duckdb.connect(str(edited))
    con.execute("""INSERT INTO actor_quantiles (ensemble_id, actor, metric, year, n, p10, p50, p90)
                   SELECT a.ensemble_id, a.actor, 'share_of_world_compute', 2030, 16, 0.1, 0.3, 0.5
                   FROM actors a""")
    con.close()
    edited.replace(store_path)
    at = _app()
    assert "no per-actor `share_of_world_compute`" not in _texts(at)
    shares = [f for s in _charts(at) for f in s["_frames"].values() if {"actor", "p50", "scenario"} <= set(f.columns)
              and "milestone" not in f.columns]
    assert len(shares) == 2  # nations and projects
    both = pd.concat(shares)
    assert set(both["actor"]) == {"us", "prc", "row", "us_frontier", "prc_frontier", "row_frontier", "leading"}
    assert set(both["scenario"]) == {"baseline", "aifm_eli"} and (both["p50"] == 0.3).all()


def test_parameters_page_groups_per_actor_parameters(store_path):
    at = _app("parameters", {"scenario": "baseline"})
    table = at.dataframe[0].value
    assert "actor" in table.columns
    assert set(table.loc[table["name"] == "compute.prc_frontier.relative_compute", "actor"]) == {"prc_frontier"}
    grid = next(d.value for d in at.dataframe if "template" in d.value.columns and "prc_frontier" in d.value.columns)
    assert {"compute.relative_compute", "software_rnd.initial_software_gap_ooms"} <= set(grid["template"])
    assert {"us", "prc", "row", "prc_frontier", "row_frontier"} <= set(grid.columns[2:])
    cell = grid.loc[grid["template"] == "compute.relative_compute", "prc_frontier"].item()
    assert cell.startswith("0.2 (")
    at = _app("parameters", {"scenario": "aifm_eli"})  # a one-project world: only its own actors
    grids = [d.value for d in at.dataframe if "template" in d.value.columns]
    assert all(set(g.columns[2:]) <= {"us", "leading"} for g in grids)

"""Dashboard tests: every page under ``streamlit.testing.v1.AppTest`` against a small store built through the
real pipeline, the SQL door's lock-down, and one end-to-end run in headless Debian chromium.

The store holds two scenarios (baseline and aifm_eli, each with a short horizon of its own, so it builds in
seconds and the pages meet scenarios that end in different years).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard" / "app.py")
SAMPLES = 24
END_YEAR = {"baseline": 2040, "aifm_eli": 2036}
CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.slow


# -- the store -----------------------------------------------------------------------------------------------------


def _scenario_file(directory: Path, name: str) -> Path:
    """A copy of a named scenario with a shorter horizon (same file name, so the same scenario name)."""
    text = (ROOT / "parameters" / "scenarios" / f"{name}.csv").read_text().rstrip("\n").splitlines()
    header_at = next(i for i, line in enumerate(text) if line and not line.lstrip().startswith("#"))
    columns = text[header_at].split(",")
    row = ["simulation.end_year", str(END_YEAR[name])] + [""] * (len(columns) - 2)
    path = directory / f"{name}.csv"
    path.write_text("\n".join(text + [",".join(row)]) + "\n")
    return path


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """The store build and the reruns simulate tiny batches: one intra-op thread is fastest.

    ``conftest.py`` sets two threads; on a shared two-core machine the second (spinning) thread makes
    these small batches up to ten times slower (measured: 10 s vs 90 s for the test store).
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def built_store(tmp_path_factory) -> Path:
    """Built once per session through ``pipelines.run_ensembles``; tests get copies of it."""
    from pipelines import EnsembleRequest, run_ensembles

    base = tmp_path_factory.mktemp("dashboard_store")
    scenarios = base / "scenarios"
    scenarios.mkdir()
    db = base / "store" / "ai_futures.duckdb"
    requests = [
        EnsembleRequest(str(_scenario_file(scenarios, name)), SAMPLES, seed=0)
        for name in ("baseline", "aifm_eli")
    ]
    results = run_ensembles(requests, db, progress=False, chunk_size=SAMPLES)
    assert all(r.action in ("computed", "resumed") for r in results), [(r.scenario, r.error) for r in results]
    return db


@pytest.fixture
def store_path(built_store, tmp_path, monkeypatch) -> Path:
    """A private copy of the store that the dashboard is pointed at (``$AIFS_DB``)."""
    db = tmp_path / "store" / "ai_futures.duckdb"
    db.parent.mkdir(parents=True)
    shutil.copyfile(built_store, db)
    monkeypatch.setenv("AIFS_DB", str(db))
    return db


def app(page: str | None = None, query: dict | None = None, timeout: float = 120):
    """Run the dashboard in AppTest, optionally switched to ``views/<page>.py`` with URL query parameters."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=timeout)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    if page:
        at.switch_page(f"views/{page}.py")
        at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def charts(at) -> list[dict]:
    """The Vega-Lite specs on the page, each with its data sets as frames under ``_frames``."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df as frame_of

    out = []
    for element in at.get("vega_lite_chart"):
        proto = element.proto
        spec = json.loads(proto.spec)
        frames = {dataset.name: frame_of(dataset.data.data) for dataset in proto.datasets}
        if proto.HasField("data") and proto.data.data:
            frames["_main"] = frame_of(proto.data.data)
        spec["_frames"] = frames
        out.append(spec)
    return out


def all_columns(spec: dict) -> set[str]:
    return set().union(*[set(f.columns) for f in spec["_frames"].values()]) if spec["_frames"] else set()


def texts(at) -> str:
    parts = [
        e.value
        for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "subheader")
        for e in getattr(at, kind)
    ]
    return "\n".join(str(p) for p in parts)


def titles(spec) -> list[str]:
    """Every axis title in a (possibly layered) spec."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "title" and isinstance(value, str):
                    found.append(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: v for k, v in spec.items() if k != "_frames"})
    return found


# -- store module ----------------------------------------------------------------------------------------------


def test_store_reads_what_the_pipeline_wrote(store_path):
    from dashboard import store

    assert store.store_state() == "ok"
    current = store.current_ensembles()
    assert list(current["scenario"]) == ["baseline", "aifm_eli"]
    assert (current["mc_runs"] == SAMPLES).all()
    ids = list(current["ensemble_id"])
    assert store.horizon_ends() == {ids[0]: END_YEAR["baseline"], ids[1]: END_YEAR["aifm_eli"]}
    assert store.horizon_end(ids[1:]) == END_YEAR["aifm_eli"] and store.horizon_end() == END_YEAR["baseline"]
    pct = store.milestone_percentiles(ids)
    assert dict(zip(pct["ensemble_id"], pct["end_year"])) == store.horizon_ends()
    # the fast query equals the plain definition: quantile_disc over every (run, milestone), unreached = +inf
    marks = ",".join("?" * len(ids))
    reference = store.query(
        f"""WITH r AS (SELECT run_id, ensemble_id FROM runs WHERE NOT is_central AND ensemble_id IN ({marks})),
                 names AS (SELECT DISTINCT milestone FROM milestones)
            SELECT r.ensemble_id, names.milestone, count(*) AS runs, count(m.year) FILTER (WHERE isfinite(m.year)) AS reached,
                   quantile_disc(CASE WHEN isfinite(m.year) THEN m.year ELSE 'infinity'::DOUBLE END,
                                 [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95]) AS q
            FROM r CROSS JOIN names
            LEFT JOIN milestones m ON m.run_id = r.run_id AND m.milestone = names.milestone GROUP BY 1, 2""",
        ids,
    )
    both = pct.merge(reference, on=["ensemble_id", "milestone"], suffixes=("", "_ref"))
    assert len(both) == len(pct) == len(reference)
    assert (both["runs"] == both["runs_ref"]).all() and (both["reached"] == both["reached_ref"]).all()
    for i, col in enumerate(("p5", "p10", "p25", "p50", "p75", "p90", "p95")):
        assert both[col].tolist() == [float(q[i]) for q in both["q"]], col
    assert {"AC", "ASI"} <= set(pct["milestone"]) and (pct["runs"] == SAMPLES).all()
    # percentiles over all runs: the median is finite exactly when at least half the runs reach it
    for row in pct.itertuples():
        assert math.isfinite(row.p50) == (row.share_reached >= 0.5 or math.isclose(row.share_reached, 0.5))
    cdf = store.milestone_cdf(ids)
    last = cdf.groupby(["ensemble_id", "milestone"])["cdf"].max()
    reached = pct.set_index(["ensemble_id", "milestone"])["share_reached"]
    for key, value in last.items():
        assert value == pytest.approx(reached[key])
    assert store.class_shares(ids).groupby("ensemble_id")["share"].sum().round(9).eq(1).all()
    sens = store.sensitivity(ids[0], "milestone", "AC")
    assert len(sens) >= 3
    # the tornado's statistics against an independent computation (scipy, pandas) from the raw tables
    from scipy import stats

    ac = store.query("""SELECT r.run_id, coalesce(CASE WHEN isfinite(m.year) THEN m.year END, ?) AS y
                        FROM runs r LEFT JOIN milestones m ON m.run_id = r.run_id AND m.milestone = 'AC'
                        WHERE r.ensemble_id = ? AND NOT r.is_central""", (store.horizon_end([ids[0]]), ids[0]))
    values = store.query("SELECT run_id, name, value FROM parameters WHERE ensemble_id = ?", (ids[0],))
    wide = values.pivot(index="run_id", columns="name", values="value").join(ac.set_index("run_id"), how="inner")
    for row in sens.itertuples():
        x, y = wide[row.name], wide["y"]
        assert row.spearman == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12), row.name
        pr = x.rank(method="min").sub(1).div(len(x) - 1)  # percent_rank
        # (NaN when ties leave a decile empty, e.g. a two-valued choice parameter)
        assert row.low == pytest.approx(y[pr <= 0.1].median(), abs=1e-9, nan_ok=True), row.name
        assert row.high == pytest.approx(y[pr >= 0.9].median(), abs=1e-9, nan_ok=True), row.name
    noise, spearman_noise = store.permutation_noise(wide["y"].to_numpy())
    assert (sens["noise"] == noise).all() and (sens["spearman_noise"] == spearman_noise).all()
    assert (sens["within_noise"] == ((sens["high"] - sens["low"]).abs() <= noise)).all()


def test_milestone_percentiles_agree_everywhere(store_path, tmp_path, capsys):
    """One definition of a milestone percentile: the CLI's summary (``python -m sim run --json``), the store's
    ``milestone_percentiles`` view (the SQL page's example query) and the dashboard's Milestones page agree
    exactly, and equal the inverse empirical CDF over all runs (numpy's ``inverted_cdf``, an independent
    implementation), unreached runs counted as later than any year."""
    import ast

    import numpy as np

    from dashboard import store
    from pipelines.store import QUANTILES
    from sim.cli import main as sim_main
    from sim.milestones import MILESTONE_PERCENTS

    assert tuple(QUANTILES) == MILESTONE_PERCENTS
    ids = dict(zip(store.current_ensembles()["scenario"], store.current_ensembles()["ensemble_id"]))
    page = store.milestone_percentiles(list(ids.values())).set_index(["ensemble_id", "milestone"])
    view = store.query("SELECT * FROM milestone_percentiles").set_index(["ensemble_id", "milestone"])
    # the SQL page's example query, read from the page's source (importing a page would run it)
    source = ast.parse((ROOT / "dashboard" / "views" / "sql.py").read_text())
    examples = next(ast.literal_eval(node.value) for node in source.body
                    if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "EXAMPLES")
    example = store.run_user_sql(examples["Milestone medians per scenario"]).frame
    years = store.query("""SELECT m.ensemble_id, m.milestone, m.year FROM milestones m JOIN runs r USING (run_id)
                           WHERE NOT r.is_central""")
    partial = 0  # milestones that some but not all runs reach: where the old definitions differed
    for name, eid in ids.items():
        capsys.readouterr()
        scenario = _scenario_file(tmp_path, name)
        assert sim_main(["run", "--scenario", str(scenario), "--samples", str(SAMPLES), "--seed", "0", "--json"]) == 0
        cli = json.loads(capsys.readouterr().out)["summary"]["milestones"]
        for milestone, entry in cli.items():
            got = years[(years.ensemble_id == eid) & (years.milestone == milestone)]["year"].to_numpy(float)
            assert len(got) == SAMPLES
            padded = np.where(np.isfinite(got), got, np.inf)
            row, vrow = page.loc[(eid, milestone)], view.loc[(eid, milestone)]
            assert entry["reached"] == row["share_reached"] == vrow["p_reached"] == np.isfinite(got).mean()
            partial += 0 < entry["reached"] < 1
            for p in QUANTILES:
                reference = float(np.percentile(padded, p, method="inverted_cdf"))
                shown = row[f"p{p}"]  # the page: inf = "> end year"
                stored = vrow[f"p{p}"]  # the view: NULL = not reached by the end year
                assert shown == (reference if math.isfinite(reference) else math.inf), (name, milestone, p)
                assert (stored == reference) if math.isfinite(reference) else pd.isna(stored), (name, milestone, p)
                if f"p{p}" in entry:  # the CLI reports p10, p50, p90 (None = not reached by the end year)
                    cli_value = entry[f"p{p}"]
                    # the CLI simulates the samples without the central run beside them: same years to 1e-9
                    assert (cli_value is None) if not math.isfinite(reference) else (
                        cli_value == pytest.approx(reference, abs=1e-9)), (name, milestone, p, cli_value)
            if milestone in ("AC", "ASI"):
                ex = example[(example.scenario == name) & (example.milestone == milestone)]
                median = vrow["p50"]
                assert (pd.isna(ex["median_year"].item()) if pd.isna(median)
                        else ex["median_year"].item() == round(median, 1))
    assert partial >= 2  # the store has milestones reached by some runs only (else the check would be weak)


def test_milestone_percentile_definition_by_hand():
    """k = max(1, ceil(p n / 100)) in integers: p70 of 10 runs is the 7th year (0.7 * 10 = 7.000000000000001)."""
    from sim.milestones import milestone_percentiles

    nan = float("nan")
    years = [2032.0, 2030.0, nan, 2031.0, nan]  # 3 of 5 runs reach it
    assert milestone_percentiles(years, (10, 20, 40, 50, 60, 70)) == {
        "p10": 2030.0, "p20": 2030.0, "p40": 2031.0, "p50": 2032.0, "p60": 2032.0, "p70": None, "reached": 0.6}
    ten = [2030.0 + i for i in range(10)]
    assert milestone_percentiles(ten, (70, 71, 100)) == {"p70": 2036.0, "p71": 2037.0, "p100": 2039.0, "reached": 1}
    assert milestone_percentiles([nan, nan], (50,)) == {"p50": None, "reached": 0.0}
    assert milestone_percentiles([], (50,)) == {"p50": None, "reached": 0.0}


def test_permutation_noise_matches_its_closed_forms():
    """For n = 1000 normal outcomes: the 95% band of |Spearman rho| under permutation is 1.96 / sqrt(n - 1)
    (measured within 1.4-5.8% over seeds, 400 permutations) and that of the decile-median difference
    1.96 sqrt(pi / k) sigma for deciles of k runs (measured within 0.8%)."""
    import numpy as np

    from dashboard import store

    n = 1000
    y = np.random.default_rng(5).normal(size=n)
    spread, rho = store.permutation_noise(y)
    k = int(np.sum(np.arange(n) / (n - 1) <= 0.1 + 1e-12))
    assert rho == pytest.approx(1.96 / math.sqrt(n - 1), rel=0.15)
    assert spread == pytest.approx(1.96 * math.sqrt(math.pi / k), rel=0.08)
    assert store.permutation_noise(y) == (spread, rho)  # seeded: the same store draws the same band
    assert all(math.isnan(v) for v in store.permutation_noise(y[:2]))


def test_connection_refuses_files_extensions_and_settings(store_path):
    """The locked-down connection itself (not only the page's statement filter) refuses every door out."""
    from dashboard import store

    outside = store_path.parent / "outside.csv"
    refused = {
        "read_csv": "SELECT * FROM read_csv('/etc/passwd')",
        "read_text": "SELECT * FROM read_text('/etc/passwd')",
        "glob": "SELECT * FROM glob('/etc/*')",
        "copy": f"COPY runs TO '{outside}'",
        "export": f"EXPORT DATABASE '{store_path.parent / 'exported'}'",
        "attach": f"ATTACH '{store_path.parent / 'other.duckdb'}' AS other",
        "install": "INSTALL httpfs",
        "load": "LOAD httpfs",
        "set": "SET threads = 1",
        "set_external": "SET enable_external_access = true",
        "reset": "RESET lock_configuration",
        "pragma": "PRAGMA threads = 1",
        "write": "CREATE TABLE store.evil AS SELECT 1",
        "delete": "DELETE FROM runs",
    }
    cur = store.connect()
    try:
        for name, sql in refused.items():
            with pytest.raises(duckdb.Error):
                cur.execute(sql).fetchall()
            assert not outside.exists(), name
        assert not (store_path.parent / "other.duckdb").exists()
        assert not (store_path.parent / "exported").exists()
        assert cur.execute("SELECT current_setting('enable_external_access')").fetchone()[0] is False
        assert cur.execute("SELECT count(*) FROM runs").fetchone()[0] == 2 * (SAMPLES + 1)
    finally:
        cur.close()


@pytest.mark.parametrize(
    "sql, error",
    [
        ("SELECT * FROM read_csv('/etc/passwd')", duckdb.PermissionException),
        ("SELECT * FROM read_text('/etc/passwd')", duckdb.PermissionException),
        ("COPY runs TO '/tmp/aifs_dashboard_leak.csv'", "SqlRefused"),
        ("ATTACH '/tmp/aifs_dashboard_other.duckdb' AS other", "SqlRefused"),
        ("INSTALL httpfs", "SqlRefused"),
        ("LOAD httpfs", "SqlRefused"),
        ("SET threads = 1", "SqlRefused"),
        ("CREATE TABLE t AS SELECT 1", "SqlRefused"),
        ("INSERT INTO runs SELECT * FROM runs", "SqlRefused"),
        ("DROP TABLE runs", "SqlRefused"),
        ("SELECT 1; DROP TABLE runs", "SqlRefused"),
        ("", "SqlRefused"),
    ],
)
def test_user_sql_refused(store_path, sql, error):
    from dashboard import store

    expected = store.SqlRefused if error == "SqlRefused" else error
    with pytest.raises(expected):
        store.run_user_sql(sql)
    assert not Path("/tmp/aifs_dashboard_leak.csv").exists()
    assert not Path("/tmp/aifs_dashboard_other.duckdb").exists()


def test_user_sql_row_limit_and_timeout(store_path):
    from dashboard import store
    from pipelines import sql as sql_door

    # one door: the SQL page uses the very functions `python -m pipelines sql` does (tests/test_pipelines.py)
    assert store.check_sql is sql_door.check_sql and store.LOCKDOWN is sql_door.LOCKDOWN
    assert store.SqlRefused is sql_door.SqlRefused

    result = store.run_user_sql("SELECT * FROM trajectories", limit=7)
    assert len(result.frame) == 7 and result.truncated
    result = store.run_user_sql("SELECT count(*) AS n FROM runs", limit=7)
    assert not result.truncated and int(result.frame["n"][0]) == 2 * (SAMPLES + 1)
    with pytest.raises(TimeoutError, match="longer than 0.5 s"):  # hours of work otherwise (no timing here)
        store.run_user_sql("SELECT count(*) FROM range(1000000000000) a", timeout_s=0.5)


def test_publish_is_seen_without_restart(store_path):
    """The pipelines swap in a new file on publish; the dashboard's cached connection follows it."""
    from dashboard import store

    before = set(store.ensembles()["ensemble_id"])
    con = duckdb.connect(str(store_path.with_name("next.duckdb")))
    con.execute(f"ATTACH '{store_path}' AS old (READ_ONLY)")
    con.execute("COPY FROM DATABASE old TO next")
    con.execute("UPDATE ensembles SET ensemble_id = ensemble_id || '-2', kind = 'user'")
    con.execute("DETACH old")
    con.close()
    os.replace(store_path.with_name("next.duckdb"), store_path)
    after = set(store.ensembles()["ensemble_id"])
    assert after != before and all(e.endswith("-2") for e in after)


def test_chart_builders_make_valid_vega_lite(store_path):
    """The app skips Altair's schema validation on every rerun (it is slow), so validate every builder here."""
    from dashboard import charts, meta, store

    ids = dict(zip(store.current_ensembles()["scenario"], store.current_ensembles()["ensemble_id"]))
    label_of = {v: k for k, v in ids.items()}
    bands = store.quantiles(list(ids.values()), "gdp").assign(
        scenario=lambda f: f["ensemble_id"].map(label_of)
    )
    samples = store.sample_trajectories(ids["baseline"], "gdp", 3).assign(
        scenario="baseline", run=lambda f: f["sample_index"]
    )
    cdf = store.milestone_cdf(list(ids.values())).assign(scenario=lambda f: f["ensemble_id"].map(label_of))
    hist = cdf.assign(bin_start=cdf["year"] - 1, bin_end=cdf["year"], share=0.1)
    prob = store.milestone_by_year(list(ids.values()), 2035).assign(
        scenario=lambda f: f["ensemble_id"].map(label_of)
    )
    pct = store.milestone_percentiles(list(ids.values())).assign(
        scenario=lambda f: f["ensemble_id"].map(label_of)
    )
    pct["p90_shown"] = pct["p90"].where(pct["p90"] < float("inf"), pct["end_year"])
    shares = store.class_shares(list(ids.values())).assign(scenario=lambda f: f["ensemble_id"].map(label_of))
    params = store.sampled_parameters(ids["baseline"])[:2]
    runs = store.runs_with_parameters(ids["baseline"], params)
    sens = store.sensitivity(ids["baseline"], "milestone", "AC")
    built = [
        charts.fan_chart(bands, meta.metric("gdp"), True, samples, order=list(ids)),
        charts.fan_chart(bands, meta.metric("gdp"), False),
        charts.cdf_chart(cdf, "AC", 2040.0, order=list(ids)),
        charts.cdf_chart(cdf, "AC", {"baseline": 2040.0, "aifm_eli": 2036.0}, order=list(ids), x_max=2038.0),
        charts.histogram(hist, "AC", order=list(ids)),
        charts.probability_bars(prob, 2035, order=list(ids)),
        charts.milestone_dots(pct, store.milestone_names(), list(ids)),
        charts.milestone_dots(pct, store.milestone_names(), list(ids), x_max=2038.0),
        charts.class_share_chart(
            shares, "growth_class", "growth", store.CLASS_ORDER["growth_class"], list(ids)
        ),
        charts.class_share_chart(
            shares, "wages_class", "wages", store.CLASS_ORDER["wages_class"], list(ids), labels=False
        ),
        charts.class_scatter(
            runs, params[0], params[1], "growth_class", "x", "y", store.CLASS_ORDER["growth_class"]
        ),
        charts.tornado(sens, "AC year", "yr", is_year=True),
    ]
    for chart in built:
        chart.to_dict(validate=True)  # raises on an invalid spec
    # every class symbol has a colour of its own within its dimension (wages "->0" is not wages "I")
    for column, order in store.CLASS_ORDER.items():
        colours = charts.class_colors(column, order)
        assert len(set(colours)) == len(order), column
    assert len(set(charts.palette(16))) == 16


# -- pages ------------------------------------------------------------------------------------------------------


def test_overview(store_path):
    at = app()
    text = texts(at)
    assert "AI futures" in text
    frame = at.dataframe[0].value
    assert list(frame["scenario"]) == ["baseline", "aifm_eli"]
    assert {"runs", "computed (UTC)", "model", "freshness"} <= set(frame.columns)
    assert any(c.startswith("AC median") for c in frame.columns)
    specs = charts(at)
    assert len(specs) >= 2
    assert any({"p10", "p50", "p90", "milestone", "scenario"} <= all_columns(s) for s in specs)
    assert any({"growth_class", "share", "scenario"} <= all_columns(s) for s in specs)
    assert len(at.get("download_button")) >= 3


def test_fan_chart_bands_units_log_and_samples(store_path):
    from dashboard import meta

    at = app(
        "fan_charts",
        {"scenarios": ["baseline", "aifm_eli"], "metric": "time_horizon_minutes", "samples": "3"},
    )
    assert at.multiselect(key="scenarios").value == ["baseline", "aifm_eli"]
    assert at.selectbox(key="metric").value == "time_horizon_minutes"
    spec = charts(at)[0]
    cols = all_columns(spec)
    assert {"scenario", "year", "lo", "hi", "band", "p5", "p10", "p25", "p50", "p75", "p90", "p95"} <= cols
    bands = next(f for f in spec["_frames"].values() if "band" in f.columns)
    assert set(bands["band"]) == {"5–95%", "10–90%", "25–75%"}
    assert set(bands["scenario"]) == {"baseline", "aifm_eli"}
    samples = next(f for f in spec["_frames"].values() if "run" in f.columns)
    assert samples["run"].nunique() == 6  # three runs per scenario
    unit = meta.metric("time_horizon_minutes").unit
    assert unit and any(unit in t and "log scale" in t for t in titles(spec))
    assert '"type": "log"' in json.dumps(spec["layer"][0]["encoding"]["y"]["scale"]).replace("'", '"')
    # a log axis over many powers of ten can be narrowed; the chart's y domain follows
    ranges = [w for w in at.select_slider if w.key.startswith("yrange_")]
    assert len(ranges) == 1  # the time horizon's bands span far more than six powers of ten
    # by default it stops at 10x the 90th percentile of the AC time horizon (the climb to AC), not at
    # the ~1e100+ the diverging horizon reaches after AC; the control still reaches the top
    from dashboard import store

    tops = [float(store.parameter_specs(e).set_index("name").loc["software_rnd.ac_time_horizon_minutes", "p90"])
            for e in ui_ids(["baseline", "aifm_eli"])]
    lo, hi = ranges[0].value
    assert hi == math.ceil(math.log10(max(tops))) + 1 and lo + len(ranges[0].options) - 1 > hi + 10
    y_scale = spec["layer"][0]["encoding"]["y"]["scale"]
    assert y_scale["domain"] == [pytest.approx(10.0**lo), pytest.approx(10.0**hi)]
    assert "Default range: up to 10× the 90th percentile" in texts(at)
    ranges[0].set_range(lo, lo + 3).run()
    y_scale = charts(at)[0]["layer"][0]["encoding"]["y"]["scale"]
    assert y_scale["domain"] == [pytest.approx(10.0**lo), pytest.approx(10.0 ** (lo + 3))]
    # linear on request
    at = app("fan_charts", {"scenarios": "baseline", "metric": "time_horizon_minutes", "scale": "linear"})
    spec = charts(at)[0]
    assert spec["layer"][0]["encoding"]["y"]["scale"].get("type") != "log"
    labels = [b.label for b in at.get("download_button")]
    assert any("bands" in label.lower() for label in labels)


def ui_ids(scenarios: list[str]) -> list[str]:
    from dashboard import store

    known = dict(zip(store.current_ensembles()["scenario"], store.current_ensembles()["ensemble_id"]))
    return [known[s] for s in scenarios]


def test_bad_links_fall_back_without_errors(store_path):
    """Hand-edited or stale links (unknown scenario, metric, milestone, year out of range) do not break a page."""
    at = app("fan_charts", {"scenarios": ["no_such_scenario", "baseline"], "metric": "no_such_metric"})
    assert at.multiselect(key="scenarios").value == ["baseline"]
    assert at.selectbox(key="metric").value in {"time_horizon_minutes", "effective_compute_ooms", "gdp"}
    assert charts(at)
    at = app("fan_charts", {"scenarios": "no_such_scenario"})  # only unknown names: the default scenario
    assert at.multiselect(key="scenarios").value == ["baseline"] and len(charts(at)) == 1
    assert "Pick at least one scenario." not in texts(at)
    at = app("milestones", {"milestone": "no_such_milestone", "by_year": "3000"})
    assert charts(at)
    at = app("parameters", {"scenario": "nope", "outcome": "nope"})
    assert at.dataframe[0].value["name"].notna().all()
    at = app("takeoff", {"class_scenario": "nope", "class_x": "nope", "class_by": "nope"})
    assert charts(at)


def test_milestones(store_path):
    at = app("milestones", {"scenarios": ["baseline", "aifm_eli"], "milestone": "AC", "by_year": "2032"})
    specs = charts(at)
    assert any({"scenario", "year", "cdf"} <= all_columns(s) for s in specs)
    assert any({"scenario", "bin_start", "bin_end", "share"} <= all_columns(s) for s in specs)
    assert any({"scenario", "milestone", "probability"} <= all_columns(s) for s in specs)
    pct = at.dataframe[0].value
    assert {"milestone", "scenario", "simulated to", "p5", "p50", "p95"} <= set(pct.columns)
    assert set(pct["scenario"]) == {"baseline", "aifm_eli"}
    # "not reached" is relative to each scenario's own horizon
    ends = dict(zip(pct["scenario"], pct["simulated to"]))
    assert ends == {"baseline": 2040, "aifm_eli": 2036}
    for row in pct.itertuples():
        later = [v for v in (row.p5, row.p50, row.p95) if str(v).startswith(">")]
        assert all(v == f">{ends[row.scenario]}" for v in later)
    assert "Probability of each milestone by 2032" in texts(at)


def test_takeoff_classes_table_scatter_and_drilldown(store_path):
    at = app("takeoff")
    table = at.dataframe[0].value
    assert {"growth", "labor share", "wages", "baseline", "aifm_eli"} <= set(table.columns)
    assert table["baseline"].sum() == pytest.approx(1.0)
    specs = charts(at)
    assert any({"x", "y", "cls", "sample"} <= all_columns(s) for s in specs)  # class by two parameters
    assert sum("growth_class" in all_columns(s) for s in specs) >= 1
    growth = at.selectbox(key="drill_growth_class")
    some_class = growth.options[1]
    growth.select(some_class).run()
    runs = at.dataframe[1].value
    assert len(runs) >= 1 and set(runs["growth_class"]) == {some_class}


def test_parameters_table_and_tornado(store_path):
    at = app("parameters", {"scenario": "aifm_eli", "outcome": "AC year"})
    table = at.dataframe[0].value
    assert {"name", "value", "unit", "distribution", "source", "updater"} <= set(table.columns)
    assert table["name"].str.startswith("software_rnd.").any()
    # every parameter module is read by a part of the simulator (takeoff.* by sim.takeoff)
    assert table["updater"].str.startswith("sim.").all(), set(table["updater"])
    assert set(table.loc[table["name"].str.startswith("takeoff."), "updater"]) == {"sim.takeoff"}
    tornado = next(s for s in charts(at) if "low" in all_columns(s))
    assert {"name", "low", "high", "spearman", "within_noise"} <= all_columns(tornado)
    # the permutation band is drawn and named; bars within it are drawn faint
    assert any("noise" in all_columns(s) for s in [tornado]) and "Grey band: sampling noise" in texts(at)
    assert "datum.within_noise" in json.dumps({k: v for k, v in tornado.items() if k != "_frames"})
    at.text_input(key="filter").input("doubling").run()
    assert at.dataframe[0].value["name"].str.contains("doubling").all()


def test_sql_page_runs_selects_and_refuses_writes(store_path):
    at = app("sql", {"q": "SELECT scenario, count(*) AS n FROM ensembles GROUP BY 1 ORDER BY 1"})
    result = at.dataframe[0].value
    assert list(result["scenario"]) == ["aifm_eli", "baseline"]
    assert any("ensembles" in e.label for e in at.expander)  # schema beside the box
    at.text_area(key="q").input("DROP TABLE runs")
    at.button[0].click().run()
    assert any("Refused" in e.value for e in at.error)
    at.text_area(key="q").input("SELECT * FROM read_csv('/etc/passwd')")
    at.button[0].click().run()
    assert any("Permission" in e.value for e in at.error)
    at.text_area(key="q").input("SELECT * FROM runs")
    at.number_input(key="limit").set_value(5)
    at.button[0].click().run()
    assert len(at.dataframe[0].value) == 5 and "row limit" in texts(at)


def test_rerun_refuses_bad_input_next_to_the_field(store_path):
    at = app(
        "rerun",
        {"n": "3", "set": ["software_rnd.no_such_parameter:1", "software_rnd.present_doubling_time:abc"]},
    )
    messages = [e.value for e in at.error]
    assert any("Samples must be" in m for m in messages)
    assert any("no_such_parameter" in m for m in messages)
    assert any("present_doubling_time" in m and "not a number" in m for m in messages)
    assert at.button(key="run").disabled


def test_rerun_runs_in_background_stores_user_ensemble_and_caches(store_path):
    from dashboard import jobs, store

    at = app("rerun", {"n": "12", "set": "software_rnd.present_doubling_time:0.3"})
    assert not at.error, [e.value for e in at.error]
    key = "p:baseline:software_rnd.present_doubling_time"
    slider = next(w for w in [*at.slider, *at.select_slider] if w.key == key)
    assert slider.value == pytest.approx(0.3)
    at.button(key="run").click().run()
    key = at.session_state["rerun_job"]
    job = jobs.board().wait(key, timeout=900)
    assert job.state == "done", job.error
    at.run()
    assert not at.exception
    assert any("ready" in s.value for s in at.success)
    users = store.user_ensembles()
    assert job.ensemble_id in set(users["ensemble_id"])
    row = users.set_index("ensemble_id").loc[job.ensemble_id]
    assert row["kind"] == "user" and json.loads(row["overrides"]) == {
        "software_rnd.present_doubling_time": 0.3
    }
    spec = next(s for s in charts(at) if "band" in all_columns(s))
    assert {"baseline (stored)", "your rerun"} == set(
        next(f for f in spec["_frames"].values() if "band" in f)["scenario"]
    )
    # the identical request is a cache hit: same job, no new ensemble
    at.button(key="run").click().run()
    assert at.session_state["rerun_job"] == key and at.session_state["rerun_cached"]
    assert len(store.user_ensembles()) == len(users)


def test_empty_store_shows_instructions_and_builds_a_demo(tmp_path, monkeypatch, built_store):
    from dashboard import ui

    db = tmp_path / "nothing" / "ai_futures.duckdb"
    monkeypatch.setenv("AIFS_DB", str(db))
    for page in (None, "fan_charts", "sql", "rerun"):
        at = app(page)
        assert "No simulation results yet" in texts(at)
        assert any(b.label == "Build a small demo store" for b in at.button)

    def fake_build(on_progress=None):  # the real builder simulates every scenario; here, the test store
        if on_progress:
            on_progress(1, 2)
        db.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built_store, db)

    # a file that is not a DuckDB store (an aborted copy, a wrong path): say so and what to do, no traceback
    junk = tmp_path / "junk" / "ai_futures.duckdb"
    junk.parent.mkdir()
    junk.write_text("not a database")
    monkeypatch.setenv("AIFS_DB", str(junk))
    at = app("fan_charts")
    assert any("is not a store this dashboard can read" in e.value for e in at.error)
    assert "mv " in texts(at)
    monkeypatch.setenv("AIFS_DB", str(db))

    monkeypatch.setattr(ui, "_build_demo", fake_build)
    at = app()
    next(b for b in at.button if b.label == "Build a small demo store").click().run()
    assert not at.exception
    assert at.dataframe and list(at.dataframe[0].value["scenario"]) == ["baseline", "aifm_eli"]


# -- the browser ---------------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_end_to_end_in_chromium(store_path, monkeypatch):
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"Debian chromium is not installed at {CHROMIUM} (apt-get install chromium chromium-driver)"
        )
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the server's 10-sample rerun: one torch thread is fastest
    sys.path.insert(0, str(ROOT / "scripts"))
    import screenshots

    with (
        screenshots.serve(store_path, screenshots.free_port(), store_path.parent / "streamlit.log") as url,
        screenshots.browser() as context,
    ):
        page = context.new_page()
        page.goto(f"{url}/fan-charts?scenarios=baseline&scenarios=aifm_eli&metric=time_horizon_minutes")
        screenshots.wait_rendered(page)
        chart = page.locator("[data-testid='stVegaLiteChart']").first
        chart.wait_for(timeout=60_000)
        marks = chart.locator("canvas, svg")
        assert marks.count() >= 1
        assert chart.bounding_box()["height"] > 200
        # drawn with data: the canvas has many painted pixels (or the svg many paths)
        painted = marks.first.evaluate(
            """(el) => {
                if (el.tagName.toLowerCase() === 'canvas') {
                    const d = el.getContext('2d').getImageData(0, 0, el.width, el.height).data;
                    let n = 0;
                    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
                    return n / (el.width * el.height);
                }
                return el.querySelectorAll('path').length;
            }"""
        )
        assert painted > 0.05, painted
        assert page.locator("[data-testid='stException']").count() == 0

        page.goto(f"{url}/rerun?n=10&set=software_rnd.present_doubling_time:0.35")
        screenshots.wait_rendered(page)
        page.get_by_role("button", name="Run", exact=True).click()
        page.get_by_text("ready", exact=False).first.wait_for(timeout=600_000)
        screenshots.wait_rendered(page)
        assert page.locator("[data-testid='stException']").count() == 0
        assert "ensemble=" in page.url
        assert page.get_by_text("your rerun").count() >= 1

    from dashboard import store

    users = store.user_ensembles()
    assert len(users) == 1 and int(users["mc_runs"].iloc[0]) == 10
    assert isinstance(users, pd.DataFrame)

"""The dashboard's Policy page under ``streamlit.testing.v1.AppTest`` on a small store built through the real
pipeline (us_prc_cap_2028 and no_agreement, 16 samples each, to 2033): the numbers it draws equal what SQL on the
store's tables gives, phase shares add up to 1, detection probabilities never fall; a store without a policy
scenario gets a note."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard" / "app.py")
SAMPLES, END_YEAR = 16, 2033
PHASES = ["none", "negotiating", "signed", "in_force", "collapsed"]

pytestmark = pytest.mark.slow  # builds a store (about 10 s on one core)


def _scenario_file(directory: Path, name: str) -> Path:
    """A copy of a named scenario (and its companion files) ending in END_YEAR."""
    source = ROOT / "parameters" / "scenarios"
    for suffix in (".actors.csv", ".policies.csv"):
        if (source / f"{name}{suffix}").exists():
            shutil.copyfile(source / f"{name}{suffix}", directory / f"{name}{suffix}")
    text = (source / f"{name}.csv").read_text().rstrip("\n").splitlines()
    header_at = next(i for i, line in enumerate(text) if line and not line.lstrip().startswith("#"))
    row = ["simulation.end_year", str(END_YEAR)] + [""] * (len(text[header_at].split(",")) - 2)
    path = directory / f"{name}.csv"
    path.write_text("\n".join(text + [",".join(row)]) + "\n")
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    import torch

    from pipelines import EnsembleRequest, run_ensembles

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches: one intra-op thread is fastest (see test_dashboard.py)
    try:
        base = tmp_path_factory.mktemp("policy_store")
        (base / "scenarios").mkdir()
        db = base / "store" / "ai_futures.duckdb"
        requests = [EnsembleRequest(str(_scenario_file(base / "scenarios", n)), SAMPLES, seed=0)
                    for n in ("no_agreement", "us_prc_cap_2028")]
        results = run_ensembles(requests, db, progress=False, chunk_size=SAMPLES)
        assert all(r.action == "computed" for r in results), [(r.scenario, r.error) for r in results]
    finally:
        torch.set_num_threads(threads)
    return db


@pytest.fixture
def store_path(built, tmp_path, monkeypatch) -> Path:
    db = tmp_path / "ai_futures.duckdb"
    shutil.copyfile(built, db)
    monkeypatch.setenv("AIFS_DB", str(db))
    return db


def _page(query: dict | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    at.switch_page("views/policy.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _frames(at) -> list[pd.DataFrame]:
    """The data frames of every chart on the page (each chart's first data set holding rows)."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df as frame_of

    out = []
    for element in at.get("vega_lite_chart"):
        proto = element.proto
        frames = [frame_of(d.data.data) for d in proto.datasets] + (
            [frame_of(proto.data.data)] if proto.HasField("data") and proto.data.data else [])
        json.loads(proto.spec)
        out.append(pd.concat([f for f in frames if len(f)], ignore_index=True) if frames else pd.DataFrame())
    return out


def _sql(db: Path, sql: str, args=()) -> pd.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(args)).df()


def _mc_runs(db: Path, scenario: str) -> pd.DataFrame:
    return _sql(db, """SELECT r.run_id, r.sample_index FROM runs r JOIN ensembles e USING (ensemble_id)
                       WHERE e.scenario = ? AND NOT r.is_central""", [scenario])


def test_policy_page_numbers_equal_the_store(store_path):
    at = _page()
    assert [s.value for s in at.subheader][:2] == ["Agreement phases: share of runs in each phase by year",
                                                   "P(hidden project detected by year)"]
    frames = _frames(at)
    phase = next(f for f in frames if "phase" in f.columns)
    detect = next(f for f in frames if "cdf" in f.columns)
    stock = next(f for f in frames if "band" in f.columns or {"p5", "p95"} <= set(f.columns))
    shares = next(f for f in frames if "actor" in f.columns and "p50" in f.columns and "milestone" not in f.columns)
    dots = next(f for f in frames if "milestone" in f.columns)

    # (a) phases: shares add up to 1 per year; equal the phase each run entered last (events table, by hand)
    assert sum("phase" in f.columns for f in frames) == 1  # one agreement (us_prc) in one scenario
    assert "**us_prc_cap_2028**: agreement `us_prc`" in [m.value for m in at.markdown]
    assert np.allclose(phase.groupby("year")["share"].sum(), 1.0, rtol=0, atol=1e-12)
    runs = _mc_runs(store_path, "us_prc_cap_2028")
    ev = _sql(store_path, "SELECT run_id, event, year FROM events WHERE event LIKE 'agreement_%'")
    ev = ev[ev["run_id"].isin(runs["run_id"])]
    for year in (2026.75, 2027.0, 2027.5, 2028.0, 2030.0, 2032.5):
        entered = ev[ev["year"] <= year].assign(k=lambda f: f["event"].str.removeprefix("agreement_").map(PHASES.index).astype(float))
        k = entered.groupby("run_id")["k"].max().reindex(runs["run_id"]).astype(float).fillna(0).astype(int)
        expected = k.map(lambda i: PHASES[i]).value_counts(normalize=True)
        got = phase[phase["year"] == year].set_index("phase")["share"]
        for name in PHASES:
            assert got[name] == pytest.approx(expected.get(name, 0.0), abs=1e-12), (year, name)
    at_2028 = phase[phase["year"] == 2028.0].set_index("phase")["share"]
    assert at_2028["in_force"] + at_2028["collapsed"] == pytest.approx(1.0)  # in force from 2028 in every run

    # (b) P(detected by year): non-decreasing, equal to the covert_detected events over the runs
    for label, part in detect.groupby("scenario"):
        assert bool((np.diff(part.sort_values("year")["cdf"].to_numpy()) >= -1e-15).all()), label
    capped = detect[detect["scenario"] == "us_prc_cap_2028 · prc_covert"].set_index("year")["cdf"]
    det = _sql(store_path, "SELECT run_id, min(year) AS year FROM events WHERE event = 'covert_detected' GROUP BY 1")
    det = det[det["run_id"].isin(runs["run_id"])]
    for year in (2029.0, 2030.0, 2031.0, 2033.0):
        assert capped[year] == pytest.approx((det["year"] <= year).sum() / len(runs), abs=1e-12)
    assert 0 < capped[2033.0] <= 1
    assert (detect[detect["scenario"] == "no_agreement · prc_covert"]["cdf"] == 0).all()  # nothing diverted

    # (c) covert stock fan: the actor_quantiles medians of the hidden project
    q = _sql(store_path, """SELECT q.year, q.p50 FROM actor_quantiles q JOIN ensembles e USING (ensemble_id)
                            WHERE e.scenario = 'us_prc_cap_2028' AND q.actor = 'prc_covert'
                              AND q.metric = 'covert_stock_h100e' ORDER BY 1""")
    drawn = stock.dropna(subset=["p50"]).drop_duplicates("year").set_index("year")["p50"] if "p50" in stock else None
    assert drawn is not None and np.allclose(drawn.reindex(q["year"]).to_numpy(), q["p50"].to_numpy(), rtol=1e-12)
    assert float(q["p50"].max()) > 0

    # (d) nations' shares of world compute: medians from actor_quantiles, nations only
    assert set(shares["actor"]) == {"us", "prc", "row"}
    s = _sql(store_path, """SELECT e.scenario, q.actor, q.year, q.p50 FROM actor_quantiles q
                            JOIN ensembles e USING (ensemble_id) WHERE q.metric = 'share_of_world_compute'""")
    merged = shares.merge(s, on=["scenario", "actor", "year"], suffixes=("", "_sql"))
    assert len(merged) == len(shares) and np.allclose(merged["p50"], merged["p50_sql"], rtol=1e-12)

    # (e) project milestones: the store's percentile definition on project_milestones, and the delay table
    pm = _sql(store_path, """SELECT m.run_id, m.actor, m.milestone, m.year FROM project_milestones m
                             JOIN ensembles e USING (ensemble_id) WHERE e.scenario = 'us_prc_cap_2028'""")
    pm = pm[pm["run_id"].isin(runs["run_id"])]
    for (actor, milestone), part in pm[pm["milestone"].isin(["AC", "ASI"])].groupby(["actor", "milestone"]):
        ys = np.sort(part["year"].to_numpy(float)[np.isfinite(part["year"].to_numpy(float))])
        rank = math.ceil(0.5 * len(runs))  # earliest year by which half of all runs reached it
        median = ys[rank - 1] if rank <= len(ys) else math.nan
        row = dots[(dots["scenario"] == f"{actor} · us_prc_cap_2028") & (dots["milestone"] == milestone)]
        if row.empty:  # drawn rows need a finite 10th percentile: then fewer than half reach it either
            assert math.isnan(median)
        else:
            assert row["p50"].iloc[0] == pytest.approx(median) if not math.isnan(median) else pd.isna(row["p50"].iloc[0])
    table = at.dataframe[0].value
    own = table[table["scenario"] == "no_agreement"]
    assert (own["median delay vs no_agreement"].dropna() == 0).all()
    assert {"delay p10", "delay p50 (paired)", "delay p90"} <= set(table.columns)
    assert len(at.get("download_button")) >= 5


def test_paired_delays_equal_a_by_hand_pairing(store_path):
    from dashboard import store

    ids = dict(zip(*[_sql(store_path, "SELECT scenario, ensemble_id FROM ensembles")[c] for c in ("scenario", "ensemble_id")]))
    got = store.paired_milestone_delays(ids["us_prc_cap_2028"], ids["no_agreement"], ["AC"]).set_index("actor")
    years = {}
    for scenario in ("us_prc_cap_2028", "no_agreement"):
        runs = _mc_runs(store_path, scenario)
        pm = _sql(store_path, "SELECT run_id, actor, year FROM project_milestones WHERE milestone = 'AC'")
        pm = pm.merge(runs, on="run_id")
        pm["year"] = pm["year"].fillna(np.inf).clip(upper=END_YEAR)
        years[scenario] = pm.set_index(["actor", "sample_index"])["year"]
    delay = (years["us_prc_cap_2028"] - years["no_agreement"]).dropna()
    for actor, part in delay.groupby(level="actor"):
        assert got.loc[actor, "pairs"] == SAMPLES
        assert got.loc[actor, "p50"] == pytest.approx(float(np.quantile(part.to_numpy(), 0.5)), abs=1e-9)


def test_store_without_policy_scenarios_says_so(tmp_path, monkeypatch):
    from dashboard import store

    db = tmp_path / "plain.duckdb"
    monkeypatch.setenv("AIFS_DB", str(db))
    from pipelines import EnsembleRequest, run_ensembles

    path = tmp_path / "baseline.csv"
    text = (ROOT / "parameters" / "scenarios" / "baseline.csv").read_text().rstrip("\n").splitlines()
    header_at = next(i for i, line in enumerate(text) if line and not line.lstrip().startswith("#"))
    path.write_text("\n".join(text + [",".join(["simulation.end_year", "2027"]
                                               + [""] * (len(text[header_at].split(",")) - 2))]) + "\n")
    results = run_ensembles([EnsembleRequest(str(path), 4, seed=0)], db, progress=False, chunk_size=4)
    assert results[0].action == "computed"
    store.release()
    at = _page()
    assert any("no policy scenario" in i.value for i in at.info)
    assert not at.get("vega_lite_chart")


def test_policy_chart_builders_make_valid_vega_lite(store_path):
    """The app skips Altair's schema validation (see test_dashboard.py): validate the Policy page's builders here."""
    from dashboard import charts, store

    ids = dict(zip(store.current_ensembles()["scenario"], store.current_ensembles()["ensemble_id"]))
    years = store.policy_grid(list(ids.values()))
    phases = store.agreement_phase_shares([ids["us_prc_cap_2028"]], years)
    phases["phase_order"] = phases["phase"].map(list(store.PHASES).index)
    detection = store.detection_by_year(list(ids.values()), years).rename(columns={"probability": "cdf"})
    detection["scenario"] = detection["ensemble_id"] + " · " + detection["actor"]
    shares = store.actor_quantiles([ids["no_agreement"]], "share_of_world_compute", "us").assign(
        scenario="no_agreement", actor="us")
    for chart in (charts.phase_area(phases, list(store.PHASES)),
                  charts.cdf_chart(detection, "detection", None, y_title="P(hidden project detected by year)"),
                  charts.actor_lines(shares, "Share of world compute", ["no_agreement"])):
        chart.to_dict(validate=True)  # raises on an invalid spec
    assert set(charts.PHASE_COLORS) == set(store.PHASES)

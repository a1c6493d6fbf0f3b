"""The validation report (``python -m sim validate``) and the dashboard's Calibration page."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import torch

from sim.calibration import charts, report
from sim.calibration.fit import FitResult, setup
from sim.calibration.scenario_file import write_json
from sim.parameters import list_scenarios, load_scenario
from tests.test_takeoff_scenarios import EXPECTED

F64 = torch.float64


def test_markdown_table_formats_years_numbers_and_missing_values():
    text = report._md_table(pd.DataFrame({"year": [2025.6], "x": [float("nan")], "y": [1234.5678], "s": ["a"]}))
    assert text.splitlines() == ["| year | x | y | s |", "|---|---|---|---|", "| 2025.60 | — | 1235 | a |"]


def test_every_takeoff_scenario_names_its_table_row_in_the_form_the_report_parses():
    """The report reads each tk_* scenario's expected classes from its first comment line; they must
    be the rows the takeoff tests hold (tests/test_takeoff_scenarios.py)."""
    for name in [n for n, _ in list_scenarios() if n.startswith("tk_")]:
        match = report._ROW.search(load_scenario(name).description)
        assert match, name
        parsed = tuple((g or "").strip() or None for g in match.groups())
        assert parsed == EXPECTED[name], name


def test_charts_render_to_png(tmp_path):
    fans = pd.DataFrame({"year": [2020.0, 2025.0], "p10": [0.1, 10.0], "p50": [0.2, 20.0], "p90": [0.4, 40.0],
                         "fan": "prior"})
    points = pd.DataFrame({"year": [2022.0], "value": [1.0], "low": [0.5], "high": [2.0], "label": ["m"]})
    path = tmp_path / "c.png"
    charts.save_png(charts.data_vs_model(points, fans, "t", "y"), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_closed_form_section_matches_its_closed_forms():
    text = report.closed_form_section()
    errors = [float(x) for x in re.findall(r"\| ([0-9.e+-]+) \|$", text, flags=re.M)]
    assert len(errors) == 2 and max(errors) < 1e-3  # measured 1.2e-4 (Type II year), 0 (horizon)


def test_calibration_page_shows_a_fit(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    problem = setup("aifm_eli", ["software_rnd.present_doubling_time"], switch_off_unused=False,
                    overrides={"economy.enabled": 0.0}, until=2024.5)
    z = problem.z_of({"software_rnd.present_doubling_time": 0.4})
    result = FitResult(problem, "lbfgs", problem.z_of(), z, 10.0, 3.0, 4, 5, 1.0, True, "test", [10.0, 5.0, 3.0],
                       torch.tensor([[0.04]], dtype=F64))
    write_json(result, tmp_path / "toy.fit.json")
    monkeypatch.setenv("AIFS_CALIBRATION_DIRS", str(tmp_path))
    at = AppTest.from_file("../dashboard/views/calibration.py", default_timeout=60)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert [m.value for m in at.metric][:2] == ["aifm_eli", "3"]
    frames = [d.value for d in at.dataframe]
    assert frames[0]["name"].tolist() == ["software_rnd.present_doubling_time"]
    assert set(frames[2]["points"]) == {"fitted", "held out"}  # the backtest table


@pytest.mark.slow
def test_validate_quick_writes_every_section_and_plot(tmp_path, capsys):
    from sim.cli import main

    assert main(["validate", "--quick", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "README.md").read_text()
    for heading in ("## 1. METR", "## 2. The economy", "## 3. AI Futures", "## 4. Takeoff", "## 5. Closed-form",
                    "## 6. Gradient check"):
        assert heading in text
    for png in re.findall(r"\]\(([^)]+\.png)\)", text):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"

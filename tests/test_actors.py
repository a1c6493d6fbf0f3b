"""Actors as data: the actors file, per-actor parameters and their error paths (file, line, field)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sim.parameters import load_actors, load_scenario
from sim.parameters.table import ParameterError

ROOT = Path(__file__).resolve().parents[1]
HEADER = "actor,kind,owner,reference,description,source\n"


def _actors(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "world.actors.csv"
    path.write_text(HEADER + rows)
    return path


def _error(call) -> ParameterError:
    with pytest.raises(ParameterError) as info:
        call()
    return info.value


def test_default_world_has_three_nations_each_with_a_frontier_project():
    actors = load_actors()
    assert actors.nations == ("us", "prc", "row")
    assert actors.projects == ("us_frontier", "prc_frontier", "row_frontier")
    assert actors.owners == ("us", "prc", "row") and actors.reference == "us_frontier"


@pytest.mark.parametrize("rows, line, field, words", [
    ("us,nation,,,,\np,project,,1,,\n", 3, "owner", "no owner nation"),
    ("us,nation,,,,\np,project,prc,1,,\n", 3, "owner", "not a nation"),
    ("us,nation,,,,\np,project,us,0,,\n", None, "reference", "exactly one project"),
    ("us,nation,,,,\nus,project,us,1,,\n", 3, "actor", "duplicate"),
    ("us,nation,,,,\nP-1,project,us,1,,\n", 3, "actor", "lower-case"),
    ("us,state,,,,\np,project,us,1,,\n", 2, "kind", "kind"),
    ("us,nation,us,,,\np,project,us,1,,\n", 2, "owner", "cannot have"),
])
def test_bad_actors_files_name_file_line_and_field(tmp_path, rows, line, field, words):
    path = _actors(tmp_path, rows)
    err = _error(lambda: load_actors(path))
    assert str(path) in str(err) and f"field '{field}'" in str(err) and words in str(err)
    if line is not None:
        assert f"line {line}" in str(err)


def _scenario(tmp_path: Path, rows: list[str], actors: str | None = None) -> Path:
    header = "name,value,distribution,description,source\n"
    path = tmp_path / "world.csv"
    path.write_text(header + "".join(r + "\n" for r in rows))
    if actors is not None:
        (tmp_path / "world.actors.csv").write_text(HEADER + actors)
    return path


def test_a_per_actor_row_naming_an_unknown_actor_is_an_error(tmp_path):
    path = _scenario(tmp_path, ["compute.mars_frontier.relative_compute,0.3,point,,"])
    err = _error(lambda: load_scenario(path))
    assert str(path) in str(err) and "line 2" in str(err) and "mars_frontier" in str(err)


def test_a_per_actor_row_of_the_wrong_kind_is_an_error(tmp_path):
    path = _scenario(tmp_path, ["compute.prc.relative_compute,0.3,point,,"])  # a nation, a project template
    err = _error(lambda: load_scenario(path))
    assert str(path) in str(err) and "line 2" in str(err) and "prc" in str(err)


def test_a_world_whose_actors_miss_a_required_per_actor_value_is_an_error(tmp_path):
    """The scenario's world adds a nation the parameter files do not describe; a template without a default
    (supply_chain.initial_compute_h100e) then has no value for it."""
    actors = ("us,nation,,,,\nprc,nation,,,,\nrow,nation,,,,\neu,nation,,,,\n"
              "us_frontier,project,us,1,,\nprc_frontier,project,prc,0,,\nrow_frontier,project,row,0,,\n")
    path = _scenario(tmp_path, [], actors)
    err = _error(lambda: load_scenario(path))
    assert "eu" in str(err) and "initial_compute_h100e" in str(err)
    # given in the scenario file, the same world loads
    rows = [f"supply_chain.eu.{name},{value},point,," for name, value in (
        ("initial_compute_h100e", 1e5), ("spending_share_of_world", 0.05), ("fab_capacity_start", 0),
        ("packaging_capacity_start", 0), ("datacenter_capacity_start", 0.3), ("power_available_start", 1),
        ("national_power_gw", 300))]
    path = _scenario(tmp_path, rows, actors)
    scenario = load_scenario(path)
    assert scenario.actors.nations == ("us", "prc", "row", "eu")
    assert float(scenario.central().per_actor("supply_chain.initial_compute_h100e", "nation")[0, 3]) == 1e5


def test_one_project_world_drops_the_default_worlds_rows():
    scenario = load_scenario("aifm_eli")
    assert scenario.actors.projects == ("leading",) and scenario.actors.nations == ("us",)
    names = scenario.central().names
    assert not any(".prc_frontier." in n or ".prc." in n for n in names)


def test_per_actor_values_reach_the_tensors_in_world_order(tmp_path):
    src = ROOT / "parameters" / "scenarios" / "baseline.csv"
    shutil.copyfile(src, tmp_path / "world.csv")
    with (tmp_path / "world.csv").open("a") as f:
        f.write("compute.row_frontier.relative_compute,0.25" + "," * (src.read_text().split("\n")[-2].count(",") - 1)
                + "\n")
    params = load_scenario(tmp_path / "world.csv").central()
    rel = params.per_actor("compute.relative_compute", "project")[0].tolist()
    assert rel == [1.0, pytest.approx(float(params["compute.prc_frontier.relative_compute"][0])), 0.25]

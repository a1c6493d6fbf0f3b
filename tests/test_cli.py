"""The `python -m sim` command line: `--help` and one run as a user would (subprocess, clean
environment), the rest in-process through ``sim.cli.main`` (same code, no interpreter start-up)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def sim(*args, check=True):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    proc = subprocess.run([sys.executable, "-m", "sim", *args], cwd=ROOT, capture_output=True, text=True, env=env,
                          timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr}")
    return proc


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def sim_in_process(capsys, *args, check=True):
    from sim.cli import main

    try:
        code = main(list(args))
    except SystemExit as exit_:  # argparse errors
        code = exit_.code
    out = capsys.readouterr()
    if check and code != 0:
        raise AssertionError(f"exit {code}\nstdout:{out.out}\nstderr:{out.err}")
    return Result(code, out.out, out.err)


def test_help_lists_commands_and_examples():
    out = sim("--help").stdout
    for word in ("run", "params", "scenarios", "examples"):
        assert word in out
    run_help = sim("run", "--help").stdout
    for flag in ("--scenario", "--samples", "--param-rows", "--seed", "--set", "--start", "--end", "--json", "--out"):
        assert flag in run_help


def test_scenarios_and_params_list(capsys):
    assert "baseline" in sim_in_process(capsys, "scenarios").stdout
    out = sim_in_process(capsys, "params", "--module", "simulation").stdout
    assert "simulation.start_year" in out and "source:" in out
    bad = sim_in_process(capsys, "params", "--module", "nope", check=False)
    assert bad.returncode == 2 and "unknown module" in bad.stderr


def test_json_shape_of_a_small_monte_carlo_run():
    proc = sim("run", "--scenario", "baseline", "--samples", "3", "--seed", "5", "--end", "2030", "--json")
    data = json.loads(proc.stdout)
    assert data["scenario"] == "baseline" and data["seed"] == 5 and len(data["samples"]) == 3
    assert set(data["summary"]) >= {"milestones", "status"}
    first = data["samples"][0]
    assert set(first) >= {"index", "status", "status_year", "milestones", "final"}
    assert first["status"] in ("ok", "diverged", "singularity")
    for value in first["milestones"].values():
        assert value is None or isinstance(value, float)
    assert set(first["takeoff"]) == {"growth", "labor_share", "wages"}


@pytest.mark.parametrize("args, message", [
    (("--set", "nope.x=1"), "unknown parameter 'nope.x'"),
    (("--set", "simulation.end_year=abc"), "is not a number"),
    (("--set", "simulation.solver_step_years=5"), "outside its bounds"),
    (("--scenario", "no_such_scenario"), "unknown scenario"),
])
def test_bad_input_is_a_clear_error(capsys, args, message):
    proc = sim_in_process(capsys, "run", *args, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_param_rows_reports_unknown_columns(capsys, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("simulation.end_year,mystery_column\n2030,1\n2030,2\n")
    proc = sim_in_process(capsys, "run", "--scenario", "baseline", "--param-rows", str(rows), "--json")
    assert "mystery_column" in proc.stderr
    assert len(json.loads(proc.stdout)["samples"]) == 2

"""Fidelity of the software R&D + compute modules to the AI Futures Project's scalar calculator.

Compares against ``tests/data/aifm_golden`` (the calculator's own outputs, Dec-18 code):

1. the two central (median-parameter) runs: time horizon and AI R&D uplift through AC (max
   relative error), and every milestone year;
2. the 150 + 150 sampled parameter sets: every milestone year, per sample. Prints the share within
   tolerance (AC 0.25 yr; the others 0.5 yr; a milestone reached by one model and not the other
   by 2100 counts as outside), how many samples differ in reaching it, and the median / p90 / max
   absolute error over the samples where both reach it.

Usage:  .venv/bin/python bench/aifm_fidelity.py [--step 0.0208333] [--grid 1024] [--only eli|daniel]
        [--json out.json]
Runs on the calculator's own output grid (every 0.1 yr, 2012-2100) so crossings are interpolated
the same way.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim import simulate
from sim.parameters import SimulationParameters, load_name_map, load_scenario

GOLDEN = ROOT / "tests" / "data" / "aifm_golden"
MILESTONES = ["AC", "SAR", "SIAR", "TED-AI", "ASI", "AI2027-SC", "STRAT-AI", "AIR-5x", "AIR-25x", "AIR-250x",
              "AIR-2000x", "AIR-10000x"]
GOLD_NAMES = {"SAR": "SAR-level-experiment-selection-skill", "SIAR": "SIAR-level-experiment-selection-skill"}
TOLERANCE = {"AC": 0.25}
DEFAULT_TOL = 0.5
REQUIRED = {"AC": 0.90, "SAR": 0.80, "ASI": 0.80}


def calculator_grid(end: float = 2100.0) -> torch.Tensor:
    return torch.tensor(np.round(np.linspace(2012.0, end, round((end - 2012.0) / 0.1) + 1), 10),
                        dtype=torch.float64)


def with_settings(params: SimulationParameters, end: float, grid_points: int | None) -> SimulationParameters:
    """The run settings of the comparison; every module other than compute and software R&D is
    switched off (the calculator has only these two)."""
    from sim.updaters import UPDATER_ORDER

    over = {"simulation__end_year": end, "simulation__start_year": 2012.0}
    if grid_points:
        over["software_rnd__frontier_grid_points"] = float(grid_points)
    params = params.with_values(**over)
    values = {n: params[n].detach() for n in params.names}
    for module in UPDATER_ORDER:
        if module not in ("compute", "software_rnd"):
            values[f"{module}.enabled"] = torch.zeros(params.batch_size, dtype=torch.float64)
    return SimulationParameters(values)


def run_samples(forecaster: str, frame: pd.DataFrame, step: float, grid_points: int | None):
    scenario = load_scenario(f"aifm_{forecaster}")
    params, _ignored = scenario.model_parameters.from_rows(frame, load_name_map())
    params = with_settings(params, 2100.0, grid_points)
    t = time.perf_counter()
    traj = simulate(params, scenario, t_grid=calculator_grid(), step=step,
                    record=None)
    return traj, time.perf_counter() - t


def error_table(frame: pd.DataFrame, traj) -> tuple[pd.DataFrame, dict]:
    rows, per_sample = [], {}
    for name in MILESTONES:
        ours = traj.milestones[name].detach().numpy()
        gold = frame[f"year_{name}"].to_numpy(dtype=float)
        both = np.isfinite(ours) & np.isfinite(gold)
        neither = ~np.isfinite(ours) & ~np.isfinite(gold)
        err = np.where(both, np.abs(ours - gold), np.where(neither, 0.0, np.inf))
        tol = TOLERANCE.get(name, DEFAULT_TOL)
        finite = err[np.isfinite(err)]
        rows.append({"milestone": name, "tolerance": tol, "within": float(np.mean(err <= tol)),
                         "reach_differs": int((~both & ~neither).sum()), "both_reached": int(both.sum()),
                         "median": float(np.median(finite)) if len(finite) else math.nan,
                         "p90": float(np.percentile(finite, 90)) if len(finite) else math.nan,
                         "max": float(np.max(finite)) if len(finite) else math.nan})
        per_sample[name] = err
    return pd.DataFrame(rows), per_sample


def central_check(step: float, grid_points: int | None) -> pd.DataFrame:
    runs = pd.read_csv(GOLDEN / "central_runs.csv")
    marks = pd.read_csv(GOLDEN / "central_milestones.csv")
    out = []
    for forecaster in ("eli", "daniel"):
        scenario = load_scenario(f"aifm_{forecaster}")
        params = with_settings(scenario.central(), 2100.0, grid_points)
        gold = runs[runs.forecaster == forecaster]
        grid = torch.tensor(np.round(np.union1d(calculator_grid().numpy(), gold.year.to_numpy()), 10))
        traj = simulate(params, scenario, t_grid=grid, step=step)
        years = traj.years.numpy()
        sel = np.isin(np.round(years, 6), np.round(gold.year.to_numpy(), 6))
        ac_gold = float(marks[(marks.forecaster == forecaster) & (marks.milestone == "AC")].year.iloc[0])
        upto = gold.year.to_numpy() <= ac_gold
        row = {"forecaster": forecaster}
        for ours_name, gold_name in (("time_horizon_minutes", "time_horizon_minutes"),
                                     ("ai_rnd_uplift", "ai_sw_progress_multiplier"),
                                     ("progress_ooms", "progress_ooms"),
                                     ("automation_fraction", "automation_fraction")):
            ours = traj.series[ours_name][0].numpy()[sel]
            ref = gold[gold_name].to_numpy()
            rel = np.abs(ours[upto] / ref[upto] - 1.0)
            row[f"{ours_name}_max_rel_err_to_AC"] = float(rel.max())
        for name in ("effective_compute_ooms", "training_compute_ooms", "software_efficiency_ooms"):
            ours = traj.series[name][0].numpy()[sel]
            row[f"{name}_max_abs_err_to_AC"] = float(np.abs(ours[upto] - gold[name].to_numpy()[upto]).max())
        for name in MILESTONES:
            gname = GOLD_NAMES.get(name, name)
            g = marks[(marks.forecaster == forecaster) & (marks.milestone == gname)].year
            g = float(g.iloc[0]) if len(g) and np.isfinite(g.iloc[0]) else math.nan
            row[f"{name}_ours"] = float(traj.milestones[name][0])
            row[f"{name}_calc"] = g
        out.append(row)
    return pd.DataFrame(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--step", type=float, default=1 / 48, help="RK4 step (yr)")
    parser.add_argument("--grid", type=int, default=None, help="optimal-CES task grid points (default: CSV)")
    parser.add_argument("--only", choices=["eli", "daniel"], default=None)
    parser.add_argument("--no-central", action="store_true")
    parser.add_argument("--json", type=str, default=None, help="write the tables and per-sample errors here")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    frame = pd.read_csv(GOLDEN / "sampled_runs_shared.csv")
    report: dict = {"step": args.step, "grid": args.grid}
    ok = True
    if not args.no_central:
        central = central_check(args.step, args.grid)
        print("== central runs (median parameters) ==")
        for _, row in central.iterrows():
            print(f"{row.forecaster}: max rel err through AC: horizon {row.time_horizon_minutes_max_rel_err_to_AC:.2%}, "
                  f"uplift {row.ai_rnd_uplift_max_rel_err_to_AC:.2%}, progress {row.progress_ooms_max_rel_err_to_AC:.3%}, "
                  f"automation {row.automation_fraction_max_rel_err_to_AC:.2%}; max abs err (OOM): effective compute "
                  f"{row.effective_compute_ooms_max_abs_err_to_AC:.4f}, training compute "
                  f"{row.training_compute_ooms_max_abs_err_to_AC:.1e}, software efficiency "
                  f"{row.software_efficiency_ooms_max_abs_err_to_AC:.4f}")
            print("   " + "  ".join(f"{m} {row[m + '_ours']:.3f} (calc {row[m + '_calc']:.3f})" for m in MILESTONES))
        report["central"] = central.to_dict(orient="records")
    combined_err: dict[str, list] = {m: [] for m in MILESTONES}
    for forecaster in (["eli", "daniel"] if args.only is None else [args.only]):
        sub = frame[frame.forecaster == forecaster].reset_index(drop=True)
        traj, secs = run_samples(forecaster, sub, args.step, args.grid)
        table, per_sample = error_table(sub, traj)
        for m in MILESTONES:
            combined_err[m].append(per_sample[m])
        print(f"\n== {forecaster}: {len(sub)} sampled parameter sets ({secs:.1f} s) ==")
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
        report[forecaster] = table.to_dict(orient="records")
        report[f"{forecaster}_errors"] = {m: [None if not np.isfinite(x) else float(x) for x in v]
                                          for m, v in per_sample.items()}
    print("\n== all samples ==")
    rows = []
    for m in MILESTONES:
        err = np.concatenate(combined_err[m])
        tol = TOLERANCE.get(m, DEFAULT_TOL)
        finite = err[np.isfinite(err)]
        within = float(np.mean(err <= tol))
        rows.append({"milestone": m, "tolerance": tol, "within": within, "reach_differs": int((~np.isfinite(err)).sum()),
                         "median": float(np.median(finite)), "p90": float(np.percentile(finite, 90)),
                         "max": float(np.max(finite))})
        if m in REQUIRED and within < REQUIRED[m]:
            ok = False
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    report["all"] = rows
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=float))
    print("\nrequirements (AC >= 90% within 0.25 yr, SAR and ASI >= 80% within 0.5 yr):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

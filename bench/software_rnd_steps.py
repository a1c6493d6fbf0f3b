"""Accuracy of fixed-step RK4 vs step size for the compute + software R&D modules.

Runs the same sampled parameter sets (scenario aifm_eli, 2012-2060, monthly output) at several
RK4 steps and reports each milestone's error against the finest step (median / p90 / max, in
years), plus the wall time of each run.

Usage: .venv/bin/python bench/software_rnd_steps.py [--samples 200] [--steps 96,48,24,12]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim import simulate
from sim.parameters import SimulationParameters, load_scenario
from sim.updaters import UPDATER_ORDER

MILESTONES = ("AC", "SAR", "SIAR", "TED-AI", "ASI", "AIR-25x")


def only_ai_modules(params: SimulationParameters) -> SimulationParameters:
    values = {n: params[n].detach() for n in params.names}
    for module in UPDATER_ORDER:
        if module not in ("compute", "software_rnd"):
            values[f"{module}.enabled"] = torch.zeros(params.batch_size, dtype=torch.float64)
    return SimulationParameters(values)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", type=str, default="96,48,24,12", help="steps per year, finest first")
    parser.add_argument("--scenario", type=str, default="aifm_eli")
    args = parser.parse_args(argv)
    scenario = load_scenario(args.scenario)
    params = only_ai_modules(scenario.sample(args.samples, args.seed))
    results = {}
    for per_year in [int(x) for x in args.steps.split(",")]:
        start = time.perf_counter()
        traj = simulate(params, scenario, step=1.0 / per_year, record=None)
        results[per_year] = (traj, time.perf_counter() - start)
    finest = max(results)
    ref = results[finest][0]
    print(f"{args.samples} samples of {args.scenario}, errors against RK4 at 1/{finest} yr (years)")
    for per_year, (traj, secs) in sorted(results.items(), reverse=True):
        cells = []
        for name in MILESTONES:
            a, b = traj.milestones[name].numpy(), ref.milestones[name].numpy()
            both = np.isfinite(a) & np.isfinite(b)
            mismatch = int((np.isfinite(a) != np.isfinite(b)).sum())
            err = np.abs(a[both] - b[both])
            cells.append(f"{name} {np.median(err):.1e}/{np.percentile(err, 90):.1e}/{err.max():.1e}"
                         + (f" ({mismatch} reach differs)" if mismatch else ""))
        print(f"step 1/{per_year:<3d} {secs:6.1f} s  " + "  ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

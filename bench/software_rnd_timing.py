"""Wall time of compute + software R&D runs (2012-2060, monthly output) by batch size.

Reports, per batch size: total wall time of ``simulate``, the part spent in preparation
(calibration + spin-up), and the time per trajectory. Other modules are switched off so the
numbers are this module's own.

Usage: .venv/bin/python bench/software_rnd_timing.py [--sizes 1,100,1000,10000] [--step 0.0208333]
       [--threads N] [--grid 4096]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim import simulate
from sim.parameters import SimulationParameters, load_scenario
from sim.updaters import UPDATER_ORDER
from sim.updaters.software_rnd import SoftwareRAndD


def only_ai_modules(params: SimulationParameters, **settings) -> SimulationParameters:
    if settings:
        params = params.with_values(**settings)
    values = {n: params[n].detach() for n in params.names}
    for module in UPDATER_ORDER:
        if module not in ("compute", "software_rnd"):
            values[f"{module}.enabled"] = torch.zeros(params.batch_size, dtype=torch.float64)
    return SimulationParameters(values)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,100,1000,10000")
    parser.add_argument("--step", type=float, default=1 / 48)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--grid", type=int, default=None, help="optimal-CES task grid (default: CSV)")
    parser.add_argument("--scenario", default="aifm_eli")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    scenario = load_scenario(args.scenario)
    settings = {"software_rnd__frontier_grid_points": float(args.grid)} if args.grid else {}
    # warm-up (imports, first-call allocations)
    simulate(only_ai_modules(scenario.sample(2, 0), **settings), scenario,
             t_grid=torch.tensor([2012.0, 2013.0], dtype=torch.float64))
    print(f"{args.scenario}, 2012-2060 monthly, RK4 step {args.step:.5f} yr, {torch.get_num_threads()} thread(s)")
    for n in [int(x) for x in args.sizes.split(",")]:
        params = only_ai_modules(scenario.sample(n, 1), **settings)
        prep = SoftwareRAndD()
        t0 = time.perf_counter()
        with torch.no_grad():
            prep.prepare(params, 2012.0)
        t_prep = time.perf_counter() - t0
        t0 = time.perf_counter()
        traj = simulate(params, scenario, step=args.step)
        total = time.perf_counter() - t0
        print(f"N={n:>6d}: {total:7.2f} s total ({t_prep:5.2f} s preparation), {1e3 * total / n:8.2f} ms/trajectory, "
              f"AC median {float(traj.milestones['AC'].nanmedian()):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

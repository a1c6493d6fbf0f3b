"""Simulator throughput and solver accuracy.

Measures, on this machine:
  * one batched ``simulate`` call at N = 10, 100, 1,000, 10,000 (and 100,000 with --big) samples of
    ``baseline`` (Eli's AI Futures distributions + the economy), output 2024-2060 monthly (software
    R&D spins itself up from its 2012 calibration start inside the call), and the per-sample cost as
    the batch grows;
  * the single central run;
  * by default each call records six headline metrics plus the series milestones and takeoff
    classes need (12 series); ``--all-metrics`` records all 44 (what the pipelines store);
  * with --compiled, ``simulate(compiled=True)`` at 1,000 samples (and 10,000 with --compiled-10k):
    the warm-up call that compiles, then the same call again;
  * the accuracy traded for speed: RK4 at the default step vs RK4 at a 4x finer step (AC, SAR, ASI
    year differences over 200 samples).

Usage: python bench/bench_simulate.py [--big] [--compiled [--compiled-10k]] [--all-metrics] [--threads N]
       [--workers K] [--scenario NAME]
Results are printed as a Markdown table (paste into bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from sim import load_scenario, simulate
from sim.simulate import DTYPE


def output_grid(start=2024.0, end=2060.0, step=1 / 12):
    return start + step * torch.arange(int(round((end - start) / step)) + 1, dtype=DTYPE)


def timed(fn, repeat=1):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big", action="store_true", help="also run N = 100,000")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--scenario", default="baseline")
    parser.add_argument("--workers", type=int, default=None, help="batch shards in parallel threads (default: auto)")
    parser.add_argument("--compiled", action="store_true", help="also time simulate(compiled=True) at 1,000 samples")
    parser.add_argument("--compiled-10k", action="store_true", help="with --compiled, also at 10,000 samples")
    parser.add_argument("--all-metrics", action="store_true",
                        help="record every metric (default: six headline metrics + what milestones and classes need)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    scenario = load_scenario(args.scenario)
    grid = output_grid()
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}")
    record = None if args.all_metrics else ["progress_ooms", "time_horizon_minutes", "ai_rnd_uplift",
                                            "automation_fraction", "effective_compute_ooms", "ai_research_taste_sd"]
    recorded = len(simulate(scenario.sample(2, 0), scenario, grid[:13], record=record).series)
    print(f"series recorded per call: {recorded}")

    # warm-up
    simulate(scenario.sample(10, 0), scenario, grid, record=record)

    central_s, _ = timed(lambda: simulate(scenario.central(), scenario, grid), repeat=3)
    print(f"\ncentral run ({args.scenario}, 2024-2060 monthly, all metrics): {central_s:.3f} s")

    sizes = [10, 100, 1000, 10000] + ([100000] if args.big else [])
    print("\n| samples | wall s | ms per sample | samples/s | vs calculator (0.65 s/trajectory) |")
    print("|---:|---:|---:|---:|---:|")
    for n in sizes:
        params = scenario.sample(n, 1)
        wall, _ = timed(lambda: simulate(params, scenario, grid, record=record, workers=args.workers), repeat=2 if n <= 1000 else 1)
        print(f"| {n:,} | {wall:.2f} | {1000 * wall / n:.3f} | {n / wall:,.0f} | {0.65 * n / wall:,.0f}x |")

    if args.compiled:
        # simulate(compiled=True): one compile per batch size (timed separately), then the same call
        print("\ncompiled (simulate(compiled=True)), after warm-up:")
        print("| samples | warm-up (compile + first run) s | wall s | ms per sample |\n|---:|---:|---:|---:|")
        for n in [1000] + ([10000] if args.compiled_10k else []):
            params = scenario.sample(n, 1)
            warm, _ = timed(lambda: simulate(scenario.sample(n, 0), scenario, grid, record=record, compiled=True))
            wall, _ = timed(lambda: simulate(params, scenario, grid, record=record, compiled=True), repeat=2)
            print(f"| {n:,} | {warm:.1f} | {wall:.2f} | {1000 * wall / n:.3f} |")

    # accuracy traded for speed: default step vs a 4x finer step
    params = scenario.sample(200, 7)
    step = params.scalar("simulation.solver_step_years")
    base = simulate(params, scenario, grid, record=record, workers=args.workers)
    fine = simulate(params, scenario, grid, step=step / 4, record=record)
    print(f"\naccuracy: RK4 step {step:.4f} yr vs {step / 4:.4f} yr, 200 samples (abs difference, years)")
    print("| milestone | median | p90 | max |\n|---|---:|---:|---:|")
    for name in ("AC", "SAR", "SIAR", "TED-AI", "ASI"):
        if name not in base.milestones:
            continue
        a, b = base.milestones[name].numpy(), fine.milestones[name].numpy()
        both = np.isfinite(a) & np.isfinite(b)
        d = np.abs(a[both] - b[both])
        if len(d):
            print(f"| {name} | {np.median(d):.4f} | {np.percentile(d, 90):.4f} | {d.max():.4f} |")


if __name__ == "__main__":
    main()

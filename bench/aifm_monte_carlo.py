"""Monte Carlo milestone distributions beside the AI Futures Project's published ones (§15.2).

``shared/reference/aifm_equations.md`` §15.2 gives p10 / median / p90 of AC, AI2027-SC, SAR and
SIAR over 10,000 calculator runs per forecaster (Dec-17-2025 distributions, 2012-2200, percentiles
over runs that reach the milestone). This script samples each forecaster's scenario
(``aifm_eli``, ``aifm_daniel``), runs the AI modules only (the calculator has no economy) to 2200
and prints our percentiles next to theirs, plus TED-AI and ASI (not published: ours only).

Usage: .venv/bin/python bench/aifm_monte_carlo.py [--samples 2000] [--seed 42] [--end 2200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from sim import simulate
from sim.parameters import load_scenario

PUBLISHED = {  # forecaster -> milestone -> (p10, p50, p90); aifm_equations.md §15.2
    "eli": {"AC": (2027.11, 2030.78, 2052.42), "AI2027-SC": (2027.58, 2032.76, 2095.34),
            "SAR": (2027.52, 2032.58, 2062.11), "SIAR": (2027.85, 2035.34, 2081.25)},
    "daniel": {"AC": (2027.48, 2029.67, 2037.74), "AI2027-SC": (2027.84, 2030.92, 2053.06),
               "SAR": (2027.79, 2030.74, 2043.08), "SIAR": (2027.98, 2031.76, 2052.00)},
}
MILESTONES = ("AC", "AI2027-SC", "SAR", "SIAR", "TED-AI", "ASI")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--end", type=float, default=2200.0)
    args = parser.parse_args()
    print(f"| forecaster | milestone | ours p10 | ours p50 | ours p90 | published p10 | p50 | p90 | "
          f"median gap (yr) | not reached by {args.end:.0f} |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for forecaster in ("eli", "daniel"):
        scenario = load_scenario(f"aifm_{forecaster}")
        params = scenario.sample(args.samples, args.seed).with_values(
            simulation__end_year=args.end, economy__enabled=0.0)
        started = time.perf_counter()
        traj = simulate(params, scenario, record=[])
        wall = time.perf_counter() - started
        for name in MILESTONES:
            years = traj.milestones[name].numpy()
            reached = np.isfinite(years)
            p10, p50, p90 = np.percentile(years[reached], [10, 50, 90]) if reached.any() else (np.nan,) * 3
            pub = PUBLISHED[forecaster].get(name)
            pub_cells = " | ".join(f"{v:.2f}" for v in pub) if pub else "— | — | —"
            gap = f"{p50 - pub[1]:+.2f}" if pub else "—"
            print(f"| {forecaster} | {name} | {p10:.2f} | {p50:.2f} | {p90:.2f} | {pub_cells} | {gap} | "
                  f"{100 * (1 - reached.mean()):.1f}% |")
        print(f"<!-- {forecaster}: {args.samples} samples, {wall:.1f} s, {torch.get_num_threads()} threads -->")


if __name__ == "__main__":
    main()

"""Cost per simulated project-trajectory of ``baseline`` (issue 11's budget: <= 1.5x the code before actors).

    python bench/bench_actors_cost.py N MODE      # MODE: supply (baseline as shipped) or trend (compute.supply_chain=0)

Run it against an older checkout with ``PYTHONPATH=/path/to/old/checkout python bench/bench_actors_cost.py N old``
(one project, trend compute) in the same session, and compare the per-project-trajectory figures.
"""

import sys
import time

import torch

from sim.parameters import load_scenario
from sim.simulate import simulate

torch.set_num_threads(1)
n, mode = int(sys.argv[1]), sys.argv[2]
scenario = load_scenario("baseline")
params = scenario.sample(n, seed=5)
if mode == "trend":
    params = params.with_values(compute__supply_chain=0.0)
started = time.perf_counter()
simulate(params, scenario)
wall = time.perf_counter() - started
projects = len(params.actors.projects) if hasattr(params, "actors") else 1
print(f"{mode} n={n} wall={wall:.2f}s projects={projects} per-project-trajectory={wall / (n * projects) * 1e3:.2f} ms")

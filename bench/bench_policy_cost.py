"""Cost of a policy scenario against baseline, same samples count, one thread, same run (issue 12: <= 2x).

    python bench/bench_policy_cost.py N [SCENARIO ...]     # default: baseline us_prc_cap_2028
"""

import sys
import time

import torch

from sim.parameters import load_scenario
from sim.simulate import simulate

torch.set_num_threads(1)
n = int(sys.argv[1])
names = sys.argv[2:] or ["baseline", "us_prc_cap_2028"]
walls = {}
for name in names:
    scenario = load_scenario(name)
    params = scenario.sample(n, seed=5)
    started = time.perf_counter()
    simulate(params, scenario)
    walls[name] = time.perf_counter() - started
    print(f"{name}: n={n} wall={walls[name]:.1f}s projects={len(params.actors.projects)}", flush=True)
if len(names) > 1:
    print(f"ratio {names[1]}/{names[0]} = {walls[names[1]] / walls[names[0]]:.2f}")

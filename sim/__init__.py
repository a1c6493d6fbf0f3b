"""AI futures simulator: a batched, differentiable world model.

Public API::

    from sim import load_scenario, simulate
    scenario = load_scenario("aifm_eli")
    traj = simulate(scenario.sample(1000, seed=0), scenario)
    traj.milestones_dataframe(); traj.to_dataframe()

Importing ``sim`` tunes glibc's malloc for the solver's short-lived tensors (``sim/allocator.py``;
``AIFS_MALLOC_TUNING=0`` opts out).
"""

from sim.allocator import tune_allocator
from sim.metrics_catalog import MetricInfo
from sim.parameters import (
    ModelParameters,
    ParameterError,
    Scenario,
    SimulationParameters,
    UnknownScenario,
    list_scenarios,
    load_scenario,
    read_param_rows,
)
from sim.simulate import simulate
from sim.trajectory import Trajectory

tune_allocator()

#: Bumped whenever a change alters results; stored with every ensemble (pipelines mark older ones stale).
MODEL_VERSION = "0.3.0"  # 0.3.0: actors as data, compute supply chain in baseline, economy reads software R&D automation; 0.2.0: 1,024-task CES grid by default, economy reads P on its invariant


def __getattr__(name):  # METRICS is gathered lazily from the updater packages
    if name == "METRICS":
        from sim import metrics_catalog

        return metrics_catalog.metrics()
    if name == "RUN_METRICS":
        from sim import metrics_catalog

        return metrics_catalog.run_metrics()
    raise AttributeError(name)


__all__ = [
    "MODEL_VERSION", "MetricInfo", "ModelParameters", "ParameterError", "Scenario", "SimulationParameters",
    "Trajectory", "UnknownScenario", "list_scenarios", "load_scenario", "read_param_rows", "simulate",
]

"""Helpers shared by the economy and takeoff tests: run scenarios through ``sim.simulate``.

Stylised Trammell-Korinek scenarios do not use the AI modules (``economy.automation_source`` 0 or
1): ``compute.enabled`` = ``software_rnd.enabled`` = 0 switch them off, as those scenario files do.
Everything else is the real ``simulate`` (solver, divergence detection, metrics, run metrics, classes).
"""

from __future__ import annotations

import contextlib
import importlib

import torch

from sim.parameters import SimulationParameters, load_scenario

simulate_module = importlib.import_module("sim.simulate")

RUN_SETTINGS = ("simulation.start_year", "simulation.end_year", "simulation.output_step_years",
                "simulation.solver_step_years")


def ai_modules_off(params: SimulationParameters) -> SimulationParameters:
    """The same parameters with the compute and software R&D modules switched off."""
    return params.with_values(compute__enabled=0.0, software_rnd__enabled=0.0)


def scenario_params(name: str, overrides: dict[str, float] | None = None) -> SimulationParameters:
    """Central parameters of scenario ``name`` with ``overrides`` applied (no support checks: the
    tests move parameters within the theory's regime, which may leave the CSV's sampling range)."""
    params = load_scenario(name).central()
    if overrides:
        params = params.with_values(**{k.replace(".", "__"): v for k, v in overrides.items()})
    return params


@contextlib.contextmanager
def single_thread():
    """Small batches are dominated by per-op overhead; intra-op threads only add contention
    (measured: 10x slower with 2 threads on a loaded 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def run_batch(items: list[SimulationParameters], ai: bool):
    """Simulate several parameter sets (same run settings) in one batched call."""
    params = SimulationParameters.concat(items)
    for name in RUN_SETTINGS:
        params.scalar(name)  # all samples of one call share the run settings
    with single_thread():
        if ai:
            return simulate_module.simulate(params, "test")
        return simulate_module.simulate(ai_modules_off(params), "test")

"""Parameters: CSV tables of values and distributions, sampling, and named scenarios."""

from sim.parameters.actors import Actors, load_actors
from sim.parameters.model_parameters import ModelParameters, SimulationParameters
from sim.parameters.scenarios import (
    Scenario,
    UnknownScenario,
    base_parameters,
    list_scenarios,
    load_name_map,
    load_scenario,
    read_param_rows,
)
from sim.parameters.table import PARAMETERS_DIR, ParameterError, ParameterSpec

__all__ = [
    "Actors", "load_actors", "PARAMETERS_DIR", "ModelParameters", "ParameterError", "ParameterSpec", "Scenario", "SimulationParameters",
    "UnknownScenario", "base_parameters", "list_scenarios", "load_name_map", "load_scenario", "read_param_rows",
]

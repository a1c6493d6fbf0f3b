"""Compute and labour of the leading AI project (see README.md in this folder).

State written: ``ai_projects.leading.training_compute_ooms`` (d/dt = training-compute growth g(t)).
Metrics written: human coders, inference and experiment compute (H100e and FLOP/yr), g(t).
"""

from __future__ import annotations

import torch
from torch import Tensor

from sim.updaters.base import StateUpdater
from sim.updaters.compute.series import (
    EXPERIMENT_COMPUTE,
    HUMAN_CODERS,
    INFERENCE_COMPUTE,
    ComputeSchedule,
    load_input_series,
    schedule_from_params,
)
from sim.world import AIProject, StateDerivative, World

PROJECT = "leading"
_PATH = f"ai_projects.{PROJECT}."

#: Metric catalogue entries of this module.
METRICS = [
    {"name": "training_compute_ooms", "path": _PATH + "training_compute_ooms", "unit": "log10 FLOP",
         "description": "Largest training run of the leading project", "log_scale": False},
    {"name": "training_compute_growth_ooms_per_year", "path": _PATH + "training_compute_growth_ooms_per_year",
         "unit": "OOM/yr", "description": "Growth rate of the largest training run", "log_scale": False},
    {"name": "human_coders", "path": _PATH + "human_coders", "unit": "FTE",
         "description": "Human coders at the leading project", "log_scale": True},
    {"name": "inference_compute_h100e", "path": _PATH + "inference_compute_h100e", "unit": "H100e",
         "description": "Compute the leading project uses to automate coding", "log_scale": True},
    {"name": "experiment_compute_h100e", "path": _PATH + "experiment_compute_h100e", "unit": "H100e",
         "description": "Compute the leading project uses to run experiments", "log_scale": True},
    {"name": "inference_compute_flop_per_year", "path": _PATH + "inference_compute_flop_per_year", "unit": "FLOP/yr",
         "description": "Coding-automation compute at H100 peak throughput", "log_scale": True},
    {"name": "experiment_compute_flop_per_year", "path": _PATH + "experiment_compute_flop_per_year", "unit": "FLOP/yr",
         "description": "Experiment compute at H100 peak throughput", "log_scale": True},
]


class ComputeUpdater(StateUpdater):
    """Exogenous compute and labour schedules; integrates the training-compute stock."""

    name = "compute"

    def prepare(self, params, t0: float) -> None:
        self.params = params
        self.schedule: ComputeSchedule = schedule_from_params(params, load_input_series())
        ref_year = params.scalar("compute.training_compute_reference_year")
        self.flop_per_h100e_year = params["compute.h100_peak_flop_per_second"] * params["compute.seconds_per_year"]
        # training compute at t0 such that it equals the reference run at the reference year
        self.training_compute_t0 = (params["compute.training_compute_reference_ooms"]
                                    - self.schedule.training_growth_integral(t0, ref_year))

    def initialize(self, t0: Tensor, world: World) -> World:
        project = world.ai_projects[PROJECT]
        project = _replace(project, training_compute_ooms=self.training_compute_t0.to(t0.dtype))
        return _with_project(world, project)

    def contribute_state_derivatives(self, t: Tensor, world: World) -> StateDerivative:
        growth = self.schedule.training_growth(t)
        return StateDerivative.sparse(ai_projects={PROJECT: AIProject(training_compute_ooms=growth)})

    def set_metric_attributes(self, t: Tensor, world: World) -> World:
        logs = self.schedule.log_inputs(t)
        values = torch.exp(logs)
        project = _replace(
            world.ai_projects[PROJECT],
            human_coders=values[:, HUMAN_CODERS],
            inference_compute_h100e=values[:, INFERENCE_COMPUTE],
            experiment_compute_h100e=values[:, EXPERIMENT_COMPUTE],
            inference_compute_flop_per_year=values[:, INFERENCE_COMPUTE] * self.flop_per_h100e_year,
            experiment_compute_flop_per_year=values[:, EXPERIMENT_COMPUTE] * self.flop_per_h100e_year,
            training_compute_growth_ooms_per_year=self.schedule.training_growth(t),
        )
        return _with_project(world, project)


def _replace(project: AIProject, **changes: Tensor) -> AIProject:
    import dataclasses

    return dataclasses.replace(project, **changes)


def _with_project(world: World, project: AIProject) -> World:
    import dataclasses

    projects = dict(world.ai_projects)
    projects[PROJECT] = project
    return dataclasses.replace(world, ai_projects=projects)


UPDATER = ComputeUpdater

__all__ = ["METRICS", "UPDATER", "ComputeSchedule", "ComputeUpdater", "load_input_series", "schedule_from_params"]

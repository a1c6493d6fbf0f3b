"""Compute and labour of every AI project: the inputs of software R&D (see README.md in this folder).

Derived values written (``ai_projects.*``, ``[B, P]``): ``log_human_coders``,
``log_inference_compute``, ``log_experiment_compute`` (the software R&D inputs, in the AI Futures
calculator's scale), ``training_compute_gain_ooms`` (log10 growth of the largest training run since
the calculator's series start) and ``training_compute_growth_ooms_per_year``. Metrics: the same
inputs as levels (FTE, H100e, FLOP/yr) and ``training_compute_ooms``.

Two sources (``compute.supply_chain``): 0, the exogenous trend: the reference project follows the
calculator's input series and every other project the same series times its relative size; 1, the
compute supply chain (``sim.updaters.supply_chain``): each project gets its share of its owner
nation's operating compute, anchored at the start to the calculator's level (README).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from sim.ces import log_soft_min, soft_min_weight
from sim.updaters.base import StateUpdater
from sim.updaters.compute.series import (
    EXPERIMENT_COMPUTE,
    HUMAN_CODERS,
    INFERENCE_COMPUTE,
    ComputeSchedule,
    load_input_series,
    schedule_from_params,
)
from sim.updaters.covert.equations import compute_shares
from sim.world import World, replace

LN10 = math.log(10.0)


def _m(name: str, unit: str, description: str, log_scale: bool) -> dict:
    return {"name": name, "path": "frontier." + name, "unit": unit, "description": description,
            "log_scale": log_scale, "actors": "project"}


#: Metric catalogue entries of this module (world-level names are the frontier project's values;
#: ``actors = project``: also recorded for every project).
METRICS = [
    _m("training_compute_ooms", "log10 FLOP", "Largest training run of the leading project", False),
    _m("training_compute_growth_ooms_per_year", "OOM/yr", "Growth rate of the largest training run", False),
    _m("human_coders", "FTE", "Human coders at the leading project", True),
    _m("inference_compute_h100e", "H100e", "Compute the leading project uses to automate coding", True),
    _m("experiment_compute_h100e", "H100e", "Compute the leading project uses to run experiments", True),
    _m("inference_compute_flop_per_year", "FLOP/yr", "Coding-automation compute at H100 peak throughput", True),
    _m("experiment_compute_flop_per_year", "FLOP/yr", "Experiment compute at H100 peak throughput", True),
    _m("project_compute_h100e", "H100e", "The project's share of its owner nation's operating compute (supply chain)",
       True),
    _m("project_share_of_world_compute", "fraction", "Project compute over world operating compute (supply chain)",
       False),
]

TREND, SUPPLY_CHAIN = 0, 1


class ComputeUpdater(StateUpdater):
    """The compute and labour inputs of every AI project (exogenous trend or supply chain)."""

    name = "compute"

    def prepare(self, params, t0: float) -> None:
        self.params = params
        self.schedule: ComputeSchedule = schedule_from_params(params, load_input_series())
        self.source = int(params.scalar("compute.supply_chain")) if "compute.supply_chain" in params else TREND
        s = self.schedule
        self.flop_per_h100e_year = params["compute.h100_peak_flop_per_second"] * params["compute.seconds_per_year"]
        self.growth_antiderivative_t0 = s.training_growth_antiderivative(s.series.start)
        # training_compute_ooms = gain + offset: the reference run at the reference year
        ref_year = params.scalar("compute.training_compute_reference_year")
        self.training_offset = (params["compute.training_compute_reference_ooms"]
                                - (s.training_growth_antiderivative(ref_year) - self.growth_antiderivative_t0))
        # each project's size relative to the reference project (exogenous trend)
        rel_compute = params.per_actor("compute.relative_compute", "project")  # [B, P]
        rel_coders = params.per_actor("compute.relative_coders", "project")
        self.log_relative = torch.stack([torch.log(rel_coders), torch.log(rel_compute), torch.log(rel_compute)],
                                        dim=2)  # [B, P, 3]
        self.relative_training_ooms = torch.log10(rel_compute)  # [B, P]
        self._cache: dict = {}
        if self.source == SUPPLY_CHAIN:
            self.project_share = params.per_actor("compute.share_of_nation_compute", "project")  # [B, P]
            self.owner = torch.tensor(params.actors.owner_index, dtype=torch.long)
            self.hidden = (params.per_actor("covert.hidden", "project")[0] > 0 if "covert.hidden" in params
                           else torch.zeros(len(params.actors.projects), dtype=torch.bool))
            self.log_run_fraction0 = torch.log(params["compute.largest_run_fraction_start"])[:, None]
            self.log_run_fraction_max = torch.log(params["compute.largest_run_fraction_max"])[:, None]
            self.run_fraction_growth = params["compute.largest_run_fraction_growth"][:, None]
            self.sharpness = params["supply_chain.constraint_sharpness"][:, None]
            self.t0 = float(t0)
            self.anchor = None  # (ln inputs [B, 3], gain [B], ln project compute [B, P]) at the start

    def _reference(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(ln inputs [B, 3], growth g [B], ∫_{t_series}^t g [B]) of the reference project (the
        calculator's series). Cached by time when every sample is at the same time (the RK4 stages
        repeat times)."""
        sched = self.schedule
        if self.stateless:
            return (sched.log_inputs(t), sched.training_growth(t),
                    sched.training_growth_antiderivative(t) - self.growth_antiderivative_t0)
        key = float(t[0]) if t.shape[0] == 1 or bool((t == t[0]).all()) else None
        if key is not None and key in self._cache:
            return self._cache[key]
        log_inputs = (sched.series.log_at(t[:1]) if key is not None else sched.series.log_at(t)) \
            + sched.log_multipliers
        values = (log_inputs, sched.training_growth(t),
                  sched.training_growth_antiderivative(t) - self.growth_antiderivative_t0)
        if key is not None:
            if len(self._cache) > 8:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = values
        return values

    def derive(self, t: Tensor, world: World) -> World:
        if self.source == SUPPLY_CHAIN:
            return self._derive_supply_chain(t, world)
        log_ref, growth, gain = self._reference(t)
        log_inputs = log_ref[:, None, :] + self.log_relative  # [B, P, 3]
        projects = replace(
            world.ai_projects,
            log_human_coders=log_inputs[..., HUMAN_CODERS],
            log_inference_compute=log_inputs[..., INFERENCE_COMPUTE],
            log_experiment_compute=log_inputs[..., EXPERIMENT_COMPUTE],
            training_compute_gain_ooms=gain[:, None] + self.relative_training_ooms,
            training_compute_growth_ooms_per_year=growth[:, None].expand_as(self.relative_training_ooms),
        )
        return replace(world, ai_projects=projects)

    def _derive_supply_chain(self, t: Tensor, world: World) -> World:
        """Each project's compute is its share of its owner's operating compute; inputs and the largest
        run grow with it from the start, where they equal the exogenous trend's (the anchor)."""
        share = self.project_share
        if world.covert.stock_h100e is not None:  # hidden projects (sim.updaters.covert) run on diverted chips
            share = compute_shares(share, world.covert.stock_h100e, world.nations.compute_stock_h100e, self.owner,
                                   self.hidden)
        log_compute = torch.log(share * world.nations.operating_compute_h100e[:, self.owner])
        if self.anchor is None:  # the first evaluation is at the start (Combined.prepare)
            log_ref0, _, gain0 = self._reference(t)
            self.anchor = (log_ref0, gain0, log_compute.detach() if self.stateless else log_compute)
        log_ref0, gain0, log_compute0 = self.anchor
        growth = log_compute - log_compute0  # [B, P]
        log_compute_inputs = log_ref0[:, None, :] + self.log_relative + growth[..., None]  # from the anchor
        log_coders = self._reference(t)[0][:, None, HUMAN_CODERS] + self.log_relative[..., HUMAN_CODERS]  # the trend
        # the largest run: the project's compute times its rising share softmin(f0 e^{g t}, f_max)
        log_uncapped = self.log_run_fraction0 + self.run_fraction_growth * (t - self.t0)[:, None]
        log_fraction = log_soft_min(log_uncapped, self.log_run_fraction_max, self.sharpness)
        gain = gain0[:, None] + self.relative_training_ooms + (growth + log_fraction - self.log_run_fraction0) / LN10
        fraction_growth = self.run_fraction_growth * soft_min_weight(log_uncapped, self.log_run_fraction_max,
                                                                      self.sharpness)
        stock_growth = world.nations.compute_stock_growth[:, self.owner]  # d ln C/dt of the owner's chips
        projects = replace(
            world.ai_projects,
            log_human_coders=log_coders,
            log_inference_compute=log_compute_inputs[..., INFERENCE_COMPUTE],
            log_experiment_compute=log_compute_inputs[..., EXPERIMENT_COMPUTE],
            training_compute_gain_ooms=gain,
            training_compute_growth_ooms_per_year=(stock_growth + fraction_growth) / LN10,
            project_compute_h100e=torch.exp(log_compute),
        )
        return replace(world, ai_projects=projects)

    def set_metric_attributes(self, t: Tensor, world: World) -> World:
        p = world.ai_projects
        if self.source == SUPPLY_CHAIN:
            share = p.project_compute_h100e / world.nations.operating_compute_h100e.sum(1, keepdim=True)
            world = replace(world, ai_projects=replace(p, project_share_of_world_compute=share))
            p = world.ai_projects
        inference, experiment = torch.exp(p.log_inference_compute), torch.exp(p.log_experiment_compute)
        flop = self.flop_per_h100e_year[:, None]
        projects = replace(
            p,
            human_coders=torch.exp(p.log_human_coders),
            inference_compute_h100e=inference,
            experiment_compute_h100e=experiment,
            inference_compute_flop_per_year=inference * flop,
            experiment_compute_flop_per_year=experiment * flop,
            training_compute_ooms=p.training_compute_gain_ooms + self.training_offset[:, None],
        )
        return replace(world, ai_projects=projects)


UPDATER = ComputeUpdater

__all__ = ["METRICS", "SUPPLY_CHAIN", "TREND", "UPDATER", "ComputeSchedule", "ComputeUpdater", "load_input_series",
           "schedule_from_params"]

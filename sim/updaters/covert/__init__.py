"""Covert compute with Bayesian detection (see README.md in this folder).

State written (``covert.*``, ``[B, P]`` over every project, zero for visible ones):
``stock_h100e`` (chips diverted to the hidden project), ``elapsed_years`` (the detection clock),
``leaked`` and ``detected`` (0/1, set by the events ``covert_leak`` and ``covert_detected``).
Reads ``agreements.*.phase`` (diversion while an agreement binding the owner is in force),
``nations.compute_stock_h100e``, ``chip_supply_h100e_per_year``, ``chip_years``, ``chip_power_gw``.
``sim.updaters.compute`` reads ``covert.stock_h100e`` (the hidden project's compute). Active when
a project has ``covert.hidden`` = 1 and the supply chain is on.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from sim.updaters.agreements import IN_FORCE
from sim.updaters.base import Event, StateUpdater
from sim.updaters.covert import equations as eq
from sim.world import World, replace


def _m(name: str, field: str, unit: str, description: str, log_scale: bool = False) -> dict:
    return {"name": name, "path": "", "unit": unit, "description": description, "log_scale": log_scale,
            "actors": "project", "actor_path": "covert." + field}


METRICS = [
    _m("covert_stock_h100e", "stock_h100e", "H100e", "Chips held by the hidden project", True),
    _m("covert_share_of_owner_compute", "share_of_owner_compute", "fraction", "Hidden stock over the owner's chips"),
    _m("covert_workforce", "workforce", "people", "Workforce of the hidden project", True),
    _m("covert_posterior", "posterior", "probability", "Posterior probability that the hidden project exists"),
    _m("covert_detection_probability", "detection_probability", "probability",
       "P(direct evidence of the hidden project by now)"),
    _m("covert_expected_detection_year", "expected_detection_year", "yr",
       "Start of hiding + mean time to detection at the current workforce"),
    _m("covert_detected", "detected", "0/1", "1 once the hidden project is detected"),
]


class Covert(StateUpdater):
    """Hidden projects: diverted compute, workforce, evidence streams and the posterior."""

    name = "covert"

    @staticmethod
    def active(params) -> bool:
        return ("covert.hidden" in params and bool((params.per_actor("covert.hidden", "project") > 0).any())
                and "compute.supply_chain" in params and int(params.scalar("compute.supply_chain")) == 1)

    def prepare(self, params, t0: float) -> None:
        self.params = params
        actors = params.actors

        def pr(name: str) -> Tensor:
            return params.per_actor(f"covert.{name}", "project")

        self.hidden = pr("hidden")[0] > 0  # [P]
        self.owner = torch.tensor(actors.owner_index, dtype=torch.long)
        self.fraction = pr("diversion_fraction") * self.hidden
        self.quantile = pr("detection_quantile")
        g = {n: params[f"covert.{n}"][:, None] for n in (
            "diversion_time_years", "prior_probability", "workforce_base", "workers_per_gw", "detection_gamma_scale",
            "leak_likelihood_ratio", "survival_floor", "chip_median_error", "energy_median_error",
            "detection_posterior")}
        self.g = g
        self.a, self.b = eq.detection_time_fit(params["covert.detection_time_100"][:, None],
                                               params["covert.detection_time_1000"][:, None])
        self.chip_error = eq.laplace_error(params["covert.chip_error_quantile"][:, None], g["chip_median_error"])
        self.energy_error = eq.laplace_error(params["covert.energy_error_quantile"][:, None], g["energy_median_error"])
        self.prior_log_odds = torch.log(g["prior_probability"] / (1.0 - g["prior_probability"]))
        self.national_gw = params.per_actor("supply_chain.national_power_gw", "nation")
        self.h0 = params["supply_chain.attrition_h0"][:, None]
        #: [A, P] projects each agreement binds through their owner (hidden ones divert while it is in force)
        self.binds = {a.id: torch.tensor([o in a.signatories for o in actors.owners])
                      for a in getattr(actors, "agreements", ())}

    def initialize(self, t0: Tensor, world: World) -> World:
        zeros = torch.zeros(t0.shape[0], len(self.hidden), dtype=t0.dtype)
        return replace(world, covert=replace(world.covert, stock_h100e=zeros, elapsed_years=zeros.clone(),
                                             leaked=zeros.clone(), detected=zeros.clone()))

    def _diverting(self, world: World) -> Tensor:
        out = torch.zeros_like(world.covert.stock_h100e)
        for key, binds in self.binds.items():
            in_force = (world.agreements[key].phase == IN_FORCE)[:, None] & binds[None, :]
            out = torch.maximum(out, in_force.to(out.dtype))
        return out * (self.fraction > 0)

    def _evidence(self, world: World) -> dict[str, Tensor]:
        c, nat = world.covert, world.nations
        owner_stock = nat.compute_stock_h100e[:, self.owner]
        kw = (nat.chip_power_gw * 1e6 / nat.compute_stock_h100e)[:, self.owner]
        gw = c.stock_h100e * kw * 1e-6
        workforce = (self.g["workforce_base"] + self.g["workers_per_gw"] * gw) * self.hidden
        mean = eq.mean_detection_time(workforce.clamp_min(2.0), self.a, self.b)
        log_s = eq.log_survival(c.elapsed_years, mean, self.g["detection_gamma_scale"])
        direct = torch.where(c.leaked > 0, torch.log(self.g["leak_likelihood_ratio"]).expand_as(log_s),
                             torch.maximum(log_s, torch.log(self.g["survival_floor"])))
        share = c.stock_h100e / owner_stock
        energy_share = gw / self.national_gw[:, self.owner]
        log_lr = (direct + eq.accounting_log_lr(share, self.chip_error, self.g["chip_median_error"])
                  + eq.accounting_log_lr(energy_share, self.energy_error, self.g["energy_median_error"]))
        log_odds = torch.where(self.hidden[None, :], self.prior_log_odds + log_lr, self.prior_log_odds.expand_as(log_lr))
        return {"workforce": workforce, "mean": mean, "log_survival": log_s, "log_odds": log_odds, "share": share}

    def contribute_state_derivatives(self, t: Tensor, world: World) -> dict[str, Tensor]:
        c, nat = world.covert, world.nations
        diverting = self._diverting(world)
        target = self.fraction * nat.compute_stock_h100e[:, self.owner]
        d_stock = diverting * (target - c.stock_h100e) / self.g["diversion_time_years"] \
            - (1.0 - diverting) * self.h0 * c.stock_h100e
        return {"covert.stock_h100e": d_stock, "covert.elapsed_years": diverting}

    def set_metric_attributes(self, t: Tensor, world: World) -> World:
        e, c = self._evidence(world), world.covert
        start = t[:, None] - c.elapsed_years
        started = c.elapsed_years > 0
        nan = torch.full_like(start, math.nan)
        covert = replace(c, diverting=self._diverting(world), workforce=e["workforce"], log_odds=e["log_odds"],
                         posterior=torch.sigmoid(e["log_odds"]),
                         detection_probability=torch.where(self.hidden[None, :], -torch.expm1(e["log_survival"]), nan),
                         expected_detection_year=torch.where(started, start + e["mean"], nan),
                         share_of_owner_compute=e["share"])
        return replace(world, covert=covert)

    def events(self) -> list[Event]:
        out = []
        threshold = torch.logit(self.g["detection_posterior"][:, 0])
        for p in torch.nonzero(self.hidden).flatten().tolist():
            project = self.params.actors.projects[p]

            def leak_trigger(t: Tensor, world: World, p=p) -> Tensor:
                return torch.log(self.quantile[:, p]) - self._evidence(world)["log_survival"][:, p]

            def detect_trigger(t: Tensor, world: World, p=p) -> Tensor:
                return self._evidence(world)["log_odds"][:, p] - threshold

            def setter(field: str, p: int):
                def apply(t: Tensor, world: World, mask: Tensor) -> World:
                    value = getattr(world.covert, field)
                    column = (torch.arange(value.shape[1]) == p)[None, :] & mask[:, None]
                    return replace(world, covert=replace(world.covert, **{
                        field: torch.where(column, torch.ones_like(value), value)}))
                return apply

            out += [Event("covert_leak", leak_trigger, setter("leaked", p), actor=project),
                    Event("covert_detected", detect_trigger, setter("detected", p), actor=project)]
        return out


UPDATER = Covert

__all__ = ["METRICS", "UPDATER", "Covert"]

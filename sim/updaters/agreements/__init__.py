"""Slowdown agreements in phases (see README.md in this folder).

State written (``agreements.ID.*``, ``[B]``): ``phase`` (0 none, 1 negotiating, 2 signed, 3 in force
and verified, 4 collapsed; changed only by the events ``agreement_<phase>``), ``cap_ooms`` and
``cap_since`` (set when the agreement takes force). Derived: the signatories' largest training run
(``ai_projects.training_compute_gain_ooms`` and its growth) is soft-capped while in force; the chip
stock is not, so an overhang builds and is released on collapse. Reads the scenario's agreements
(``NAME.policies.csv``, ``sim.parameters.policies``) and, in triggers, any catalogue metric.
Active when the scenario has agreements.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from sim.parameters.policies import PHASES, AgreementSpec, milestone_metric
from sim.updaters.base import Event, StateUpdater
from sim.world import World, replace
from sim.world.entities import Agreement

IN_FORCE, COLLAPSED = PHASES.index("in_force"), PHASES.index("collapsed")

METRICS = [{"name": "agreement_phase", "path": "agreement_phase", "unit": "0-4", "log_scale": False,
            "description": "Phase of the scenario's first agreement (0 none, 1 negotiating, 2 signed, 3 in force, "
                           "4 collapsed)"}]


def soft_cap(gain: Tensor, growth: Tensor, cap: Tensor, cap_growth: Tensor, sharpness: Tensor
             ) -> tuple[Tensor, Tensor]:
    """(softmin(x, c), its d/dt) with softmin(x, c) = −ln(e^{−s x} + e^{−s c})/s (OOMs): never above
    either, within ln2/s of the smaller; the growth is the weighted mix of the two growths."""
    stacked = torch.stack([gain, cap.expand_as(gain)])
    capped = -torch.logsumexp(-sharpness * stacked, dim=0) / sharpness
    w = torch.sigmoid(-sharpness * (gain - cap))  # weight of the run itself
    return capped, w * growth + (1.0 - w) * cap_growth


def next_phase(phase: Tensor, new: int, mask: Tensor) -> Tensor:
    """Phases move forward only; collapsed is final."""
    moved = torch.where(phase >= COLLAPSED, phase, torch.clamp(phase, min=float(new)))
    if new == COLLAPSED:
        moved = torch.full_like(phase, float(COLLAPSED))
    return torch.where(mask, moved, phase)


def metric_value(world: World, name: str) -> Tensor | None:
    """[B] value of a catalogue metric in ``world``: its world-level value, or the largest over actors."""
    from sim.metrics_catalog import by_name

    info = by_name()[name]
    if info.path:
        value = world.get(info.path)
        if value is not None:
            return value
    if info.actor_path:
        value = world.get(info.actor_path)
        if value is not None:
            return value.amax(-1)
    return None


class Agreements(StateUpdater):
    """Phase events of every agreement and the cap on the signatories' largest run."""

    name = "agreements"

    @staticmethod
    def active(params) -> bool:
        return bool(getattr(params.actors, "agreements", ()))

    def prepare(self, params, t0: float) -> None:
        self.params = params
        self.specs: tuple[AgreementSpec, ...] = params.actors.agreements
        actors = params.actors
        hidden = (params.per_actor("covert.hidden", "project")[0] > 0 if "covert.hidden" in params
                  else torch.zeros(len(actors.projects), dtype=torch.bool))
        #: [P] bool per agreement: the projects the cap binds (signatories' projects that are not hidden)
        self.bound = {a.id: torch.tensor([o in a.signatories for o in actors.owners]) & ~hidden for a in self.specs}
        self.sharpness = params["agreements.cap_sharpness"][:, None]
        self.t0 = float(t0)
        for a in self.specs:
            for rule in a.rules:
                if rule.year <= t0:
                    raise ValueError(f"{a.file}, line {rule.line}, field 'year': {PHASES[rule.phase]} of {a.id!r} in "
                                     f"{rule.year:g}, not after the start {t0:g}")

    def initialize(self, t0: Tensor, world: World) -> World:
        zeros = torch.zeros_like(t0)
        agreements = {a.id: Agreement(id=a.id, phase=zeros.clone(), cap_ooms=zeros.clone(), cap_since=t0.clone())
                      for a in self.specs}
        return replace(world, agreements={**world.agreements, **agreements})

    def derive(self, t: Tensor, world: World) -> World:
        p = world.ai_projects
        gain, growth = p.training_compute_gain_ooms, p.training_compute_growth_ooms_per_year
        for a in self.specs:
            state = world.agreements[a.id]
            in_force = (state.phase == IN_FORCE)[:, None] & self.bound[a.id][None, :]
            cap = (state.cap_ooms + a.cap_growth * (t - state.cap_since))[:, None]
            capped, capped_growth = soft_cap(gain, growth, cap, torch.full_like(cap, a.cap_growth), self.sharpness)
            gain, growth = torch.where(in_force, capped, gain), torch.where(in_force, capped_growth, growth)
        agreements = {k: replace(v, in_force=(v.phase == IN_FORCE).to(t.dtype)) for k, v in world.agreements.items()}
        return replace(world, ai_projects=replace(p, training_compute_gain_ooms=gain,
                                                  training_compute_growth_ooms_per_year=growth),
                       agreements=agreements)

    def set_metric_attributes(self, t: Tensor, world: World) -> World:
        return replace(world, agreement_phase=world.agreements[self.specs[0].id].phase)

    def _threshold(self, rule) -> Tensor:
        milestone = milestone_metric(rule.trigger_metric)
        if milestone is not None and milestone[1] is None:  # SAR: the top researcher's taste in SDs
            return torch.special.ndtri(self.params["software_rnd.top_researcher_percentile"])
        if milestone is not None and math.isnan(rule.trigger_threshold):
            return torch.full((self.params.batch_size,), milestone[1], dtype=torch.float64)
        return torch.full((self.params.batch_size,), rule.trigger_threshold, dtype=torch.float64)

    def events(self) -> list[Event]:
        out = []
        for a in self.specs:
            for rule in a.rules:
                metric = milestone_metric(rule.trigger_metric)
                metric = metric[0] if metric is not None else rule.trigger_metric
                threshold = self._threshold(rule) if metric else None

                def trigger(t: Tensor, world: World, rule=rule, metric=metric, threshold=threshold) -> Tensor:
                    g = t - rule.year if math.isfinite(rule.year) else torch.full_like(t, -1e9)
                    if metric:
                        value = metric_value(world, metric)
                        if value is not None:
                            g = torch.maximum(g, value - threshold)
                    return g

                def apply(t: Tensor, world: World, mask: Tensor, a=a, rule=rule) -> World:
                    state = world.agreements[a.id]
                    phase = next_phase(state.phase, rule.phase, mask)
                    starts = mask & (phase == IN_FORCE) & (state.phase != IN_FORCE)
                    cap, since = state.cap_ooms, state.cap_since
                    if rule.phase == IN_FORCE:
                        p = world.ai_projects
                        gain = p.training_compute_gain_ooms
                        if a.cap_unit == "log10_flop":
                            offset = (p.training_compute_ooms - gain)[:, 0]
                            level = a.cap - offset
                        else:
                            level = gain.masked_fill(~self.bound[a.id][None, :], -math.inf).amax(1) + a.cap
                        cap, since = torch.where(starts, level, cap), torch.where(starts, t, since)
                    agreements = {**world.agreements, a.id: replace(state, phase=phase, cap_ooms=cap, cap_since=since)}
                    return replace(world, agreements=agreements)

                out.append(Event(f"agreement_{PHASES[rule.phase]}", trigger, apply, actor=a.id))
        return out


UPDATER = Agreements

__all__ = ["METRICS", "UPDATER", "Agreements", "metric_value", "next_phase", "soft_cap"]

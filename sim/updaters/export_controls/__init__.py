"""Export controls on AI chips: which nation may buy which share of the world chip market from
which year, what is smuggled anyway, and the restricted nation's localisation of chip-making
tools (see README.md in this folder).

State written (``nations.*``, ``[B, N]``): ``import_access`` (initialised from
``supply_chain.NATION.import_access``, changed only by the event ``export_control``),
``export_controlled`` (0/1), ``log_localisation`` (domestic-chip quality gain). Read by
``sim.updaters.supply_chain`` (chip allocation and domestic production). Active when
``export_controls.enabled`` = 1 and the supply chain is on.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sim.updaters.base import Event, StateUpdater
from sim.world import World, replace

METRICS = [
    {"name": "import_access", "path": "", "unit": "fraction", "log_scale": False, "actors": "nation",
     "description": "Share of its spending-weighted part of the world chip market the nation can buy"},
    {"name": "export_controlled", "path": "", "unit": "0/1", "log_scale": False, "actors": "nation",
     "description": "1 once an export control on the nation is in force"},
]


def controlled_access(access: Tensor, controlled: Tensor, smuggled: Tensor) -> Tensor:
    """Import access once a control is in force: a' = a − (1 − s)·(a − a_c). The smuggled fraction s
    of what the control withholds reaches the buyer anyway (s = 1: a' = a exactly; s = 0: a' = a_c)."""
    return access - (1.0 - smuggled) * (access - controlled)


def localisation_rate(controlled: Tensor, log_localisation: Tensor, growth: Tensor, log_ceiling: Tensor) -> Tensor:
    """d ln ℓ/dt = flag · g · (1 − ln ℓ / ln ℓ_max): the domestic chips' quality rises at g (1/yr) once
    the nation is controlled, levelling off at ℓ_max (smooth; 0 before the control)."""
    return controlled * growth * (1.0 - log_localisation / log_ceiling.clamp_min(1e-12))


class ExportControls(StateUpdater):
    """Export-control events on each nation and the controlled nation's localisation path."""

    name = "export_controls"

    @staticmethod
    def active(params) -> bool:
        return ("export_controls.enabled" in params and params.scalar("export_controls.enabled") != 0
                and "compute.supply_chain" in params and int(params.scalar("compute.supply_chain")) == 1)

    def prepare(self, params, t0: float) -> None:
        self.params = params

        def n(name: str) -> Tensor:
            return params.per_actor(f"export_controls.{name}", "nation")

        self.year, self.controlled, self.smuggled = n("control_year"), n("controlled_access"), n("smuggled_fraction")
        self.growth = n("localisation_growth")
        self.log_ceiling = torch.log(n("localisation_ceiling"))
        self.access0 = params.per_actor("supply_chain.import_access", "nation")
        self.nations = params.actors.nations

    def initialize(self, t0: Tensor, world: World) -> World:
        zeros = torch.zeros_like(self.access0)
        return replace(world, nations=replace(world.nations, import_access=self.access0.clone(),
                                              export_controlled=zeros, log_localisation=zeros.clone()))

    def contribute_state_derivatives(self, t: Tensor, world: World) -> dict[str, Tensor]:
        nat = world.nations
        return {"nations.log_localisation": localisation_rate(nat.export_controlled, nat.log_localisation,
                                                              self.growth, self.log_ceiling)}

    def events(self) -> list[Event]:
        out = []
        for i, nation in enumerate(self.nations):
            def trigger(t: Tensor, world: World, i=i) -> Tensor:
                return t - self.year[:, i]

            def apply(t: Tensor, world: World, mask: Tensor, i=i) -> World:
                nat = world.nations
                column = (torch.arange(len(self.nations)) == i)[None, :] & mask[:, None]
                access = controlled_access(nat.import_access, self.controlled, self.smuggled)
                return replace(world, nations=replace(
                    nat, import_access=torch.where(column, access, nat.import_access),
                    export_controlled=torch.where(column, torch.ones_like(nat.export_controlled),
                                                  nat.export_controlled)))

            out.append(Event("export_control", trigger, apply, actor=nation))
        return out


UPDATER = ExportControls

__all__ = ["METRICS", "UPDATER", "ExportControls", "controlled_access", "localisation_rate"]

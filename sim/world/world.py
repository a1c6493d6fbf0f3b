"""The World: the root of the tree of dataclasses the simulator integrates."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import Tensor

from sim.parameters.actors import Actors
from sim.world.ai_project import AIProjects
from sim.world.economy import Economy
from sim.world.entities import Agreement, AIPolicy, Coalition, Covert, Nations, SupplyChain
from sim.world.tensor_dataclass import TensorDataclass, metric_field, state_field


@dataclass
class World(TensorDataclass):
    """Global time plus every actor. ``time`` is state with d(time)/dt = 1.

    ``nations`` ([B, N] tensors) and ``ai_projects`` ([B, P]) are tables over the scenario's
    actors (``sim.parameters.actors``); ``frontier`` ([B]) holds the leading project's values.
    """

    time: Tensor = state_field("yr", "decimal year")
    nations: Nations = field(default_factory=Nations)
    supply_chain: SupplyChain = field(default_factory=SupplyChain)
    ai_projects: AIProjects = field(default_factory=AIProjects)
    frontier: AIProjects = field(default_factory=AIProjects)
    coalitions: dict[str, Coalition] = field(default_factory=dict)
    policies: dict[str, AIPolicy] = field(default_factory=dict)
    agreements: dict[str, Agreement] = field(default_factory=dict)
    covert: Covert = field(default_factory=Covert)
    agreement_phase: Tensor = metric_field("0-4", "phase of the scenario's first agreement (sim.updaters.agreements)")
    economy: Economy = field(default_factory=Economy)

    @classmethod
    def empty(cls, batch: int, t0: float, actors: Actors | None = None, dtype: torch.dtype = torch.float64
              ) -> "World":
        """A world with the scenario's actors and no field set (updaters then initialise theirs)."""
        actors = actors if actors is not None else Actors.one_project()
        return cls(
            time=torch.full((batch,), float(t0), dtype=dtype),
            nations=Nations(ids=actors.nations),
            supply_chain=SupplyChain(),
            ai_projects=AIProjects(ids=actors.projects, owner=actors.owner_index),
            frontier=AIProjects(ids=()),
            economy=Economy(),
            covert=Covert(),
        )

    @property
    def actors(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return self.nations.ids, self.ai_projects.ids


def replace(tree: TensorDataclass, **changes) -> TensorDataclass:
    """``dataclasses.replace`` (the updaters' one way of writing fields into the world tree)."""
    return dataclasses.replace(tree, **changes)

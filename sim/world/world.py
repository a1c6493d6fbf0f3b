"""The World: the root of the tree of dataclasses the simulator integrates."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from sim.world.ai_project import AIProject
from sim.world.economy import Economy
from sim.world.entities import AIPolicy, Coalition, Nation
from sim.world.tensor_dataclass import TensorDataclass, state_field


@dataclass
class World(TensorDataclass):
    """Global time plus every actor. ``time`` is state with d(time)/dt = 1."""

    time: Tensor = state_field("yr", "decimal year")
    nations: dict[str, Nation] = field(default_factory=dict)
    coalitions: dict[str, Coalition] = field(default_factory=dict)
    ai_projects: dict[str, AIProject] = field(default_factory=dict)
    policies: dict[str, AIPolicy] = field(default_factory=dict)
    economy: Economy = field(default_factory=Economy)

    @classmethod
    def empty(cls, batch: int, t0: float, dtype: torch.dtype = torch.float64) -> "World":
        """A world with the standard actors and every state field zero (updaters then initialise)."""

        def zero() -> Tensor:
            return torch.zeros(batch, dtype=dtype)

        def zero_state(tree: TensorDataclass) -> TensorDataclass:
            import dataclasses

            changes = {
                f.name: zero()
                for f in dataclasses.fields(tree)
                if f.metadata.get("is_state")
            }
            return dataclasses.replace(tree, **changes)

        return cls(
            time=torch.full((batch,), float(t0), dtype=dtype),
            nations={"us": Nation(id="us"), "prc": Nation(id="prc")},
            coalitions={},
            ai_projects={"leading": zero_state(AIProject(id="leading"))},
            policies={},
            economy=zero_state(Economy()),
        )


@dataclass
class StateDerivative:
    """A ``World`` whose state fields hold d(state)/dt rather than state values."""

    world: World

    def to_state_tensor(self) -> Tensor:
        return self.world.to_state_tensor()

    def __add__(self, other: "StateDerivative") -> "StateDerivative":
        return StateDerivative(self.world + other.world)

    @classmethod
    def zeros_like(cls, world: World) -> "StateDerivative":
        return cls(world.zeros())

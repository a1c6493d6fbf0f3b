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

    def to_state_tensor(self, like: World | None = None) -> Tensor:
        """Pack; unset (``None``) fields are zero, shaped like ``like``'s state (or the time field)."""
        items = list(self.world.state_items())
        if all(v is not None for _, v in items):
            return self.world.to_state_tensor()
        reference = dict(like.state_items()) if like is not None else {}
        batch = next(v for _, v in items if v is not None).shape[0]
        cols = []
        for path, value in items:
            if value is None:
                ref = reference.get(path)
                value = torch.zeros_like(ref) if ref is not None else torch.zeros(batch, dtype=torch.float64)
            cols.append(value.reshape(batch, -1))
        return torch.cat(cols, dim=1)

    def __add__(self, other: "StateDerivative") -> "StateDerivative":
        """Field-wise sum; an unset (``None``) field counts as zero."""
        theirs = dict(other.world.state_items())

        def plus(path, ours, is_state):
            if not is_state:
                return ours
            other_value = theirs.get(path)
            if ours is None:
                return other_value
            return ours if other_value is None else ours + other_value

        return StateDerivative(self.world._rebuild_in_layout_order(plus, include_none=True))

    @classmethod
    def sparse(cls, **parts) -> "StateDerivative":
        """A derivative with only the given parts of the world (``ai_projects=...``, ``economy=...``);
        everything else is unset and counts as zero. (Builds no default sub-objects: cheap on the
        solver's hot path and traceable by ``torch.compile``.)"""
        parts.setdefault("economy", None)
        return cls(World(time=None, **parts))

    @classmethod
    def zeros_like(cls, world: World) -> "StateDerivative":
        """A derivative with every field unset (``None`` counts as zero when contributions are summed)."""
        return cls(world.blank())

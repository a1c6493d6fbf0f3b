"""Actors of the world that the current updaters do not integrate yet: nations, coalitions, policies.

They are part of the tree so that later modules (export controls, slowdown agreements, covert
compute, takeover risk) add fields here without touching the rest of the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

from sim.world.tensor_dataclass import TensorDataclass, metric_field


@dataclass
class Nation(TensorDataclass):
    """A nation (e.g. ``"us"``, ``"prc"``)."""

    id: str = ""
    share_of_ai_compute: Tensor = metric_field("fraction", "share of world AI compute held in this nation")


@dataclass
class Coalition(TensorDataclass):
    """A group of nations acting together (e.g. parties to a slowdown agreement)."""

    id: str = ""
    members: tuple[str, ...] = field(default_factory=tuple)


@dataclass
class AIPolicy(TensorDataclass):
    """A policy lever; ``enacted`` is 0 before its event fires and 1 after."""

    id: str = ""
    enacted: Tensor = metric_field("0/1", "whether the policy is in force")

"""Nations (a table over the world's nations) and the actors later modules add (coalitions, policies).

``World.nations`` holds every nation at once: each tensor is ``[B, N]`` (samples × nations, ``ids``
in the world's order). The compute supply chain (``sim.updaters.supply_chain``) adds its per-nation
state and metrics here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

from sim.world.tensor_dataclass import TensorDataclass, metric_field


@dataclass
class Nations(TensorDataclass):
    """Every nation of the world (``[B, N]`` tensors)."""

    ids: tuple[str, ...] = ()


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

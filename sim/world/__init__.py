"""The world: a tree of tensor dataclasses with state and metric fields."""

from sim.world.ai_project import AIProjects
from sim.world.economy import Economy
from sim.world.entities import AIPolicy, Coalition, Nations, SupplyChain
from sim.world.tensor_dataclass import StateLayout, TensorDataclass, metric_field, state_field
from sim.world.world import World, replace

__all__ = [
    "AIPolicy", "AIProjects", "Coalition", "Economy", "Nations", "StateLayout", "SupplyChain", "TensorDataclass", "World",
    "metric_field", "replace", "state_field",
]

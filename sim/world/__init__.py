"""The world: a tree of tensor dataclasses with state and metric fields."""

from sim.world.ai_project import AIProject
from sim.world.economy import Economy
from sim.world.entities import AIPolicy, Coalition, Nation
from sim.world.tensor_dataclass import TensorDataclass, metric_field, state_field
from sim.world.world import StateDerivative, World

__all__ = [
    "AIPolicy", "AIProject", "Coalition", "Economy", "Nation", "StateDerivative", "TensorDataclass",
    "World", "metric_field", "state_field",
]

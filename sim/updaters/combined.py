"""Combined: runs every enabled updater in a fixed order and packs their derivatives for the solver."""

from __future__ import annotations

import importlib

import torch
from torch import Tensor, nn

from sim.parameters import SimulationParameters
from sim.updaters.base import Event, StateUpdater
from sim.world import World

#: Order in which updaters run (later ones read metrics written by earlier ones).
UPDATER_ORDER = ("compute", "software_rnd", "economy")


def available_updaters(params: SimulationParameters) -> list[StateUpdater]:
    """Instantiate each module in UPDATER_ORDER that exists and is enabled (``<name>.enabled`` != 0)."""
    out = []
    for name in UPDATER_ORDER:
        try:
            package = importlib.import_module(f"sim.updaters.{name}")
        except ModuleNotFoundError as err:
            if err.name and err.name.startswith(f"sim.updaters.{name}"):
                continue
            raise
        cls = getattr(package, "UPDATER", None)
        if cls is None:
            continue
        switch = f"{name}.enabled"
        if switch in params and params.scalar(switch) == 0:
            continue
        out.append(cls())
    return out


class Combined(nn.Module):
    """Orchestrates the updaters; ``forward(t, y)`` is the ODE right-hand side on the flat state."""

    def __init__(self, updaters: list[StateUpdater]):
        super().__init__()
        self.updaters = nn.ModuleList(updaters)
        self.template: World | None = None

    def prepare(self, params: SimulationParameters, t0: float) -> World:
        batch = params.batch_size
        for updater in self.updaters:
            updater.prepare(params, t0)
        world = World.empty(batch, t0)
        t = world.time
        for updater in self.updaters:
            world = updater.initialize(t, world)
        self.template = world
        self.state_paths = world.state_names()
        return world

    def world(self, y: Tensor) -> World:
        return self.template.from_state_tensor(y)

    def derivative_world(self, t: Tensor, world: World) -> World:
        """d(state)/dt as a World: the sum of every updater's contribution (None = zero)."""
        totals: dict[str, Tensor] = {"time": torch.ones_like(t)}
        for updater in self.updaters:
            contribution = updater.contribute_state_derivatives(t, world)
            if contribution is None:
                continue
            for path, value in contribution.world.state_items():
                if value is None:
                    continue
                totals[path] = totals[path] + value if path in totals else value
        return world.map_tensors(
            lambda path, value, is_state: (totals.get(path, torch.zeros_like(value)) if is_state else None))

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        """d(state)/dt as a flat ``[B, n_state]`` tensor (the solver's right-hand side)."""
        t = t.expand(y.shape[0]) if t.dim() == 0 else t
        world = self.world(y)
        totals: dict[str, Tensor] = {"time": torch.ones_like(t)}
        for updater in self.updaters:
            contribution = updater.contribute_state_derivatives(t, world)
            if contribution is None:
                continue
            for path, value in contribution.world.state_items():
                if value is not None:
                    totals[path] = totals[path] + value if path in totals else value
        zero = None
        columns = []
        for path in self.state_paths:
            value = totals.get(path)
            if value is None:
                zero = torch.zeros_like(t) if zero is None else zero
                value = zero
            columns.append(value.reshape(y.shape[0], -1))
        return torch.cat(columns, dim=1)

    def divergence_rate(self, t: Tensor, y: Tensor) -> Tensor | None:
        world = self.world(y)
        rates = [r for u in self.updaters if (r := u.divergence_rate(t, world)) is not None]
        if not rates:
            return None
        return torch.stack(rates).amax(0)

    def apply_discrete_changes(self, t: Tensor, world: World) -> World:
        for updater in self.updaters:
            world = updater.set_state_attributes(t, world)
        return world

    def compute_metrics(self, t: Tensor, world: World) -> World:
        for updater in self.updaters:
            world = updater.set_metric_attributes(t, world)
        return world

    def events(self) -> list[Event]:
        return [event for updater in self.updaters for event in updater.events()]

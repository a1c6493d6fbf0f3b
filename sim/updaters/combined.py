"""Combined: runs every enabled updater in a fixed order and packs their derivatives for the solver."""

from __future__ import annotations

import importlib

import torch
from torch import Tensor, nn

from sim.parameters import SimulationParameters
from sim.updaters.base import Derivatives, Event, StateUpdater
from sim.world import StateLayout, World

#: Order in which updaters derive their values: each reads the derived values of the ones before
#: it. The economy comes first because its output depends on its own state alone (and the supply
#: chain spends a share of it); the supply chain delivers compute, the compute module allocates it
#: to projects, software R&D turns it into progress; the economy's derivative then reads the
#: automation that progress brings.
UPDATER_ORDER = ("economy", "supply_chain", "export_controls", "covert", "compute", "agreements", "software_rnd")


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
        updater = cls()
        if getattr(updater, "active", None) is not None and not updater.active(params):
            continue
        out.append(updater)
    return out


class Combined(nn.Module):
    """Orchestrates the updaters; ``forward(t, y)`` is the ODE right-hand side on the flat state."""

    def __init__(self, updaters: list[StateUpdater]):
        super().__init__()
        self.updaters = nn.ModuleList(updaters)
        self.template: World | None = None

    def prepare(self, params: SimulationParameters, t0: float, stateless: bool = False) -> World:
        """Calibrate every updater for ``params`` and return the world at ``t0``. ``stateless``:
        the right-hand side will be compiled (see ``StateUpdater.stateless``)."""
        batch = params.batch_size
        for updater in self.updaters:
            updater.stateless = stateless
            updater.prepare(params, t0)
        world = World.empty(batch, t0, params.actors)
        t = world.time
        for updater in self.updaters:
            world = updater.initialize(t, world)
        self.template = world
        self.layout = StateLayout.of(world)
        self.state_paths = list(self.layout.paths)
        derived = self._derive(t, world)
        for updater in self.updaters:
            updater.start(t, derived)
        return world

    # -- one evaluation ------------------------------------------------------------------------------
    def world(self, y: Tensor) -> World:
        """The world of the flat state ``y`` (state only)."""
        return self.layout.unpack(self.template, y)

    def _derive(self, t: Tensor, world: World) -> World:
        for updater in self.updaters:
            world = updater.derive(t, world)
        return world

    def derive(self, t: Tensor, y: Tensor) -> World:
        """The world at (t, y) with every updater's derived values."""
        return self._derive(t, self.world(y))

    def derivative(self, t: Tensor, world: World) -> Tensor:
        """d(state)/dt, flat, of a derived world."""
        totals: Derivatives = {"time": torch.ones_like(t)}
        for updater in self.updaters:
            _add(totals, updater.contribute_state_derivatives(t, world))
        return self.layout.pack(totals, t)

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        """d(state)/dt as a flat ``[B, n_state]`` tensor (the solver's right-hand side)."""
        t = t.expand(y.shape[0]) if t.dim() == 0 else t
        return self.derivative(t, self.derive(t, y))

    def state_of(self, world: World) -> Tensor:
        """The flat state of a world (after an event changed it). Only the layout's paths are read: the
        frontier (a derived copy of the leading project's values) holds no state of its own."""
        return self.layout.pack({path: world.get(path) for path in self.layout.paths}, world.time)

    def with_metrics(self, t: Tensor, world: World) -> World:
        for updater in self.updaters:
            world = updater.set_metric_attributes(t, world)
        return world

    def observe(self, t: Tensor, y: Tensor) -> World:
        """The world at (t, y) with every derived value and metric (what is recorded, and what
        event triggers read)."""
        return self.with_metrics(t, self.derive(t, y))

    def metrics_and_derivative(self, t: Tensor, y: Tensor) -> tuple[World, Tensor]:
        """(the world with every metric, d(state)/dt flat) at (t, y) from one derive pass."""
        world = self.derive(t, y)
        dy = self.derivative(t, world)
        return self.with_metrics(t, world), dy

    # -- divergence ------------------------------------------------------------------------------------
    def divergence_rate(self, t: Tensor, y: Tensor, dy: Tensor | None = None) -> Tensor | None:
        """The fastest divergence indicator (1/yr) at (t, y): the d/dt of every updater's
        ``growth_rate_fields`` (read from ``dy`` = d(state)/dt when the caller has it) and every
        updater's own ``divergence_rate``."""
        rates = []
        columns = self._growth_rate_columns()
        if columns:
            dy = self(t, y) if dy is None else dy
            rates.append(dy[:, columns].amax(1))
        if any(type(u).divergence_rate is not StateUpdater.divergence_rate for u in self.updaters):
            world = self.world(y)
            rates += [r for u in self.updaters if (r := u.divergence_rate(t, world)) is not None]
        if not rates:
            return None
        return torch.stack(rates).amax(0)

    def _growth_rate_columns(self) -> list[int]:
        """Flat-state columns of the updaters' ``growth_rate_fields``."""
        if getattr(self, "_columns_for", None) is not self.layout:
            wanted = [f for u in self.updaters for f in u.growth_rate_fields]
            unknown = [f for f in wanted if f not in self.layout.index]
            if unknown:
                raise ValueError(f"growth_rate_fields not in the state layout: {', '.join(unknown)}")
            self._columns = [c for f in wanted for c in range(self.layout.columns(f).start,
                                                               self.layout.columns(f).stop)]
            self._columns_for = self.layout
        return self._columns

    def events(self) -> list[Event]:
        return [event for updater in self.updaters for event in updater.events()]


def _add(totals: Derivatives, contribution: Derivatives | None) -> None:
    """Add one updater's derivative contribution into ``totals``."""
    if not contribution:
        return
    for path, value in contribution.items():
        if value is not None:
            totals[path] = totals[path] + value if path in totals else value

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

    def prepare(self, params: SimulationParameters, t0: float, stateless: bool = False) -> World:
        """Calibrate every updater for ``params`` and return the world at ``t0``. ``stateless``:
        the right-hand side will be compiled (see ``StateUpdater.stateless``)."""
        batch = params.batch_size
        for updater in self.updaters:
            updater.stateless = stateless
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

    def state_world(self, t: Tensor, y: Tensor) -> World:
        """The world of the flat state ``y`` at times ``t`` as the updaters' derivatives read it:
        derived state put back on its invariants (``StateUpdater.project_state``) first."""
        world = self.world(y)
        for updater in self._projecting():
            world = updater.project_state(t, world)
        return world

    def _projecting(self) -> list[StateUpdater]:
        found = getattr(self, "_projectors", None)
        if found is None:
            found = self._projectors = [u for u in self.updaters
                                        if type(u).project_state is not StateUpdater.project_state]
        return found

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        """d(state)/dt as a flat ``[B, n_state]`` tensor (the solver's right-hand side)."""
        t = t.expand(y.shape[0]) if t.dim() == 0 else t
        world = self.state_world(t, y)
        totals: dict[str, Tensor] = {"time": torch.ones_like(t)}
        for updater in self.updaters:
            _add(totals, updater.contribute_state_derivatives(t, world))
        return self._pack(totals, t)

    def metrics_and_derivative(self, t: Tensor, y: Tensor) -> tuple[World, Tensor]:
        """(the world with every metric, d(state)/dt flat) at (t, y): ``compute_metrics`` and
        ``forward`` in one pass, sharing what each updater's metrics and derivatives have in common
        (``StateUpdater.metrics_and_derivatives``). Derivatives see the state alone, as in ``forward``."""
        state = self.state_world(t, y)
        world = state
        totals: dict[str, Tensor] = {"time": torch.ones_like(t)}
        for updater in self.updaters:
            world, contribution = updater.metrics_and_derivatives(t, world, state)
            _add(totals, contribution)
        return world, self._pack(totals, t)

    def _pack(self, totals: dict[str, Tensor], t: Tensor) -> Tensor:
        batch = t.shape[0]
        zero = None
        columns = []
        for path in self.state_paths:
            value = totals.get(path)
            if value is None:
                zero = torch.zeros_like(t) if zero is None else zero
                value = zero
            columns.append(value.reshape(batch, -1))
        return torch.cat(columns, dim=1)

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
        """Flat-state columns of the updaters' ``growth_rate_fields`` (scalar fields)."""
        if getattr(self, "_columns_for", None) is not self.state_paths:
            wanted = [f for u in self.updaters for f in u.growth_rate_fields]
            unknown = [f for f in wanted if f not in self.state_paths]
            if unknown:
                raise ValueError(f"growth_rate_fields not in the state layout: {', '.join(unknown)}")
            self._columns = [self.state_paths.index(f) for f in wanted]
            self._columns_for = self.state_paths
        return self._columns

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


def _add(totals: dict[str, Tensor], contribution) -> None:
    """Add one updater's derivative contribution (a StateDerivative or None) into ``totals``."""
    if contribution is None:
        return
    for path, value in contribution.world.state_items():
        if value is not None:
            totals[path] = totals[path] + value if path in totals else value

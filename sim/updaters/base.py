"""The StateUpdater interface: how one module of the model changes its part of the world."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import Tensor, nn

from sim.parameters import SimulationParameters
from sim.world import StateDerivative, World


@dataclass(frozen=True)
class Event:
    """A discrete change. It fires for a sample when ``trigger(t, world)`` crosses from < 0 to >= 0;
    the solver locates the crossing by interpolation and calls ``apply(t, world, mask)`` there
    (``mask`` [B] bool selects the samples whose trigger crossed). Each event fires once per sample."""

    name: str
    trigger: Callable[[Tensor, World], Tensor]
    apply: Callable[[Tensor, World, Tensor], World]


class StateUpdater(nn.Module):
    """Base class of every module. Subclasses override what they need.

    ``t`` is always a ``[B]`` tensor of decimal years (samples may be at different times inside an
    event sub-step). Everything must be batched over the leading dimension and differentiable.
    """

    #: module name; its parameters are ``<name>.*`` and ``<name>.enabled`` (if present) switches it.
    name: str = ""
    #: metric names ``milestones``/``run_metrics``/``classify`` read; ``simulate`` always records them.
    required_series: tuple[str, ...] = ()
    #: state paths whose d/dt is a growth rate (1/yr) that blows up before a finite-time singularity;
    #: the solver flags a sample when the fastest passes ``simulation.singularity_rate_cap``.
    growth_rate_fields: tuple[str, ...] = ()
    #: Set before ``prepare`` when the right-hand side will be traced by ``torch.compile``
    #: (``simulate(compiled=True)``): the updater must then keep no per-call caches or search hints
    #: and take no data-dependent Python branches on its hot path.
    stateless: bool = False

    def prepare(self, params: SimulationParameters, t0: float) -> None:
        """Per-simulation, per-sample precomputation (calibration). Called once before integrating."""
        self.params = params

    def initialize(self, t0: Tensor, world: World) -> World:
        """Set this module's state fields at the start time."""
        return world

    def project_state(self, t: Tensor, world: World) -> World:
        """Put state that is a function of other state back on that function (e.g. progress
        P = P(RS, t)) before any updater reads it. Called on every right-hand-side evaluation; a
        fixed-step integrator lets such redundant state drift, and other modules must not read
        the drift."""
        return world

    def contribute_state_derivatives(self, t: Tensor, world: World) -> StateDerivative | None:
        """Continuous contribution to d(state)/dt (fields left ``None`` contribute zero)."""
        return None

    def set_state_attributes(self, t: Tensor, world: World) -> World:
        """Discrete changes to state between integration segments (not differentiable through)."""
        return world

    def set_metric_attributes(self, t: Tensor, world: World) -> World:
        """Derived metrics from state. Called at every output time."""
        return world

    def metrics_and_derivatives(self, t: Tensor, world: World, state: World
                                ) -> tuple[World, StateDerivative | None]:
        """``set_metric_attributes(t, world)`` and ``contribute_state_derivatives(t, state)`` at one
        point (``world`` carries the metrics of the updaters before this one, ``state`` the state
        alone). Called at output times; override to compute what the two share only once."""
        return self.set_metric_attributes(t, world), self.contribute_state_derivatives(t, state)

    def events(self) -> list[Event]:
        return []

    def divergence_rate(self, t: Tensor, world: World) -> Tensor | None:
        """A growth rate (1/yr) whose blow-up means a finite-time singularity, or None (for rates
        that are not simply the d/dt of state fields; those are named in ``growth_rate_fields``)."""
        return None

    def milestones(self, years: Tensor, series: "SeriesView") -> dict[str, Tensor]:
        """Milestone years ``[B]`` (NaN = not reached) from the recorded series."""
        return {}

    def run_metrics(self, years: Tensor, series: "SeriesView") -> dict[str, Tensor]:
        """Per-run scalar results ``[B]``."""
        return {}

    def classify(self, years: Tensor, series: "SeriesView", status: list[str], status_year: Tensor
                 ) -> dict[str, list[str]]:
        """Per-run class labels (e.g. takeoff classes)."""
        return {}


class SeriesView(dict):
    """Recorded series ``[B, T]`` keyed by metric-catalogue name *and* by world path."""

    def __init__(self, by_name: dict[str, Tensor], paths: dict[str, str]):
        super().__init__(by_name)
        for name, path in paths.items():
            if name in by_name:
                self[path] = by_name[name]

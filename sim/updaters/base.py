"""The StateUpdater interface: how one module of the model changes its part of the world."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import Tensor, nn

from sim.parameters import SimulationParameters
from sim.world import World


@dataclass(frozen=True)
class Event:
    """A discrete change. It fires for a sample when ``trigger(t, world)`` crosses from < 0 to >= 0
    within a solver step; the solver locates the crossing by interpolating the trigger linearly
    over the step and calls ``apply(t, world, mask)`` there (``mask`` [B] bool selects the samples
    whose trigger crossed). ``world`` carries the state and every derived value and metric at ``t``.

    What an event changes must be *state* (a phase, a flag: a state field whose derivative is
    zero, so that it survives integration); a change to a metric would be recomputed away.

    With ``repeat`` the event fires again each time its trigger comes back from below zero;
    otherwise once per sample. ``actor`` names the actor it is about (empty: the world).

    ``apply = None`` makes a *marker*: it changes nothing, so the solver records its crossing
    (linearly located within the step) without splitting the step.
    """

    name: str
    trigger: Callable[[Tensor, World], Tensor]
    apply: Callable[[Tensor, World, Tensor], World] | None
    repeat: bool = False
    actor: str = ""


#: A derivative contribution: d(state)/dt by state path (``"ai_projects.research_stock"``); paths
#: left out contribute zero.
Derivatives = dict[str, Tensor]


class StateUpdater(nn.Module):
    """Base class of every module. Subclasses override what they need.

    One right-hand-side evaluation runs ``derive`` of every updater in ``UPDATER_ORDER`` (each
    reads the state and the derived values of the updaters before it), then every updater's
    ``contribute_state_derivatives`` (which read the complete world). At output times the
    updaters then add their metrics (``set_metric_attributes``).

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

    def start(self, t0: Tensor, world: World) -> None:
        """Per-run constants that depend on other modules' derived values at the start (``world``
        is fully derived at ``t0``). Called once, after every ``initialize``."""

    def derive(self, t: Tensor, world: World) -> World:
        """The derived values this module's derivative or a later module needs, from the state and
        the derived values of the updaters before it. Called on every right-hand-side evaluation."""
        return world

    def contribute_state_derivatives(self, t: Tensor, world: World) -> Derivatives | None:
        """Continuous contribution to d(state)/dt (``world`` holds every updater's derived values)."""
        return None

    def set_metric_attributes(self, t: Tensor, world: World) -> World:
        """Metrics (at output times, and where an event trigger reads them) from the derived world."""
        return world

    def events(self) -> list[Event]:
        return []

    def divergence_rate(self, t: Tensor, world: World) -> Tensor | None:
        """A growth rate (1/yr) whose blow-up means a finite-time singularity, or None (for rates
        that are not simply the d/dt of state fields; those are named in ``growth_rate_fields``)."""
        return None

    def milestones(self, years: Tensor, series: "SeriesView") -> dict[str, Tensor]:
        """Milestone years ``[B]`` (NaN = not reached) from the recorded series."""
        return {}

    def actor_milestones(self, years: Tensor, series: "SeriesView") -> dict[str, Tensor]:
        """Milestone years per actor ``[B, A]`` (NaN = not reached) from the recorded per-actor series."""
        return {}

    def run_metrics(self, years: Tensor, series: "SeriesView") -> dict[str, Tensor]:
        """Per-run scalar results ``[B]``."""
        return {}

    def classify(self, years: Tensor, series: "SeriesView", status: list[str], status_year: Tensor
                 ) -> dict[str, list[str]]:
        """Per-run class labels (e.g. takeoff classes)."""
        return {}


class SeriesView(dict):
    """Recorded series keyed by metric-catalogue name *and* by world path: ``[B, T]`` for world
    metrics, ``[B, A, T]`` for per-actor metrics."""

    def __init__(self, by_name: dict[str, Tensor], paths: dict[str, str]):
        super().__init__(by_name)
        for name, path in paths.items():
            if name in by_name:
                self[path] = by_name[name]

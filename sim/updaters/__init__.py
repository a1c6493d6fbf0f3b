"""State updaters: one module per part of the world (see each package's README)."""

from sim.updaters.base import Event, SeriesView, StateUpdater
from sim.updaters.combined import UPDATER_ORDER, Combined, available_updaters

__all__ = ["Combined", "Event", "SeriesView", "StateUpdater", "UPDATER_ORDER", "available_updaters"]

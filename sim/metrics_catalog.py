"""The metric catalogue: every recorded series and per-run result, with units.

Each updater package exports ``METRICS`` (series over time) and optionally ``RUN_METRICS``
(one value per run) as lists of :class:`MetricInfo`. The catalogue gathers them in updater
order; pipelines use the names as DuckDB column names and the dashboard uses units and
``log_scale`` for its axes.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    """One recorded metric. ``path`` is where its world-level value lives (e.g.
    ``frontier.time_horizon_minutes``, the leading project's; empty: recorded per actor only);
    ``actors`` (``nation`` / ``project`` / empty) says it is also recorded for every actor of that
    kind, from ``actor_path`` (a ``[B, A]`` field, e.g. ``ai_projects.time_horizon_minutes``)."""

    name: str  # flat, SQL-friendly name, e.g. "time_horizon_minutes"
    path: str
    unit: str
    description: str
    log_scale: bool = False
    module: str = ""
    actors: str = ""
    actor_path: str = ""

    def actor_name(self, actor: str) -> str:
        """The templated name of one actor's series: ``time_horizon_minutes[us_frontier]``."""
        return f"{self.name}[{actor}]"


#: Modules in the order their metrics are listed (users read the AI side first).
DISPLAY_ORDER = ("compute", "software_rnd", "supply_chain", "export_controls", "agreements", "covert", "economy",
                 "policy")


def _gather(attribute: str) -> list[MetricInfo]:
    out: list[MetricInfo] = []
    seen: set[str] = set()
    for module in DISPLAY_ORDER:
        try:
            package = importlib.import_module(f"sim.updaters.{module}")
        except ModuleNotFoundError:
            continue
        for info in getattr(package, attribute, []):
            info = _as_info(info)
            if info.name in seen:
                raise ValueError(f"metric {info.name!r} is declared twice")
            seen.add(info.name)
            out.append(MetricInfo(info.name, info.path, info.unit, info.description, info.log_scale,
                                  info.module or module, info.actors, info.actor_path))
    return out


def _as_info(entry) -> MetricInfo:
    if isinstance(entry, MetricInfo):
        return entry
    get = entry.get if isinstance(entry, dict) else (lambda key, default=None: getattr(entry, key, default))
    actors = get("actors", "") or ""
    actor_path = get("actor_path", "") or ""
    if actors and not actor_path:
        table = {"project": "ai_projects.", "nation": "nations."}[actors]
        actor_path = table + get("name")
    return MetricInfo(get("name"), get("path") or "", get("unit", ""), get("description", ""),
                      bool(get("log_scale", False)), get("module", "") or "", actors, actor_path)


def metrics() -> list[MetricInfo]:
    """Every time-series metric, in display order (the AI modules first, then the economy)."""
    return _gather("METRICS")


def world_metrics() -> list[MetricInfo]:
    """The metrics with a world-level series (``Trajectory.series``)."""
    return [m for m in metrics() if m.path]


def actor_metrics() -> list[MetricInfo]:
    """The metrics recorded per actor (``Trajectory.actor_series``)."""
    return [m for m in metrics() if m.actors]


def run_metrics() -> list[MetricInfo]:
    """Every per-run scalar result."""
    return _gather("RUN_METRICS")


def by_name() -> dict[str, MetricInfo]:
    return {m.name: m for m in metrics() + run_metrics()}

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
    name: str  # flat, SQL-friendly name, e.g. "time_horizon_minutes"
    path: str  # where it lives in the World, e.g. "ai_projects.leading.time_horizon_minutes"
    unit: str
    description: str
    log_scale: bool = False
    module: str = ""


def _gather(attribute: str) -> list[MetricInfo]:
    from sim.updaters.combined import UPDATER_ORDER

    out: list[MetricInfo] = []
    seen: set[str] = set()
    for module in UPDATER_ORDER:
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
                                  info.module or module))
    return out


def _as_info(entry) -> MetricInfo:
    if isinstance(entry, MetricInfo):
        return entry
    get = entry.get if isinstance(entry, dict) else (lambda key, default=None: getattr(entry, key, default))
    return MetricInfo(get("name"), get("path"), get("unit", ""), get("description", ""),
                      bool(get("log_scale", False)), get("module", "") or "")


def metrics() -> list[MetricInfo]:
    """Every time-series metric, in updater order."""
    return _gather("METRICS")


def run_metrics() -> list[MetricInfo]:
    """Every per-run scalar result."""
    return _gather("RUN_METRICS")


def by_name() -> dict[str, MetricInfo]:
    return {m.name: m for m in metrics() + run_metrics()}

"""What the numbers mean: the metric catalogue and the parameter tables, from the ``sim`` package.

Imported lazily and cached (``sim`` pulls in torch), so pages that only read the store stay fast.
Everything degrades gracefully: an unknown metric still gets a readable label and a log scale
chosen from its data.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import importlib
import math
import threading
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from dashboard import store


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    description: str
    log_scale: bool | None  # None: decide from the data
    module: str = ""

    @property
    def title(self) -> str:
        """The catalogue's description when it is short enough for an axis, else the name in words."""
        if self.description and len(self.description) <= 48:
            return self.description[0].upper() + self.description[1:]
        return self.name.replace("_", " ").capitalize()

    @property
    def axis_title(self) -> str:
        return f"{self.title} ({self.unit})" if self.unit else self.title


@st.cache_resource(show_spinner=False)
def _warm_up() -> threading.Thread:
    """Import the simulator and pipelines (torch: seconds) in the background, once per server process."""

    def load() -> None:
        with contextlib.suppress(Exception):  # pages that need them report any problem themselves
            import pipelines.status  # noqa: F401
            import sim  # noqa: F401
        with contextlib.suppress(Exception):
            _compile_for_reruns()

    thread = threading.Thread(target=load, name="dashboard-warm-up", daemon=True)
    thread.start()
    return thread


def _compile_for_reruns(n: int = 1000) -> None:
    """With ``$AIFS_COMPILED=1``, compile the simulator for the Rerun page's default sample count
    now (tens of seconds, in the background) instead of on the first rerun: a one-year run of
    ``n`` samples compiles the same graphs as a full one."""
    from pipelines.simulation import use_compiled

    if not use_compiled(n):
        return
    import sim

    scenario = sim.load_scenario("baseline")
    params = scenario.sample(n, seed=0).with_values(simulation__end_year=2025.0)
    sim.simulate(params, scenario, compiled=True, record=[])


def start_warm_up() -> None:
    _warm_up()


def _compute_freshness(path: str) -> dict[str, str]:
    try:
        from pipelines import store_status

        status = store_status(path, check_missing=False)
    except Exception:  # noqa: BLE001 - freshness is informative; the page works without it
        return {"?": "unknown"}
    return {
        row.ensemble_id: (row.state if not row.reason else f"{row.state}: {row.reason}")
        for row in status.itertuples()
        if isinstance(row.ensemble_id, str)
    }


@st.cache_resource(show_spinner=False, max_entries=4)
def _freshness_job(fp: tuple) -> concurrent.futures.Future:
    return concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="freshness").submit(
        _compute_freshness, fp[0]
    )


def freshness(fp: tuple | None) -> dict[str, str] | None:
    """Ensemble id -> ``fresh`` / ``stale: why`` (the pipelines' own check), or None while it is computed.

    The check loads the simulator and hashes the parameter files (seconds on a cold server), so it
    runs in the background and the Overview fills the column in when it is done.
    """
    if fp is None:
        return {}
    job = _freshness_job(fp)
    return job.result() if job.done() else None


@st.cache_resource(show_spinner=False)
def _sim_catalogue() -> dict[str, Metric]:
    try:
        from sim import metrics_catalog

        infos = metrics_catalog.by_name()
    except Exception:  # noqa: BLE001 - the dashboard still works on a store without the simulator
        return {}
    return {n: Metric(n, i.unit, i.description, bool(i.log_scale), i.module) for n, i in infos.items()}


def _catalogue() -> dict[str, Metric]:
    """The store's copy of the metric catalogue (what its ensembles were computed with), else the simulator's."""
    return _catalogue_of(store.fingerprint())


@st.cache_resource(show_spinner=False, max_entries=4)
def _catalogue_of(fp: tuple | None) -> dict[str, Metric]:
    out = {}
    try:
        frame = store.metric_catalogue() if fp else None
    except Exception:  # noqa: BLE001
        frame = None
    if frame is not None and len(frame):
        for row in frame.itertuples():
            out[row.name] = Metric(
                row.name,
                row.unit or "",
                row.description or "",
                None if pd.isna(row.log_scale) else bool(row.log_scale),
                row.module or "",
            )
        return out
    return _sim_catalogue()


def metric(name: str) -> Metric:
    return _catalogue().get(name) or Metric(name, "", "", None)


def is_catalogued(name: str) -> bool:
    return name in _catalogue()


def metric_order(names: list[str]) -> list[str]:
    """Store metric names in catalogue order (updater order), unknown ones last."""
    order = {n: i for i, n in enumerate(_catalogue())}
    return sorted(names, key=lambda n: (order.get(n, len(order)), n))


def wants_log(name: str, low: float, high: float) -> bool:
    """Log axis from the catalogue, else when the data are positive and span three orders of magnitude."""
    info = metric(name)
    if info.log_scale is not None:
        return info.log_scale and low > 0
    return bool(low > 0 and math.isfinite(high) and high / low >= 1e3)


@st.cache_resource(show_spinner=False)
def scenario_names() -> list[tuple[str, str]]:
    try:
        from sim import list_scenarios

        return list(list_scenarios())
    except Exception:  # noqa: BLE001
        return []


@st.cache_resource(show_spinner=False)
def load_scenario(name: str):
    from sim import load_scenario as _load

    return _load(name)


def updater_of(module: str) -> str:
    """Which part of the simulator reads a parameter module."""
    if module == "simulation":
        return "sim.simulate (run settings)"
    for reader in (f"sim.updaters.{module}", f"sim.{module}"):  # an updater, or a module such as sim.takeoff
        try:
            importlib.import_module(reader)
        except Exception:  # noqa: BLE001
            continue
        return reader
    return f"{module} (no updater found)"


@st.cache_data(show_spinner=False)
def _sim_parameter_table(scenario: str) -> pd.DataFrame:
    return load_scenario(scenario).model_parameters.table()


def parameter_table(label: str = "baseline") -> pd.DataFrame:
    """Every parameter of an ensemble: value, unit, distribution, 10-90% range, bounds, source, updater.

    Read from the store (``parameter_specs``: exactly what the ensemble was computed with); for a
    store without it, from the simulator's parameter files for the named scenario.
    """
    table = pd.DataFrame()
    ids = store.resolve([label])
    if ids:
        table = store.parameter_specs(ids[label])
    if table.empty:
        try:
            table = _sim_parameter_table(label.removeprefix("user/"))
        except Exception:  # noqa: BLE001
            return pd.DataFrame(
                columns=[
                    "name",
                    "module",
                    "value",
                    "unit",
                    "distribution",
                    "p10",
                    "p90",
                    "min",
                    "max",
                    "description",
                    "source",
                    "updater",
                    "template",
                    "actor",
                ]
            )
    table = table.copy()
    if "module" not in table:
        table["module"] = table["name"].str.split(".").str[0]
    if "actor" not in table or "template" not in table:  # the store keeps names only: module.ACTOR.parameter
        parts = table["name"].astype(str).str.split(".")
        per_actor = parts.str.len() == 3
        table["actor"] = parts.str[1].where(per_actor, "")
        table["template"] = (parts.str[0] + "." + parts.str[-1]).where(per_actor, table["name"])
    table["actor"] = table["actor"].fillna("")
    table["updater"] = table["module"].map(updater_of)
    return table


def units() -> dict[str, str]:
    """Parameter name -> unit (baseline parameter table)."""
    table = parameter_table("baseline")
    return dict(zip(table["name"], table["unit"].fillna("")))


#: Metrics that diverge at finite progress (faithful to the model), so their full log range (up to ~1e180)
#: hides the part people read. Their fan chart's default y range stops at 10x the 90th percentile of the
#: named parameter in the ensemble (the AC time horizon: the climb up to AC); the range control shows all.
DECISION_CEILING = {"time_horizon_minutes": "software_rnd.ac_time_horizon_minutes"}


"""Batch pipelines: Monte Carlo ensembles of the simulator, precomputed into a DuckDB store.

Public API (what the dashboard and scripts use)::

    from pipelines import DEFAULT_DB, build_default_store, run_user_ensemble, reader
    build_default_store()                                   # every named scenario, 1,000 samples each
    eid = run_user_ensemble("baseline", {"software_rnd.present_doubling_time": 0.4}, n=500)
    with reader() as con:                                   # short-lived read-only connection
        con.execute("SELECT * FROM quantiles WHERE ensemble_id = ?", [eid]).df()

Command line: ``python -m pipelines run | status | schedule | sql | export`` (``--help`` on each).
Store schema and concurrency model: ``pipelines/README.md``.
"""

from pipelines.errors import DiskFull, PipelineError, ScenarioError, StoreLocked, StoreMissing
from pipelines.store import DEFAULT_DB, connect_readonly, read_ensembles, reader, store_token

_LAZY = {  # these import the simulator (torch): load them only when asked for
    **dict.fromkeys(["EnsembleRequest", "EnsembleResult", "build_default_store", "refresh_stale", "run_ensembles",
                     "run_user_ensemble", "validate_overrides"], "pipelines.runner"),
    "store_status": "pipelines.status",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pipelines' has no attribute {name!r}")


__all__ = [
    "DEFAULT_DB", "DiskFull", "EnsembleRequest", "EnsembleResult", "PipelineError", "ScenarioError", "StoreLocked",
    "StoreMissing", "build_default_store", "connect_readonly", "read_ensembles", "reader", "refresh_stale",
    "run_ensembles", "run_user_ensemble", "store_status", "store_token", "validate_overrides",
]

"""What is in the store and whether each ensemble is still up to date."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pipelines import simulation
from pipelines.errors import ScenarioError
from pipelines.staging import read_progress
from pipelines.store import read_ensembles, resolve_db, staging_dir

STATUS_COLUMNS = ["ensemble_id", "scenario", "kind", "n_samples", "seed", "model_version", "param_hash",
                  "finished_at", "duration_s", "state", "reason"]


def store_status(db: str | Path | None = None, *, check_missing: bool = True) -> pd.DataFrame:
    """One row per stored ensemble (plus interrupted ones in staging and named scenarios not stored yet).

    ``state``: ``fresh`` (matches the current parameter files and model version), ``stale``
    (recomputed by the next ``run``/``schedule``), ``unknown`` (its scenario can no longer be
    loaded), ``partial`` (interrupted; rerun to complete) or ``missing`` (a named scenario with no
    ensemble yet).
    """
    db = resolve_db(db)
    stored = read_ensembles(db)
    rows = []
    cache: dict[tuple, simulation.LoadedScenario | str] = {}
    current_version = simulation.model_version()
    for row in stored.itertuples():
        overrides = json.loads(row.overrides) if isinstance(row.overrides, str) and row.overrides else {}
        key = (row.source or row.scenario, json.dumps(overrides, sort_keys=True))
        if key not in cache:
            try:
                cache[key] = simulation.load(key[0], overrides)
            except ScenarioError as err:
                cache[key] = str(err)
        loaded = cache[key]
        if isinstance(loaded, str):
            state, reason = "unknown", f"scenario cannot be loaded: {loaded}"
        elif row.model_version != current_version:
            state, reason = "stale", f"model version {row.model_version} -> {current_version}"
        elif row.param_hash != loaded.param_hash:
            state, reason = "stale", f"parameter files changed ({row.param_hash} -> {loaded.param_hash})"
        else:
            state, reason = "fresh", ""
        rows.append({"ensemble_id": row.ensemble_id, "scenario": row.scenario, "kind": row.kind,
                         "n_samples": row.n_samples, "seed": row.seed, "model_version": row.model_version,
                         "param_hash": row.param_hash, "finished_at": row.finished_at, "duration_s": row.duration_s,
                         "state": state, "reason": reason})
    directory = staging_dir(db)
    for path in sorted(directory.glob("*.duckdb")) if directory.exists() else []:
        progress = read_progress(path)
        if progress is None:
            rows.append({"ensemble_id": path.stem, "scenario": "?", "kind": "?", "state": "partial",
                             "reason": "being computed by another process (or unreadable staging file)"})
            continue
        ident, done = progress
        rows.append({"ensemble_id": ident["ensemble_id"], "scenario": ident["scenario"], "kind": ident["kind"],
                         "n_samples": ident["n_samples"], "seed": ident["seed"], "model_version": ident["model_version"],
                         "param_hash": ident["param_hash"], "state": "partial",
                         "reason": f"{done}/{ident['n_samples'] + 1} runs computed (incl. central run); "
                                f"rerun the same command to complete it"})
    if check_missing:
        stored_named = set(stored.loc[stored["kind"] == "named", "scenario"]) if len(stored) else set()
        try:
            named = simulation.list_named()
        except ScenarioError as err:
            named = []
            rows.append({"scenario": "?", "state": "unknown", "reason": str(err)})
        for name, _ in named:
            if name not in stored_named:
                rows.append({"scenario": name, "kind": "named", "state": "missing",
                                 "reason": "not in the store; `python -m pipelines run --all` computes it"})
    frame = pd.DataFrame(rows, columns=STATUS_COLUMNS)
    for column in ("n_samples", "seed"):  # integers, blank (not NaN) where a row has none
        frame[column] = pd.to_numeric(frame[column]).astype("Int64")
    return frame

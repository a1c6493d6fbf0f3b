"""Calibration targets: historical observations of model metrics, read from ``data/`` CSVs.

Every observation is one number with its stated uncertainty, compared with one recorded metric
of the simulator at one date. Errors are Gaussian in log space:

    r_i = (ln m_i − ln y_i) / σ_i,   σ_i = (ln hi_i − ln lo_i) / (2 z_i)      (space = "log")
    r_i = (m_i − y_i) / σ_i,         σ_i = (hi_i − lo_i) / (2 z_i)            (space = "linear")

with ``[lo, hi]`` the stated confidence interval of level c and z = Φ⁻¹((1 + c)/2). "linear"
is for metrics that already are logarithms (``training_compute_ooms``, in log10 FLOP) or rates.

Three file formats are read (chosen by their header; ``FORMATS``):

- ``metr``: METR's time horizons (``data/metr_time_horizons.csv``): the 80% horizon
  (``p80_minutes``, CI ``p80_ci_low``/``p80_ci_high``) of the state-of-the-art rows
  (``is_sota``) against ``time_horizon_minutes`` (the module's 80% coding horizon);
- ``training_compute``: ``data/frontier_training_compute.csv``: ``training_flop`` of the
  frontier rows (``is_frontier``) against ``training_compute_ooms``;
- ``targets``: any series, one row per observation: ``metric, year, value, low, high, ci_level,
  source`` (+ optional ``label``, ``space``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from sim import metrics_catalog

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
METR_FILE = DATA_DIR / "metr_time_horizons.csv"
TRAINING_COMPUTE_FILE = DATA_DIR / "frontier_training_compute.csv"
#: METR reports bootstrap confidence intervals at 95% ("Measuring AI Ability to Complete Long Tasks", 2025).
METR_CI_LEVEL = 0.95

#: Columns of the table every format is converted to.
COLUMNS = ("series", "label", "metric", "year", "value", "sigma", "space", "source", "file", "line")


class DataError(ValueError):
    """A data file that cannot be used; the message names the file, line and column."""

    def __init__(self, file: str | Path, line: int | None, column: str | None, message: str):
        where = str(file) + (f", line {line}" if line else "") + (f", column '{column}'" if column else "")
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Format:
    name: str
    required: tuple[str, ...]
    detect: tuple[str, ...]  # columns whose presence selects this format


FORMATS = (
    Format("metr", ("model", "release_date", "p80_minutes", "p80_ci_low", "p80_ci_high", "is_sota"),
           ("p80_minutes",)),
    Format("training_compute", ("model", "release_date", "training_flop", "low", "high", "ci_level", "is_frontier",
                                "source"), ("training_flop",)),
    Format("targets", ("metric", "year", "value", "low", "high", "ci_level", "source"), ()),
)


def decimal_year(dates: pd.Series) -> np.ndarray:
    """``YYYY-MM-DD`` -> decimal year (day of year / days in year)."""
    d = pd.to_datetime(dates)
    days = np.where(d.dt.is_leap_year, 366.0, 365.0)
    return d.dt.year.to_numpy(float) + (d.dt.day_of_year.to_numpy(float) - 1.0) / days


def z_of(level: float | np.ndarray) -> np.ndarray:
    return stats.norm.ppf(0.5 * (1.0 + np.asarray(level, dtype=float)))


def _truthy(series: pd.Series) -> np.ndarray:
    return series.astype(str).str.strip().str.lower().isin(("true", "1", "yes")).to_numpy()


def read_observations(path: str | Path, sota_only: bool = True) -> pd.DataFrame:
    """One row per observation (columns ``COLUMNS``) from a data file in any of ``FORMATS``."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, None, "data file not found")
    try:
        frame = pd.read_csv(path, comment="#")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(path, None, None, f"cannot read as CSV ({err})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    fmt = next((f for f in FORMATS if f.detect and all(c in frame.columns for c in f.detect)), FORMATS[-1])
    missing = [c for c in fmt.required if c not in frame.columns]
    if missing:
        raise DataError(path, 1, missing[0], f"missing column(s) {', '.join(missing)} (a {fmt.name!r} file needs "
                                             f"{', '.join(fmt.required)})")
    lines = np.arange(len(frame)) + 2
    if fmt.name == "metr":
        keep = _truthy(frame["is_sota"]) if sota_only else np.ones(len(frame), bool)
        out = pd.DataFrame({
            "series": "metr_p80_horizon", "label": frame["model"], "metric": "time_horizon_minutes",
            "year": decimal_year(frame["release_date"]), "value": frame["p80_minutes"],
            "low": frame["p80_ci_low"], "high": frame["p80_ci_high"], "ci_level": METR_CI_LEVEL,
            "space": "log", "source": "METR (2025), Measuring AI Ability to Complete Long Tasks; " + path.name,
            "line": lines})[keep]
    elif fmt.name == "training_compute":
        keep = _truthy(frame["is_frontier"]) if sota_only else np.ones(len(frame), bool)
        out = pd.DataFrame({
            "series": "frontier_training_compute", "label": frame["model"], "metric": "training_compute_ooms",
            "year": decimal_year(frame["release_date"]), "value": np.log10(frame["training_flop"].astype(float)),
            "low": np.log10(frame["low"].astype(float)), "high": np.log10(frame["high"].astype(float)),
            "ci_level": frame["ci_level"], "space": "linear", "source": frame["source"], "line": lines})[keep]
    else:
        out = pd.DataFrame({
            "series": frame.get("series", pd.Series([path.stem] * len(frame))), "metric": frame["metric"],
            "label": frame.get("label", frame["metric"].astype(str) + "@" + frame["year"].astype(str)),
            "year": frame["year"], "value": frame["value"], "low": frame["low"], "high": frame["high"],
            "ci_level": frame["ci_level"], "space": frame.get("space", pd.Series(["log"] * len(frame))),
            "source": frame["source"], "line": lines})
    out = out.reset_index(drop=True)
    out["file"] = str(path)
    return _validate(out, path)


def _validate(out: pd.DataFrame, path: Path) -> pd.DataFrame:
    known = {m.name for m in metrics_catalog.world_metrics()}
    sigma = []
    for row in out.itertuples():
        for column in ("year", "value", "low", "high", "ci_level"):
            try:
                x = float(getattr(row, column))
            except (TypeError, ValueError):
                raise DataError(path, row.line, column, f"expected a number, got {getattr(row, column)!r}") from None
            if not math.isfinite(x):
                raise DataError(path, row.line, column, "value must be finite")
        if row.metric not in known:
            raise DataError(path, row.line, "metric", f"unknown metric {row.metric!r} (see sim.metrics_catalog)")
        if row.space not in ("log", "linear"):
            raise DataError(path, row.line, "space", f"space must be 'log' or 'linear', got {row.space!r}")
        if not 0 < float(row.ci_level) < 1:
            raise DataError(path, row.line, "ci_level", f"ci_level must be in (0, 1), got {row.ci_level}")
        lo, hi, v = float(row.low), float(row.high), float(row.value)
        if not lo < hi or not lo <= v <= hi:
            raise DataError(path, row.line, "low", f"need low < high and low <= value <= high (got {lo:g}, {v:g}, "
                                                   f"{hi:g})")
        if row.space == "log":
            if lo <= 0:
                raise DataError(path, row.line, "low", "log-space errors need positive values")
            sigma.append((math.log(hi) - math.log(lo)) / (2 * float(z_of(row.ci_level))))
        else:
            sigma.append((hi - lo) / (2 * float(z_of(row.ci_level))))
    out = out.assign(sigma=sigma, year=out["year"].astype(float), value=out["value"].astype(float))
    return out[list(COLUMNS)]


def load_observations(paths: list[str | Path] | None = None, sota_only: bool = True) -> pd.DataFrame:
    """Observations from several files (default: METR's 80% horizons), sorted by date."""
    paths = list(paths) if paths else [METR_FILE]
    frames = [read_observations(p, sota_only) for p in paths]
    out = pd.concat(frames, ignore_index=True).sort_values(["year", "series"], kind="stable")
    return out.reset_index(drop=True)

"""The result of a simulation: series per time point, milestones, per-sample status and classes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from sim.milestones import milestone_percentiles
from sim.solver import STATUS_NAMES

#: Milestones in the order users read them (others follow alphabetically).
MILESTONE_ORDER = ("AC", "SAR", "SIAR", "TED-AI", "ASI")
CLASS_KEYS = ("growth", "labor_share", "wages")


def _nan_to_none(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass
class Trajectory:
    """Batched simulation output.

    ``series[name]`` is ``[B, T]`` on ``years`` ``[T]``; ``milestones[name]`` and
    ``run_metrics[name]`` are ``[B]`` (NaN: not reached / not defined); ``status`` is one of
    ``ok``, ``diverged``, ``singularity`` per sample with ``status_year`` (NaN when ok); values
    recorded after a sample's status year are NaN (the sample was stopped there, see the solver).
    """

    years: Tensor
    series: dict[str, Tensor]
    milestones: dict[str, Tensor]
    status_code: Tensor
    status_year: Tensor
    run_metrics: dict[str, Tensor] = field(default_factory=dict)
    classes: dict[str, list[str]] = field(default_factory=dict)
    event_times: dict[str, Tensor] = field(default_factory=dict)
    scenario: str = ""
    wall_seconds: float = 0.0
    solver_steps: int = 0

    @staticmethod
    def concat(parts: list["Trajectory"]) -> "Trajectory":
        """Join trajectories of the same grid along the batch (samples in the order given)."""
        first = parts[0]

        def cat(key: str) -> dict[str, Tensor]:
            return {n: torch.cat([getattr(p, key)[n] for p in parts]) for n in getattr(first, key)}

        return Trajectory(
            years=first.years, series=cat("series"), milestones=cat("milestones"),
            status_code=torch.cat([p.status_code for p in parts]),
            status_year=torch.cat([p.status_year for p in parts]),
            run_metrics=cat("run_metrics"),
            classes={n: [c for p in parts for c in p.classes[n]] for n in first.classes},
            event_times=cat("event_times"), scenario=first.scenario,
            wall_seconds=max(p.wall_seconds for p in parts), solver_steps=max(p.solver_steps for p in parts))

    # -- shape ---------------------------------------------------------------------------------
    @property
    def batch_size(self) -> int:
        return int(self.status_code.shape[0])

    @property
    def metrics(self) -> dict[str, Tensor]:
        return self.series

    @property
    def status(self) -> list[str]:
        return [STATUS_NAMES[int(c)] for c in self.status_code]

    def milestone_names(self) -> list[str]:
        ordered = [m for m in MILESTONE_ORDER if m in self.milestones]
        return ordered + sorted(m for m in self.milestones if m not in ordered)

    # -- tables ----------------------------------------------------------------------------------
    def to_wide(self, metrics: list[str] | None = None, every: int = 1) -> pd.DataFrame:
        """One row per (sample, year) with one column per metric; ``every`` thins the time grid."""
        names = metrics or list(self.series)
        years = self.years[::every].detach().cpu().numpy()
        B, T = self.batch_size, len(years)
        frame = pd.DataFrame({"sample": np.repeat(np.arange(B), T), "year": np.tile(years, B)})
        for name in names:
            frame[name] = self.series[name][:, ::every].detach().cpu().numpy().reshape(-1)
        return frame

    def to_dataframe(self, metrics: list[str] | None = None, every: int = 1) -> pd.DataFrame:
        """Tidy table ``(sample, year, metric, value)``."""
        wide = self.to_wide(metrics, every)
        return wide.melt(id_vars=["sample", "year"], var_name="metric", value_name="value")

    def milestones_dataframe(self, wide: bool = False) -> pd.DataFrame:
        """One row per sample (``wide``) or per (sample, milestone) with its year (NaN = not reached)."""
        names = self.milestone_names()
        data = {"sample": np.arange(self.batch_size)}
        for name in names:
            data[name] = self.milestones[name].detach().cpu().numpy()
        frame = pd.DataFrame(data)
        if wide:
            return frame
        return frame.melt(id_vars=["sample"], var_name="milestone", value_name="year")

    def runs_dataframe(self) -> pd.DataFrame:
        """One row per sample: status, status year, takeoff classes and per-run metrics."""
        frame = pd.DataFrame({
            "sample": np.arange(self.batch_size),
            "status": self.status,
            "status_year": self.status_year.detach().cpu().numpy(),
        })
        for key in CLASS_KEYS:
            frame[f"{key}_class"] = self.classes.get(key, [None] * self.batch_size)
        for name, values in self.run_metrics.items():
            frame[name] = values.detach().cpu().numpy()
        return frame

    # -- JSON (the CLI's documented shape) ---------------------------------------------------------
    def summary(self) -> dict:
        out: dict = {"milestones": {}, "status": {}}
        for name in self.milestone_names():
            # one definition of a milestone percentile (also the store's view and the dashboard)
            out["milestones"][name] = milestone_percentiles(self.milestones[name].detach().cpu().numpy())
        for s in self.status:
            out["status"][s] = out["status"].get(s, 0) + 1
        if self.classes:
            table: dict = {}
            for i in range(self.batch_size):
                key = " / ".join(self.classes[k][i] for k in CLASS_KEYS if k in self.classes)
                table[key] = table.get(key, 0) + 1
            out["takeoff_classes"] = table
        return out

    def to_json_dict(self, seed: int | None = None, final_metrics: list[str] | None = None) -> dict:
        final_metrics = final_metrics if final_metrics is not None else list(self.series)
        samples = []
        status, status_year = self.status, self.status_year.detach().cpu().numpy()
        milestone_values = {m: self.milestones[m].detach().cpu().numpy() for m in self.milestone_names()}
        finals = {}
        for name in final_metrics:
            values = self.series[name].detach().cpu().numpy()
            # last finite value per sample (samples stopped early keep the value where they stopped)
            finite = np.isfinite(values)
            last = np.where(finite.any(1), values.shape[1] - 1 - np.argmax(finite[:, ::-1], axis=1), 0)
            finals[name] = values[np.arange(values.shape[0]), last]
        for i in range(self.batch_size):
            sample = {
                "index": i,
                "status": status[i],
                "status_year": _nan_to_none(status_year[i]),
                "milestones": {m: _nan_to_none(v[i]) for m, v in milestone_values.items()},
                "final": {name: _nan_to_none(v[i]) for name, v in finals.items()},
            }
            if self.classes:
                sample["takeoff"] = {k: self.classes[k][i] for k in CLASS_KEYS if k in self.classes}
            if self.run_metrics:
                sample["run_metrics"] = {k: _nan_to_none(float(v[i])) for k, v in self.run_metrics.items()}
            samples.append(sample)
        return {"scenario": self.scenario, "seed": seed, "n_samples": self.batch_size,
                "summary": self.summary(), "samples": samples}


def mask_after_status(series: dict[str, Tensor], years: Tensor, status_year: Tensor) -> dict[str, Tensor]:
    """NaN out values recorded after each flagged sample's status year."""
    stopped = torch.isfinite(status_year)
    if not stopped.any():
        return series
    after = stopped[:, None] & (years[None, :] > status_year[:, None])
    # in place where no gradient needs the unmasked values (a copy per metric is ~35 MB at 10,000 samples)
    return {k: v.masked_fill_(after, float("nan")) if not v.requires_grad else v.masked_fill(after, float("nan"))
            for k, v in series.items()}

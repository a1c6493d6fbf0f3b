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

    Per-actor results: ``actors`` (``{"nation": ids, "project": ids}``), ``actor_series[name]``
    ``[B, A, T]`` over the actors of kind ``actor_kinds[name]``, ``actor_milestones[name]`` ``[B, P]``
    (each project's milestone years; the world-level ``milestones`` are the frontier's, i.e. the
    first project's), ``actor_owners`` each project's owner nation. ``events`` lists every event
    firing as (sample, event, actor, year).
    """

    years: Tensor
    series: dict[str, Tensor]
    milestones: dict[str, Tensor]
    status_code: Tensor
    status_year: Tensor
    run_metrics: dict[str, Tensor] = field(default_factory=dict)
    classes: dict[str, list[str]] = field(default_factory=dict)
    event_times: dict[str, Tensor] = field(default_factory=dict)
    events: list[tuple[int, str, str, float]] = field(default_factory=list)
    scenario: str = ""
    actors: dict[str, tuple[str, ...]] = field(default_factory=dict)
    actor_series: dict[str, Tensor] = field(default_factory=dict)
    actor_kinds: dict[str, str] = field(default_factory=dict)
    actor_milestones: dict[str, Tensor] = field(default_factory=dict)
    actor_owners: dict[str, str] = field(default_factory=dict)  # project -> owner nation
    wall_seconds: float = 0.0
    solver_steps: int = 0

    @staticmethod
    def concat(parts: list["Trajectory"]) -> "Trajectory":
        """Join trajectories of the same grid along the batch (samples in the order given)."""
        first = parts[0]

        def cat(key: str) -> dict[str, Tensor]:
            return {n: torch.cat([getattr(p, key)[n] for p in parts]) for n in getattr(first, key)}

        offsets = np.cumsum([0] + [p.batch_size for p in parts])
        return Trajectory(
            years=first.years, series=cat("series"), milestones=cat("milestones"),
            status_code=torch.cat([p.status_code for p in parts]),
            status_year=torch.cat([p.status_year for p in parts]),
            run_metrics=cat("run_metrics"),
            classes={n: [c for p in parts for c in p.classes[n]] for n in first.classes},
            event_times=cat("event_times"), scenario=first.scenario,
            events=[(int(b + off), *rest) for p, off in zip(parts, offsets) for b, *rest in p.events],
            actors=first.actors, actor_series=cat("actor_series"), actor_kinds=first.actor_kinds,
            actor_milestones=cat("actor_milestones"), actor_owners=first.actor_owners,
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

    def actor_ids(self, name: str) -> tuple[str, ...]:
        """The actors of a per-actor series, in its second dimension."""
        return self.actors[self.actor_kinds[name]]

    def actor_metric(self, name: str, actor: str) -> Tensor:
        """``[B, T]``: one actor's series of a per-actor metric."""
        ids = self.actor_ids(name)
        if actor not in ids:
            raise KeyError(f"{actor!r} is not one of the actors of {name} ({', '.join(ids)})")
        return self.actor_series[name][:, ids.index(actor)]

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

    def actors_dataframe(self, metrics: list[str] | None = None, every: int = 1) -> pd.DataFrame:
        """Per-actor series, tidy: ``(sample, year, actor, kind, metric, value)``."""
        years = self.years[::every].detach().cpu().numpy()
        frames = []
        for name in metrics or list(self.actor_series):
            values = self.actor_series[name][..., ::every].detach().cpu().numpy()  # [B, A, T]
            B, A, T = values.shape
            ids = self.actor_ids(name)
            frames.append(pd.DataFrame({
                "sample": np.repeat(np.arange(B), A * T), "year": np.tile(years, B * A),
                "actor": np.tile(np.repeat(np.array(ids, dtype=object), T), B),
                "kind": self.actor_kinds[name], "metric": name, "value": values.reshape(-1)}))
        columns = ["sample", "year", "actor", "kind", "metric", "value"]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

    def actor_milestones_dataframe(self) -> pd.DataFrame:
        """Each project's milestone years: ``(sample, actor, milestone, year)`` (NaN = not reached)."""
        projects = self.actors.get("project", ())
        rows = []
        for name in self._ordered(self.actor_milestones):
            values = self.actor_milestones[name].detach().cpu().numpy()
            for j, actor in enumerate(projects):
                rows.append(pd.DataFrame({"sample": np.arange(values.shape[0]), "actor": actor, "milestone": name,
                                          "year": values[:, j]}))
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["sample", "actor", "milestone",
                                                                                     "year"])

    def events_dataframe(self) -> pd.DataFrame:
        """Every event firing: ``(sample, event, actor, year)``, in time order per sample."""
        return pd.DataFrame(self.events, columns=["sample", "event", "actor", "year"])

    @staticmethod
    def _ordered(names) -> list[str]:
        first = [m for m in MILESTONE_ORDER if m in names]
        return first + sorted(m for m in names if m not in first)

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

    def actor_list_dataframe(self) -> pd.DataFrame:
        """The world's actors: ``(actor, kind, owner)`` (owner: a project's nation; empty for nations)."""
        rows = [(a, kind, self.actor_owners.get(a, "") if kind == "project" else "")
                for kind in ("nation", "project") for a in self.actors.get(kind, ())]
        return pd.DataFrame(rows, columns=["actor", "kind", "owner"])

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
        if self.actor_milestones:
            projects = self.actors.get("project", ())
            out["project_milestones"] = {
                p: {m: milestone_percentiles(self.actor_milestones[m][:, j].detach().cpu().numpy())
                    for m in self._ordered(self.actor_milestones)} for j, p in enumerate(projects)}
        if self.actor_series:
            medians: dict = {}
            for name, values in self._actor_finals().items():  # [B, A]
                for j, actor in enumerate(self.actor_ids(name)):
                    column = values[:, j]
                    column = column[np.isfinite(column)]
                    medians.setdefault(actor, {})[name] = float(np.median(column)) if len(column) else None
            out["actors"] = {a: {"kind": kind, "final_median": medians.get(a, {})}
                             for kind in ("nation", "project") for a in self.actors.get(kind, ())}
        if self.events:
            counts: dict = {}
            for _, name, actor, _ in self.events:
                key = f"{name}[{actor}]" if actor else name
                counts[key] = counts.get(key, 0) + 1
            out["events"] = counts
        return out

    def _actor_finals(self) -> dict[str, np.ndarray]:
        """Last finite value of every per-actor series: ``{metric: [B, A]}``."""
        return {name: _last_finite(v.detach().cpu().numpy()) for name, v in self.actor_series.items()}

    def to_json_dict(self, seed: int | None = None, final_metrics: list[str] | None = None) -> dict:
        final_metrics = final_metrics if final_metrics is not None else list(self.series)
        samples = []
        status, status_year = self.status, self.status_year.detach().cpu().numpy()
        milestone_values = {m: self.milestones[m].detach().cpu().numpy() for m in self.milestone_names()}
        # last finite value per sample (samples stopped early keep the value where they stopped)
        finals = {name: _last_finite(self.series[name].detach().cpu().numpy()) for name in final_metrics}
        actor_finals = self._actor_finals()
        projects = self.actors.get("project", ())
        project_miles = {m: self.actor_milestones[m].detach().cpu().numpy()
                         for m in self._ordered(self.actor_milestones)}
        events: list[list[dict]] = [[] for _ in range(self.batch_size)]
        for b, name, actor, year in self.events:
            events[b].append({"name": name, "actor": actor, "year": _nan_to_none(year)})
        listed = [(a, kind) for kind in ("nation", "project") for a in self.actors.get(kind, ())]
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
            if self.actor_series or self.actor_milestones:
                actors = {}
                for actor, kind in listed:
                    entry: dict = {"kind": kind}
                    if kind == "project":
                        entry["owner"] = self.actor_owners.get(actor, "")
                    entry["final"] = {name: _nan_to_none(v[i, self.actor_ids(name).index(actor)])
                                      for name, v in actor_finals.items() if actor in self.actor_ids(name)}
                    actors[actor] = entry
                sample["actors"] = actors
                sample["project_milestones"] = {p: {m: _nan_to_none(v[i, j]) for m, v in project_miles.items()}
                                                for j, p in enumerate(projects)}
            sample["events"] = events[i]
            policy = self._policy(i)
            if policy:
                sample["policy"] = policy
            samples.append(sample)
        summary = self.summary()
        policy = self._policy_summary([s.get("policy", {}) for s in samples])
        if policy:
            summary["policy"] = policy
        return {"scenario": self.scenario, "seed": seed, "n_samples": self.batch_size,
                "summary": summary, "samples": samples}

    #: years at which the CLI reports the covert stock and the detection probability
    POLICY_YEARS = (2030, 2035, 2040)

    def _policy(self, i: int) -> dict:
        """One sample's policy results: each agreement's phase-change years (from the events) and, per
        hidden project, the covert stock and P(detected) by 2030/2035/2040 and the sampled detection year."""
        out: dict = {}
        for b, name, actor, year in self.events:
            if b == i and name.startswith("agreement_"):
                out.setdefault("agreements", {}).setdefault(actor, {})[name[len("agreement_"):]] = _nan_to_none(year)
        if "covert_stock_h100e" in self.actor_series:
            years = self.years.detach().cpu().numpy()
            hidden = {actor for b, name, actor, _ in self.events if name.startswith("covert_")}
            stock = self.actor_series["covert_stock_h100e"].detach().cpu().numpy()
            prob = self.actor_series["covert_detection_probability"].detach().cpu().numpy()
            for j, project in enumerate(self.actor_ids("covert_stock_h100e")):
                if not np.isfinite(prob[i, j]).any() and project not in hidden:
                    continue
                entry = {"stock_h100e": {}, "detection_probability": {}, "detected_year": None}
                for y in self.POLICY_YEARS:
                    if years[0] <= y <= years[-1]:
                        k = int(np.argmin(np.abs(years - y)))
                        entry["stock_h100e"][str(y)] = _nan_to_none(float(stock[i, j, k]))
                        entry["detection_probability"][str(y)] = _nan_to_none(float(prob[i, j, k]))
                entry["detected_year"] = next((_nan_to_none(year) for b, name, actor, year in self.events
                                               if b == i and name == "covert_detected" and actor == project), None)
                # in this sampled run: detected by the year or not (the summary's share is P(detected by year))
                entry["detected_by"] = {str(y): entry["detected_year"] is not None and entry["detected_year"] <= y
                                        for y in self.POLICY_YEARS if years[0] <= y <= years[-1]}
                out.setdefault("covert", {})[project] = entry
        return out

    @staticmethod
    def _policy_summary(policies: list[dict]) -> dict:
        """Across samples: each phase's share of samples reaching it and median year; per hidden
        project the median covert stock, mean P(detected) by each year and the share detected."""
        out: dict = {}
        n = len(policies)
        phases: dict = {}
        for p in policies:
            for agreement, changes in p.get("agreements", {}).items():
                for phase, year in changes.items():
                    phases.setdefault(agreement, {}).setdefault(phase, []).append(year)
        if phases:
            out["agreements"] = {a: {ph: {"share": len(v) / n, "median_year": float(np.median(v))}
                                     for ph, v in changes.items()} for a, changes in phases.items()}
        covert: dict = {}
        for p in policies:
            for project, entry in p.get("covert", {}).items():
                c = covert.setdefault(project, {"stock": {}, "prob": {}, "detected": [], "by": {}})
                for y, v in entry.get("detected_by", {}).items():
                    c["by"].setdefault(y, []).append(bool(v))
                for y, v in entry["stock_h100e"].items():
                    c["stock"].setdefault(y, []).append(np.nan if v is None else v)
                for y, v in entry["detection_probability"].items():
                    c["prob"].setdefault(y, []).append(np.nan if v is None else v)
                if entry["detected_year"] is not None:
                    c["detected"].append(entry["detected_year"])
        if covert:
            out["covert"] = {project: {
                "stock_h100e_median": {y: float(np.nanmedian(v)) for y, v in c["stock"].items()},
                "detection_probability_mean": {y: float(np.nanmean(v)) for y, v in c["prob"].items()},
                "share_detected": len(c["detected"]) / n,
                # the Monte Carlo P(covert project detected by year): share of runs detected by then
                "detected_by_share": {y: float(np.mean(v)) for y, v in c["by"].items()},
                "detected_year_median": float(np.median(c["detected"])) if c["detected"] else None}
                for project, c in covert.items()}
        return out


def _last_finite(values: np.ndarray) -> np.ndarray:
    """The last finite value along the time axis (``[..., T]`` -> ``[...]``; the first value if none is)."""
    finite = np.isfinite(values)
    T = values.shape[-1]
    last = np.where(finite.any(-1), T - 1 - np.argmax(finite[..., ::-1], axis=-1), 0)
    return np.take_along_axis(values, last[..., None], axis=-1)[..., 0]


def mask_after_status(series: dict, years: Tensor, status_year: Tensor) -> dict:
    """NaN out values recorded after each flagged sample's status year (``[B, T]`` and ``[B, A, T]``)."""
    stopped = torch.isfinite(status_year)
    if not stopped.any():
        return series
    after = stopped[:, None] & (years[None, :] > status_year[:, None])

    def mask(v: Tensor) -> Tensor:
        m = after if v.dim() == 2 else after[:, None, :]
        # in place where no gradient needs the unmasked values (a copy per metric is ~35 MB at 10,000 samples)
        return v.masked_fill_(m, float("nan")) if not v.requires_grad else v.masked_fill(m, float("nan"))

    return {k: mask(v) for k, v in series.items()}

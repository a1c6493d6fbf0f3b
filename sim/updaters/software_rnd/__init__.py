"""Software R&D of the leading AI project: the AI Futures Project's Dec-2025 model (README.md).

State written: ``ai_projects.leading.progress_ooms`` (P) and ``.research_stock`` (RS).
State read: P, RS, ``training_compute_ooms`` (for software efficiency). Exogenous inputs come from
``sim.updaters.compute.series`` (the same schedule the compute module uses).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from sim.updaters.base import StateUpdater
from sim.updaters.compute.series import load_input_series, schedule_from_params
from sim.updaters.software_rnd.milestones import software_milestones
from sim.updaters.software_rnd.model import SoftwareRnDModel, calibrate, rk4_integrate
from sim.world import AIProject, StateDerivative, World

PROJECT = "leading"
_PATH = f"ai_projects.{PROJECT}."


def _m(name: str, unit: str, description: str, log_scale: bool) -> dict:
    return {"name": name, "path": _PATH + name, "unit": unit, "description": description, "log_scale": log_scale}


#: Metric catalogue entries of this module.
METRICS = [
    _m("progress_ooms", "OOMs", "Cumulative progress P: log10 effective compute since the calibration start", False),
    _m("research_stock", "model units", "Software research stock RS", True),
    _m("effective_compute_ooms", "log10 FLOP-equivalent", "Training compute x software efficiency "
       "(equal to the reference run, 26.54, at 2025.13)", False),
    _m("software_efficiency_ooms", "OOMs", "log10 software efficiency (0 at 2025.13)", False),
    _m("time_horizon_minutes", "minutes", "80% coding time horizon", True),
    _m("automation_fraction", "fraction", "Share of coding tasks AIs can do", False),
    _m("coding_labor", "human-coder equivalents", "Aggregate (parallel) coding labour, optimal CES of humans and AI",
       True),
    _m("serial_coding_labor", "model units", "Serial coding labour (coding labour ^ parallel penalty)", True),
    _m("ai_coding_labor_multiplier", "x", "Coding labour over human coders", True),
    _m("ai_coding_labor_multiplier_present_resources", "x",
       "Coding labour with present-day coders and compute and the AI of this time, over present-day coders", True),
    _m("serial_coding_labor_multiplier", "x", "Serial coding labour over its human-only value", True),
    _m("experiment_throughput", "model units", "Experiment capacity: CES of experiment compute and serial labour",
       True),
    _m("ai_research_taste", "x median taste", "AI research taste", True),
    _m("ai_research_taste_sd", "SD", "AI research taste in SDs of the human distribution", False),
    _m("ai_research_taste_quantile", "quantile", "AI research taste as a quantile of human researchers", False),
    _m("aggregate_research_taste", "x", "Mean research taste with humans below the AI lifted to it", True),
    _m("research_effort", "model units/yr", "Research effort = aggregate taste x experiment throughput", True),
    _m("software_progress_rate", "OOM/yr", "Growth rate of software efficiency", False),
    _m("progress_rate", "OOM/yr", "dP/dt: software progress plus training-compute growth", False),
    _m("ai_rnd_uplift", "x", "AI software R&D uplift: software progress rate with present-day resources and the AI "
       "of this time, over today's human-only rate (the AIR-Nx milestones)", True),
]

#: Series the milestones are computed from (``simulate`` must record them whenever milestones are wanted).
MILESTONE_SERIES = ("progress_ooms", "ai_research_taste_sd", "ai_rnd_uplift",
                    "ai_coding_labor_multiplier_present_resources")

MILESTONES = ("AC", "SAR", "SIAR", "TED-AI", "ASI", "STRAT-AI", "AI2027-SC", "AIR-5x", "AIR-25x", "AIR-250x",
              "AIR-2000x", "AIR-10000x")

#: Per-run scalars of this module.
RUN_METRICS = [
    {"name": "software_rnd_r", "path": "", "unit": "", "description": "Calibrated Jones-law exponent r"},
    {"name": "software_rnd_anchor_rate", "path": "", "unit": "OOM/yr",
         "description": "Present-day human-only progress rate (converts per-progress-year inputs)"},
    {"name": "software_rnd_progress_at_ac", "path": "", "unit": "OOMs", "description": "Progress threshold of AC (P_AC)"},
    {"name": "software_rnd_automation_now", "path": "", "unit": "fraction",
         "description": "Solved present-day coding automation fraction"},
]

# progress_ooms is state, but the recorded value is the invariant P(RS, t) (see model.progress)
_METRIC_FIELDS = [m["name"] for m in METRICS if m["name"] != "research_stock"]


class SoftwareRAndD(StateUpdater):
    """Progress P and research stock RS of the leading project (see the package README)."""

    name = "software_rnd"
    required_series = MILESTONE_SERIES

    def prepare(self, params, t0: float) -> None:
        self.params = params
        schedule = schedule_from_params(params, load_input_series())
        model = calibrate(params, schedule)
        # Spin-up: integrate from the calibration start so that the state at the start year and
        # the progress at the present day and at the training-compute reference year (anchors of
        # the horizon and effective-compute metrics) are this run's own. Up to the start year the
        # spin-up sets the initial state (fine step); beyond it, it only places the metric anchors
        # (coarse step).
        ref_year = params.scalar("compute.training_compute_reference_year")
        anchors = [model.present_day, ref_year]
        start = max(t0, model.t0)
        states = {}
        rs = None
        if start > model.t0:
            (_, rs), states = rk4_integrate(model, model.t0, start, params.scalar("software_rnd.spinup_step_years"),
                                            record=anchors + [start])
        later = [a for a in anchors if a > start]
        if later:
            _, more = rk4_integrate(model, start, max(later), params.scalar("software_rnd.anchor_spinup_step_years"),
                                    research_stock=rs, record=later)
            states.update(more)
        self.initial = states[start] if start > model.t0 else model.initial_state()
        model.p_now = states[model.present_day][0]
        model.p_reference = states[ref_year][0]
        model.pure = self.stateless  # (the spin-up above ran with caches and search hints)
        self.model: SoftwareRnDModel = model
        self.reference_ooms = params["compute.training_compute_reference_ooms"]

    def initialize(self, t0: Tensor, world: World) -> World:
        p, rs = self.initial
        project = dataclasses.replace(world.ai_projects[PROJECT], progress_ooms=p.to(t0.dtype),
                                      research_stock=rs.to(t0.dtype))
        return _with_project(world, project)

    def contribute_state_derivatives(self, t: Tensor, world: World) -> StateDerivative:
        project = world.ai_projects[PROJECT]
        _, dp, drs = self.model.derivatives(t, project.research_stock)
        return StateDerivative.sparse(ai_projects={PROJECT: AIProject(progress_ooms=dp, research_stock=drs)})

    def project_state(self, t: Tensor, world: World) -> World:
        """Put P back on the invariant P(RS, t) (see model.progress). RK4 on dP/dt overshoots P by
        many OOMs through explosive take-offs while RS stays accurate, so the economy, which reads
        P, must see the invariant."""
        project = world.ai_projects[PROJECT]
        project = dataclasses.replace(project, progress_ooms=self.model.progress(t, project.research_stock))
        return _with_project(world, project)

    def metrics_and_derivatives(self, t: Tensor, world: World, state: World) -> tuple[World, StateDerivative]:
        """The metrics already hold dP/dt (the progress rate, clamped as in the dynamics) and
        dRS/dt (the research effort): one evaluation of the model serves both."""
        world, values = self._with_metrics(t, world)
        dp = torch.clamp(values["progress_rate"], max=self.model.max_progress_rate)
        project = AIProject(progress_ooms=dp, research_stock=values["research_effort"])
        return world, StateDerivative.sparse(ai_projects={PROJECT: project})

    def set_metric_attributes(self, t: Tensor, world: World) -> World:
        return self._with_metrics(t, world)[0]

    def _with_metrics(self, t: Tensor, world: World) -> tuple[World, dict[str, Tensor]]:
        project = world.ai_projects[PROJECT]
        values = self.model.metrics(t, project.research_stock)
        values["progress_ooms"] = values["progress_ooms"]
        effective = values["progress_ooms"] - self.model.p_reference + self.reference_ooms
        values["effective_compute_ooms"] = effective
        if project.training_compute_ooms is not None:
            values["software_efficiency_ooms"] = effective - project.training_compute_ooms
        project = dataclasses.replace(project, **{k: v for k, v in values.items() if k in _METRIC_FIELDS})
        return _with_project(world, project), values

    def milestones(self, years: Tensor, series) -> dict[str, Tensor]:
        m, p = self.model, self.params
        top_sd = torch.special.ndtri(p["software_rnd.top_researcher_percentile"])
        return software_milestones(
            years, _get(series, "progress_ooms"), _get(series, "ai_research_taste_sd"), _get(series, "ai_rnd_uplift"),
            _get(series, "ai_coding_labor_multiplier_present_resources"), m.p_ac, top_sd,
            p["software_rnd.strat_ai_m2t"], p["software_rnd.ted_ai_m2t"], m.parallel_penalty,
            p["software_rnd.ai2027_sc_serial_multiplier"], p["software_rnd.ai2027_sc_parallel_factor"])

    def run_metrics(self, years: Tensor, series) -> dict[str, Tensor]:
        m = self.model
        return {"software_rnd_r": m.r, "software_rnd_anchor_rate": m.anchor_rate,
                "software_rnd_progress_at_ac": m.p_ac, "software_rnd_automation_now": m.automation_now}


def _get(series, name: str) -> Tensor:
    if name in series:
        return series[name]
    if _PATH + name in series:
        return series[_PATH + name]
    raise KeyError(f"software_rnd milestones need the series {name!r}; record {', '.join(MILESTONE_SERIES)}")


def _with_project(world: World, project: AIProject) -> World:
    projects = dict(world.ai_projects)
    projects[PROJECT] = project
    return dataclasses.replace(world, ai_projects=projects)


UPDATER = SoftwareRAndD

__all__ = ["METRICS", "MILESTONES", "MILESTONE_SERIES", "RUN_METRICS", "UPDATER", "SoftwareRAndD"]

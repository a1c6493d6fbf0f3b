"""Software R&D of every AI project: the AI Futures Project's Dec-2025 model (README.md).

State written: ``ai_projects.research_stock`` (RS, ``[B, P]``). Derived values: progress P,
research effort, coding automation fraction, software efficiency, coding-labour multiplier of every
project, and the frontier's (the soft maximum over projects of progress; ``World.frontier``).
Reads the inputs of each project from the compute module (``ai_projects.log_*``,
``training_compute_gain_ooms``).

The model is calibrated once per sample on the calculator's input series (the reference project's
inputs: one world, one AI technology) and then run for every project at once on the flattened
``[B·P]`` batch; projects differ in their inputs and their initial research stock.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from sim.updaters.base import StateUpdater
from sim.updaters.compute.series import (
    EXPERIMENT_COMPUTE,
    HUMAN_CODERS,
    INFERENCE_COMPUTE,
    load_input_series,
    schedule_from_params,
)
from sim.updaters.software_rnd.milestones import software_milestones
from sim.updaters.software_rnd.model import LN10, SoftwareRnDModel, calibrate, repeat_rows, rk4_integrate
from sim.world import AIProjects, World, replace


def _m(name: str, unit: str, description: str, log_scale: bool) -> dict:
    return {"name": name, "path": "frontier." + name, "unit": unit, "description": description,
            "log_scale": log_scale, "actors": "project"}


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

#: Metric fields this module writes (all of them derived from RS and the inputs).
_METRIC_FIELDS = [m["name"] for m in METRICS if m["name"] != "research_stock"] + ["ai_coding_labor_multiplier"]
#: Derived on every right-hand side (read by the economy and by this module's derivative).
_DERIVED = ("progress_ooms", "research_effort", "automation_fraction", "software_efficiency_ooms",
            "ai_coding_labor_multiplier")


class SoftwareRAndD(StateUpdater):
    """Research stock RS of every AI project and everything derived from it (package README)."""

    name = "software_rnd"
    required_series = MILESTONE_SERIES

    def prepare(self, params, t0: float) -> None:
        self.params = params
        schedule = schedule_from_params(params, load_input_series())
        model = calibrate(params, schedule)
        # Spin-up: integrate the reference project from the calibration start so that the state at
        # the start year and the progress at the present day and at the training-compute reference
        # year (anchors of the horizon and effective-compute metrics) are this run's own. Up to the
        # start year the spin-up sets the initial state (fine step); beyond it, it only places the
        # metric anchors (coarse step).
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
        initial = states[start] if start > model.t0 else model.initial_state()
        model.p_now = states[model.present_day][0]
        model.p_reference = states[ref_year][0]
        model.pure = self.stateless  # (the spin-up above ran with caches and search hints)
        # software efficiency = P − G − (P − G of the reference project at the reference year)
        gain_ref = schedule.training_growth_antiderivative(ref_year) - model.growth_antiderivative_t0
        self.software_at_reference = model.p_reference - gain_ref
        self.reference_ooms = params["compute.training_compute_reference_ooms"]
        self.batch = params.batch_size
        self.n_projects = len(params.actors.projects)
        self.model_per_sample: SoftwareRnDModel = model  # [B] (world milestones, run metrics)
        self.model: SoftwareRnDModel = repeat_rows(model, self.batch, self.n_projects)  # [B·P]
        # initial research stock of each project: the reference project's, less its software gap
        gap = params.per_actor("software_rnd.initial_software_gap_ooms", "project")  # [B, P] OOMs
        log_rs = torch.log(initial[1])[:, None] - gap * LN10 / model.r[:, None]
        self.initial_research_stock = torch.exp(log_rs)
        self.frontier_temperature = params["software_rnd.frontier_temperature_ooms"]

    def initialize(self, t0: Tensor, world: World) -> World:
        projects = replace(world.ai_projects, research_stock=self.initial_research_stock.to(t0.dtype))
        return replace(world, ai_projects=projects)

    # -- flattening [B, P] <-> [B·P] ------------------------------------------------------------------
    def _flat(self, x: Tensor) -> Tensor:
        return x.reshape(-1)

    def _table(self, x: Tensor) -> Tensor:
        return x.reshape(self.batch, self.n_projects)

    def _inputs(self, projects: AIProjects) -> Tensor:
        """[B·P, 3] ln inputs in the model's order (human coders, inference, experiment compute)."""
        columns = [None, None, None]
        columns[HUMAN_CODERS] = projects.log_human_coders
        columns[INFERENCE_COMPUTE] = projects.log_inference_compute
        columns[EXPERIMENT_COMPUTE] = projects.log_experiment_compute
        return torch.stack(columns, dim=2).reshape(-1, 3)

    def _frontier_weights(self, progress: Tensor) -> Tensor:
        """[B, P] soft-maximum weights of the projects' progress (exactly 1 for a single project)."""
        if self.n_projects == 1:
            return torch.ones_like(progress)
        return torch.softmax(progress / self.frontier_temperature[:, None], dim=1)

    # -- every evaluation ----------------------------------------------------------------------------
    def derive(self, t: Tensor, world: World) -> World:
        p = world.ai_projects
        gain = self._flat(p.training_compute_gain_ooms)
        log_inputs = self._inputs(p)
        progress, log_re, log_lc, _ = self.model.dynamics(log_inputs, gain, self._flat(p.research_stock))
        progress = self._table(progress)
        automation = self.model.automation(self._flat(progress))
        lc_multiplier = torch.exp(log_lc - log_inputs[:, HUMAN_CODERS]).clamp_min(1.0)
        derived = {
            "progress_ooms": progress,
            "research_effort": self._table(torch.exp(log_re)),
            "automation_fraction": self._table(automation),
            "software_efficiency_ooms": progress - p.training_compute_gain_ooms - self.software_at_reference[:, None],
            "ai_coding_labor_multiplier": self._table(lc_multiplier),
        }
        weights = self._frontier_weights(progress)
        m = self.model_per_sample
        frontier = replace(world.frontier, automation_slope=m.automation_k, automation_midpoint_ooms=m.automation_x0,
                           automation_asymptote=m.automation_asymptote,
                           **{k: v[:, 0] if self.n_projects == 1 else (weights * v).sum(1)
                              for k, v in derived.items()})
        return replace(world, ai_projects=replace(p, frontier_weight=weights, **derived), frontier=frontier)

    def contribute_state_derivatives(self, t: Tensor, world: World) -> dict[str, Tensor]:
        return {"ai_projects.research_stock": world.ai_projects.research_effort}

    def set_metric_attributes(self, t: Tensor, world: World) -> World:
        p = world.ai_projects
        values = self.model.metrics_from(self._inputs(p), self._flat(p.training_compute_growth_ooms_per_year),
                                         self._flat(p.training_compute_gain_ooms), self._flat(p.research_stock))
        values = {k: self._table(v) for k, v in values.items()}
        values["effective_compute_ooms"] = (values["progress_ooms"] - self.model_per_sample.p_reference[:, None]
                                            + self.reference_ooms[:, None])
        values["software_efficiency_ooms"] = p.software_efficiency_ooms
        values["ai_coding_labor_multiplier"] = values["ai_coding_labor_multiplier"]
        p = replace(p, **{k: v for k, v in values.items() if k in _METRIC_FIELDS})
        # the frontier: every project field with a value, weighted by the soft maximum of progress
        weights = p.frontier_weight
        frontier = {}
        for f in dataclasses.fields(AIProjects):
            value = getattr(p, f.name)
            if isinstance(value, Tensor) and f.name != "frontier_weight" and getattr(world.frontier, f.name) is None:
                frontier[f.name] = value[:, 0] if self.n_projects == 1 else (weights * value).sum(1)
        return replace(world, ai_projects=p, frontier=replace(world.frontier, **frontier))

    # -- per-run results --------------------------------------------------------------------------------
    def _milestones(self, model, params_rows, years, series, path_prefix: str) -> dict[str, Tensor]:
        p = params_rows
        top_sd = torch.special.ndtri(p("software_rnd.top_researcher_percentile"))
        return software_milestones(
            years, _get(series, "progress_ooms", path_prefix), _get(series, "ai_research_taste_sd", path_prefix),
            _get(series, "ai_rnd_uplift", path_prefix),
            _get(series, "ai_coding_labor_multiplier_present_resources", path_prefix), model.p_ac, top_sd,
            p("software_rnd.strat_ai_m2t"), p("software_rnd.ted_ai_m2t"), model.parallel_penalty,
            p("software_rnd.ai2027_sc_serial_multiplier"), p("software_rnd.ai2027_sc_parallel_factor"))

    def milestones(self, years: Tensor, series) -> dict[str, Tensor]:
        """The world's milestones: those of the frontier (the first project to get there)."""
        return self._milestones(self.model_per_sample, lambda n: self.params[n], years, series, "frontier.")

    def actor_milestones(self, years: Tensor, series) -> dict[str, Tensor]:
        """Each project's milestones ``[B, P]``."""
        flat = _FlatSeries(series, self.batch * self.n_projects)

        def rows(name: str) -> Tensor:
            return self.params[name].repeat_interleave(self.n_projects)

        out = self._milestones(self.model, rows, years, flat, "ai_projects.")
        return {k: self._table(v) for k, v in out.items()}

    def run_metrics(self, years: Tensor, series) -> dict[str, Tensor]:
        m = self.model_per_sample
        return {"software_rnd_r": m.r, "software_rnd_anchor_rate": m.anchor_rate,
                "software_rnd_progress_at_ac": m.p_ac, "software_rnd_automation_now": m.automation_now}


class _FlatSeries(dict):
    """Per-actor series [B, P, T] seen as [B·P, T]."""

    def __init__(self, series, rows: int):
        super().__init__()
        self._series, self._rows = series, rows

    def __contains__(self, name):
        return name in self._series

    def __getitem__(self, name):
        return self._series[name].reshape(self._rows, -1)


def _get(series, name: str, prefix: str) -> Tensor:
    for key in (prefix + name, name):
        if key in series:
            return series[key]
    raise KeyError(f"software_rnd milestones need the series {name!r}; record {', '.join(MILESTONE_SERIES)}")


UPDATER = SoftwareRAndD

__all__ = ["METRICS", "MILESTONES", "MILESTONE_SERIES", "RUN_METRICS", "UPDATER", "SoftwareRAndD"]

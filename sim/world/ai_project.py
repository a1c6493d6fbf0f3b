"""AI projects: their research stock (state) and every input and result of software R&D.

``World.ai_projects`` holds every project of the world at once: each tensor is ``[B, P]`` (samples
× projects, ``ids`` in the world's order, ``owner`` the index of each project's nation).
``World.frontier`` is the same dataclass with ``[B]`` tensors: the frontier of AI, i.e. the values
of the leading project (the projects weighted by a soft maximum of their progress, so a single
project's world has exactly that project's values).

State (integrated):
    research_stock          software research stock RS (model units)

Everything else is derived from state: *derived values* (computed on every right-hand-side
evaluation, because an updater downstream or the module's own derivative reads them) and
*metrics* (computed at output times only). Units are in the field docs.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from sim.world.tensor_dataclass import TensorDataclass, metric_field, state_field


@dataclass
class AIProjects(TensorDataclass):
    ids: tuple[str, ...] = ()
    owner: tuple[int, ...] = ()
    # -- state ------------------------------------------------------------------------------------
    research_stock: Tensor = state_field("model units", "software research stock RS")
    # -- inputs (sim.updaters.compute; derived) -----------------------------------------------------
    log_human_coders: Tensor = metric_field("ln FTE", "ln of the human coders (calculator scale)")
    log_inference_compute: Tensor = metric_field("ln H100e", "ln of the coding-automation compute (calculator scale)")
    log_experiment_compute: Tensor = metric_field("ln H100e", "ln of the experiment compute (calculator scale)")
    training_compute_gain_ooms: Tensor = metric_field(
        "OOMs", "growth of the largest training run since the calibration start (2012), log10")
    training_compute_growth_ooms_per_year: Tensor = metric_field("OOM/yr", "growth of the largest training run")
    # -- inputs (metrics) ---------------------------------------------------------------------------
    training_compute_ooms: Tensor = metric_field("log10 FLOP", "largest training run")
    human_coders: Tensor = metric_field("FTE", "human coders at the project")
    inference_compute_h100e: Tensor = metric_field("H100e", "compute used to automate coding")
    experiment_compute_h100e: Tensor = metric_field("H100e", "compute used to run experiments")
    inference_compute_flop_per_year: Tensor = metric_field("FLOP/yr", "automation compute at peak throughput")
    experiment_compute_flop_per_year: Tensor = metric_field("FLOP/yr", "experiment compute at peak throughput")
    project_compute_h100e: Tensor = metric_field("H100e", "the project's share of its owner's operating compute "
                                                          "(supply chain only)")
    project_share_of_world_compute: Tensor = metric_field("fraction", "project compute / world operating compute "
                                                                      "(supply chain only)")
    # -- software R&D (sim.updaters.software_rnd; derived) -----------------------------------------
    progress_ooms: Tensor = metric_field("OOMs", "cumulative progress P (log10 effective compute since 2012)")
    research_effort: Tensor = metric_field("model units/yr", "RE = taste x throughput = dRS/dt")
    automation_fraction: Tensor = metric_field("fraction", "share of coding tasks AIs can do")
    software_efficiency_ooms: Tensor = metric_field("OOMs", "log10 software efficiency (0 at 2025.13)")
    ai_coding_labor_multiplier: Tensor = metric_field("x", "L_C over human coders")
    automation_slope: Tensor = metric_field("1/OOM", "k of the coding-automation logistic A(P) (per-run constant)")
    automation_midpoint_ooms: Tensor = metric_field("OOMs", "x0 of the coding-automation logistic (per-run constant)")
    automation_asymptote: Tensor = metric_field("fraction", "upper asymptote of the logistic (per-run constant)")
    # -- software R&D (metrics) ---------------------------------------------------------------------
    effective_compute_ooms: Tensor = metric_field("log10 FLOP-equivalent",
                                                  "training compute x software efficiency (26.54 at 2025.13)")
    time_horizon_minutes: Tensor = metric_field("minutes", "80% coding time horizon")
    coding_labor: Tensor = metric_field("human-coder equivalents", "aggregate (parallel) coding labour L_C")
    serial_coding_labor: Tensor = metric_field("model units", "L_C^lambda")
    ai_coding_labor_multiplier_present_resources: Tensor = metric_field(
        "x", "L_C with present-day coders and compute, today's AI replaced by the AI of this time")
    serial_coding_labor_multiplier: Tensor = metric_field("x", "serial coding labour over its human-only value")
    experiment_throughput: Tensor = metric_field("model units", "experiment capacity X (CES of compute and labour)")
    ai_research_taste: Tensor = metric_field("x median-researcher taste", "AI research taste")
    ai_research_taste_sd: Tensor = metric_field("SD", "AI taste in SDs of the human distribution")
    ai_research_taste_quantile: Tensor = metric_field("quantile", "AI taste as a human quantile")
    aggregate_research_taste: Tensor = metric_field("x", "mean taste with humans below the AI lifted to it")
    software_progress_rate: Tensor = metric_field("OOM/yr", "growth of software efficiency")
    progress_rate: Tensor = metric_field("OOM/yr", "dP/dt = software + training-compute growth")
    ai_rnd_uplift: Tensor = metric_field(
        "x", "AI software R&D uplift: software progress rate with present-day resources over today's")
    frontier_weight: Tensor = metric_field("fraction", "weight of the project in the frontier (soft maximum of P)")

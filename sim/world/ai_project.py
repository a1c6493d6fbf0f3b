"""An AI project (the leading AGI company): its compute, software progress and research stock.

State (integrated):
    training_compute_ooms   log10 FLOP of the project's largest training run
    progress_ooms           cumulative progress P: log10 effective compute, counted from the
                            calibration start (0 at the first year of the input series)
    research_stock          software research stock RS (model units)

Metrics are written by ``sim.updaters.compute`` (inputs) and ``sim.updaters.software_rnd``
(everything derived from P and RS); units are in the names or the field docs.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from sim.world.tensor_dataclass import TensorDataclass, metric_field, state_field


@dataclass
class AIProject(TensorDataclass):
    id: str = ""
    # -- state ------------------------------------------------------------------------------------
    training_compute_ooms: Tensor = state_field("log10 FLOP", "largest training run")
    progress_ooms: Tensor = state_field("OOMs", "cumulative progress P (log10 effective compute since t0)")
    research_stock: Tensor = state_field("model units", "software research stock RS")
    # -- compute and labour inputs (sim.updaters.compute) -------------------------------------------
    human_coders: Tensor = metric_field("FTE", "human coders at the project")
    inference_compute_h100e: Tensor = metric_field("H100e", "compute used to automate coding")
    experiment_compute_h100e: Tensor = metric_field("H100e", "compute used to run experiments")
    inference_compute_flop_per_year: Tensor = metric_field("FLOP/yr", "automation compute at peak throughput")
    experiment_compute_flop_per_year: Tensor = metric_field("FLOP/yr", "experiment compute at peak throughput")
    training_compute_growth_ooms_per_year: Tensor = metric_field("OOM/yr", "growth of the largest training run")
    # -- software R&D (sim.updaters.software_rnd) --------------------------------------------------
    effective_compute_ooms: Tensor = metric_field("log10 FLOP-equivalent",
                                                  "training compute x software efficiency (26.54 at 2025.13)")
    software_efficiency_ooms: Tensor = metric_field("OOMs", "log10 software efficiency (0 at 2025.13)")
    time_horizon_minutes: Tensor = metric_field("minutes", "80% coding time horizon")
    automation_fraction: Tensor = metric_field("fraction", "share of coding tasks AIs can do")
    coding_labor: Tensor = metric_field("human-coder equivalents", "aggregate (parallel) coding labour L_C")
    serial_coding_labor: Tensor = metric_field("model units", "L_C^lambda")
    ai_coding_labor_multiplier: Tensor = metric_field("x", "L_C over human coders")
    ai_coding_labor_multiplier_present_resources: Tensor = metric_field(
        "x", "L_C with present-day coders and compute, today's AI replaced by the AI of this time")
    serial_coding_labor_multiplier: Tensor = metric_field("x", "serial coding labour over its human-only value")
    experiment_throughput: Tensor = metric_field("model units", "experiment capacity X (CES of compute and labour)")
    ai_research_taste: Tensor = metric_field("x median-researcher taste", "AI research taste")
    ai_research_taste_sd: Tensor = metric_field("SD", "AI taste in SDs of the human distribution")
    ai_research_taste_quantile: Tensor = metric_field("quantile", "AI taste as a human quantile")
    aggregate_research_taste: Tensor = metric_field("x", "mean taste with humans below the AI lifted to it")
    research_effort: Tensor = metric_field("model units/yr", "RE = taste x throughput = dRS/dt")
    software_progress_rate: Tensor = metric_field("OOM/yr", "growth of software efficiency")
    progress_rate: Tensor = metric_field("OOM/yr", "dP/dt = software + training-compute growth")
    ai_rnd_uplift: Tensor = metric_field(
        "x", "AI software R&D uplift: software progress rate with present-day resources over today's")

"""The software R&D model: per-sample calibration and the right-hand side, as batched functions.

State per AI project: progress P (OOMs of effective compute since the calibration start) and
research stock RS. With human coders L_H, inference compute C_aut and experiment compute C_xpm
(exogenous, ``sim.updaters.compute``) and training-compute growth g:

    dRS/dt = RE = T_agg · X(C_xpm, L_C^λ)              research effort = taste × throughput
    dP/dt  = g + r · RE / (RS · ln 10)                 (Jones law: one doubling of RS gives r
                                                        doublings of software efficiency)

Since d ln RS/dt = RE/RS, the second line integrates exactly: P = (r/ln10)·ln(RS/RS(t0)) + ∫g.
Only RS is integrated; P follows from it (``SoftwareRnDModel.progress``), which keeps a
fixed-step solver stable through explosive takeoffs.

L_C is the optimal-CES coding labour (``coding_labor.py``), X the experiment-throughput CES
(``experiment.py``), T_agg the aggregate research taste (``taste.py``) with AI taste set by P.

Calibration (``calibrate``), all batched and differentiable, follows the calculator step by step:

1. ρ_X, α, ζ of X from the asymptote statements, at the present day with human labour only.
2. A *human-only* run (no automation, taste 1) from the series start t0: its research stock is
   RS_h(t) = RS_h(t0) + ∫ RE_h, with RS_h(t0) = RE_h(t0)² / RE_h'(t0) (the stock that makes RE/RS
   equal RE's own growth rate at t0). The integrals are taken by Gauss-Legendre quadrature on
   the pieces where the inputs grow exponentially (exact to rounding).
3. r is set so that the human-only software progress rate at the reference year (2024.0) is
   ``software_progress_rate_at_reference_year``: r = v_ref · ln10 · RS_h / RE_h there.
4. Present-day anchors of the human-only run: P_now = (r/ln10)·ln(RS_h(now)/RS_h(t0)) + ∫g and the
   anchor rate ρ̇0 = dP/dt(now). Every "per present-day progress-year" input is divided by ρ̇0
   (taste slope, automation-efficiency slope, after raising the latter to 0.5/λ), the doubling
   time becomes τ = T0·ρ̇0 OOMs, and the gap gap_years·ρ̇0 OOMs.
5. The AC threshold P_AC (``horizon.py``), the present automation anchor A_now and the run's
   logistic schedule and optimal-CES tables (``automation.py``).
6. The run's own initial research stock uses the calculator's rule at t0 with AI terms
   included (simple-CES coding labour with A(0), aggregate taste at P = 0).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from sim.updaters.compute.series import EXPERIMENT_COMPUTE, HUMAN_CODERS, INFERENCE_COMPUTE, ComputeSchedule
from sim.updaters.software_rnd import automation as aut
from sim.updaters.software_rnd.coding_labor import (
    Frontier,
    frontier_tail,
    log_simple_ces_labor,
    simple_ces_log_share_c,
)
from sim.updaters.software_rnd.experiment import (
    ThroughputConstants,
    ces_log_shares,
    experiment_capacity_params,
    log_throughput,
    throughput_constants,
)
from sim.updaters.software_rnd.horizon import ac_progress_threshold, log_horizon
from sim.updaters.software_rnd.taste import TasteDistribution, build_taste_distribution

LN10 = math.log(10.0)
P = "software_rnd."

_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)

#: Points (logit of A_now) scanned for the first root of the present-automation condition.
ANCHOR_SCAN = (-20.7, -16.0, -12.0, -9.0, -7.0, -5.0, -3.5, -2.5, -1.5, -0.75, 0.0, 0.75, 1.5, 2.5, 3.5, 5.0, 7.0)
#: Where the calculator's bounded minimiser of |residual| ends when the target is unreachable
#: (scipy fminbound on [1e-9, 1 - 1e-9] with xatol 1e-8 and a flat objective).
NO_ROOT_AUTOMATION = 0.9999999690466811


def _p(params, name: str) -> Tensor:
    return params[P + name]


@dataclass
class SoftwareRnDModel:
    """Everything the right-hand side needs, per sample ([B] tensors unless noted)."""

    schedule: ComputeSchedule
    t0: float  # calibration start (first year of the input series)
    present_day: float
    parallel_penalty: Tensor
    r: Tensor  # calibrated Jones-law exponent
    rho_x: Tensor
    alpha_x: Tensor
    zeta_x: Tensor  # raw ζ (clamped where used)
    zeta_bounds: tuple[float, float]
    throughput: ThroughputConstants  # log_throughput's per-run constants
    taste: TasteDistribution
    taste_slope: Tensor  # SD per OOM
    taste_at_ac_sd: Tensor
    max_taste_sd: float
    p_ac: Tensor
    frontier: Frontier
    automation_k: Tensor
    automation_x0: Tensor
    automation_asymptote: Tensor
    automation_now: Tensor
    automation_solved: Tensor
    # human-only anchors
    p_now_human: Tensor
    anchor_rate: Tensor
    tau: Tensor
    doubling_difficulty: Tensor
    present_horizon: Tensor
    rs0_human: Tensor
    rs0: Tensor  # initial research stock of the run
    log_re_human_now: Tensor
    sw_rate_human_now: Tensor
    log_inputs_now: Tensor  # [B, 3]
    max_research_effort: float
    max_progress_rate: float
    pure: bool = False  # no caches or search hints (for torch.compile)
    log_rs0: Tensor = None
    growth_antiderivative_t0: Tensor = None
    # filled in after the spin-up run (for metrics); defaults to the human-only anchor
    p_now: Tensor = None
    p_reference: Tensor = None  # P at the training-compute reference year (for effective compute)
    extras: dict = field(default_factory=dict)

    # -- the right-hand side -----------------------------------------------------------------------
    def ai_taste_sd(self, progress: Tensor) -> Tensor:
        return torch.clamp(self.taste_slope * (progress - self.p_ac) + self.taste_at_ac_sd, max=self.max_taste_sd)

    def automation(self, progress: Tensor) -> Tensor:
        """Coding automation fraction A(P) of the run's logistic schedule."""
        return aut.automation_fraction(progress, self.automation_k, self.automation_x0, self.automation_asymptote)

    def log_research_effort(self, log_inputs: Tensor, progress: Tensor, taste_ai: Tensor | None = None
                            ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(ln RE, ln L_C, ln serial labour, aggregate taste) at inputs [B,3] and progress [B]."""
        if taste_ai is None:
            taste_ai = self.taste.taste_at_sd(self.ai_taste_sd(progress))
        taste_agg = self.taste.mean_with_floor(taste_ai)
        log_lc = self.frontier.log_labor(log_inputs[:, HUMAN_CODERS], log_inputs[:, INFERENCE_COMPUTE], LN10 * progress,
                                         slot=None if self.pure else "")
        log_serial = self.parallel_penalty * log_lc
        log_x = log_throughput(log_inputs[:, EXPERIMENT_COMPUTE], log_serial, self.alpha_x, self.rho_x, self.zeta_x,
                               *self.zeta_bounds, constants=self.throughput)
        cap = math.log(self.max_research_effort)
        log_re = torch.clamp(torch.clamp(log_x, max=cap) + torch.log(taste_agg), max=cap)
        return log_re, log_lc, log_serial, taste_agg

    def exogenous(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(ln inputs [B, 3], training growth g [B], ∫_{t0}^t g [B]) of the calculator's series
        at times t [B] (the reference project's inputs: the calibration and the spin-up)."""
        sched = self.schedule
        return (sched.log_inputs(t), sched.training_growth(t),
                sched.training_growth_antiderivative(t) - self.growth_antiderivative_t0)

    def progress(self, t: Tensor, research_stock: Tensor) -> Tensor:
        """P of the reference project from RS (see :meth:`progress_from`)."""
        return self.progress_from(research_stock, self.exogenous(t)[2])

    def progress_from(self, research_stock: Tensor, training_gain: Tensor) -> Tensor:
        """P = (r/ln10)·ln(RS/RS(t0)) + G, G = log10 growth of training compute since t0.

        dP/dt = g + (r/ln10)·d ln RS/dt holds exactly, so P is a function of RS and the training
        compute: P is derived, not integrated (a fixed-step integrator would overshoot P by many
        OOMs through explosive take-offs, while the RS update stays bounded).
        """
        rs = torch.where(research_stock > 0, research_stock, self.rs0)
        return self.r / LN10 * (torch.log(rs) - self.log_rs0) + training_gain

    def dynamics(self, log_inputs: Tensor, training_gain: Tensor, research_stock: Tensor
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(P, ln RE, ln L_C, ln RS) from the inputs [B, 3], the training-compute gain G [B] and RS [B]:
        what every right-hand side needs (dRS/dt = RE)."""
        rs = torch.where(research_stock > 0, research_stock, self.rs0)
        log_rs = torch.log(rs)
        progress = self.r / LN10 * (log_rs - self.log_rs0) + training_gain
        log_re, log_lc, _, _ = self.log_research_effort(log_inputs, progress)
        return progress, log_re, log_lc, log_rs

    def derivatives(self, t: Tensor, research_stock: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(P, dP/dt, dRS/dt) of the reference project at times t [B] (spin-up and tests)."""
        log_inputs, growth, gain = self.exogenous(t)
        progress, log_re, _, log_rs = self.dynamics(log_inputs, gain, research_stock)
        sw = self.r * torch.exp(log_re - log_rs) / LN10
        dp = torch.clamp(sw + growth, max=self.max_progress_rate)
        return progress, dp, torch.exp(log_re)

    # -- metrics at output times ---------------------------------------------------------------------
    def metrics(self, t: Tensor, research_stock: Tensor) -> dict[str, Tensor]:
        """Every series of the reference project at times t [B] (tests and notebooks)."""
        log_inputs, growth, gain = self.exogenous(t)
        return self.metrics_from(log_inputs, growth, gain, research_stock)

    def metrics_from(self, log_inputs: Tensor, growth: Tensor, training_gain: Tensor, research_stock: Tensor
                     ) -> dict[str, Tensor]:
        """Every derived series at one time per row (all [B]), progress included, from the inputs
        [B, 3], the training-compute growth g and gain G and the research stock."""
        rs = torch.where(research_stock > 0, research_stock, self.rs0)  # as in dynamics()
        log_rs = torch.log(rs)
        progress = self.r / LN10 * (log_rs - self.log_rs0) + training_gain
        taste_ai = self.taste.taste_at_sd(self.ai_taste_sd(progress))
        log_re, log_lc, log_serial, taste_agg = self.log_research_effort(log_inputs, progress, taste_ai)
        sw = self.r * torch.exp(log_re - log_rs) / LN10
        log_h = log_inputs[:, HUMAN_CODERS]
        # present-resources variant: today's coders and compute, today's research stock, AI of time t
        now = self.log_inputs_now
        log_lc_now = self.frontier.log_labor(now[:, HUMAN_CODERS].expand_as(progress),
                                             now[:, INFERENCE_COMPUTE].expand_as(progress), LN10 * progress,
                                             slot=None if self.pure else "present resources")
        log_x_now = log_throughput(now[:, EXPERIMENT_COMPUTE], self.parallel_penalty * log_lc_now, self.alpha_x,
                                   self.rho_x, self.zeta_x, *self.zeta_bounds, constants=self.throughput)
        cap = math.log(self.max_research_effort)
        log_re_now = torch.clamp(torch.clamp(log_x_now, max=cap) + torch.log(taste_agg), max=cap)
        uplift = torch.exp(log_re_now - self.log_re_human_now)
        lc, h = torch.exp(log_lc), torch.exp(log_h)
        ai_contrib = (lc - h).clamp_min(0.0)
        mult_now = torch.where(ai_contrib > 0, torch.exp(log_lc_now - now[:, HUMAN_CODERS]), torch.ones_like(lc))
        p_now = self.p_now if self.p_now is not None else self.p_now_human
        log_hz = log_horizon(progress, p_now, self.tau, self.doubling_difficulty, self.present_horizon)
        log_x = log_re - torch.log(taste_agg)
        taste_sd, taste_quantile = self.taste.sd_and_quantile(taste_ai)
        return {
            "progress_ooms": progress,
            "automation_fraction": aut.automation_fraction(progress, self.automation_k, self.automation_x0,
                                                           self.automation_asymptote),
            "time_horizon_minutes": torch.exp(log_hz.clamp(max=700.0)),
            "coding_labor": lc,
            "serial_coding_labor": torch.exp(log_serial),
            "ai_coding_labor_multiplier": torch.where(ai_contrib > 0, lc / h, torch.ones_like(lc)),
            "ai_coding_labor_multiplier_present_resources": mult_now,
            "serial_coding_labor_multiplier": torch.exp(log_serial - self.parallel_penalty * log_h),
            "experiment_throughput": torch.exp(log_x),
            "ai_research_taste": taste_ai,
            "ai_research_taste_sd": taste_sd,
            "ai_research_taste_quantile": taste_quantile,
            "aggregate_research_taste": taste_agg,
            "research_effort": torch.exp(log_re),
            "software_progress_rate": sw,
            "progress_rate": sw + growth,
            "ai_rnd_uplift": uplift,
        }

    # -- pieces used by the spin-up and the tests ------------------------------------------------------
    def initial_state(self) -> tuple[Tensor, Tensor]:
        """(P, RS) at the calibration start t0."""
        return torch.zeros_like(self.rs0), self.rs0


def _quadrature_nodes(t0: float, ends: list[float], step: float, dtype) -> tuple[Tensor, Tensor, dict[float, int]]:
    """Gauss-Legendre nodes on [t0, max(ends)] split at the series grid and at every end point.

    Returns (times [Q], weights [Q], {end: number of nodes up to it}) so that a cumulative sum of
    f(times)·weights up to that count is ∫_{t0}^{end} f.
    """
    t_max = max(ends)
    cuts = {t0, *ends}
    k = 1
    while t0 + k * step < t_max:
        cuts.add(t0 + k * step)
        k += 1
    cuts = sorted(c for c in cuts if t0 <= c <= t_max)
    times, weights, upto = [], [], {}
    for a, b in itertools.pairwise(cuts):
        times.extend(0.5 * (b - a) * _GL_X + 0.5 * (a + b))
        weights.extend(0.5 * (b - a) * _GL_W)
        for e in ends:
            if abs(e - b) < 1e-12:
                upto[e] = len(times)
    for e in ends:
        upto.setdefault(e, 0)
    return torch.tensor(times, dtype=dtype), torch.tensor(weights, dtype=dtype), upto


def calibrate(params, schedule: ComputeSchedule) -> SoftwareRnDModel:
    """Per-sample calibration (module docstring, steps 1-6)."""
    s = schedule.series
    t0 = s.start
    dtype = schedule.g_pre.dtype
    B = schedule.g_pre.shape[0]
    present_day = params.scalar(P + "present_day")
    ref_year = params.scalar(P + "rate_reference_year")
    lam = _p(params, "parallel_penalty").clamp(0.0, 1.0)
    zeta_bounds = (params.scalar(P + "experiment_compute_exponent_min"),
                   params.scalar(P + "experiment_compute_exponent_max"))

    def at(year: float) -> Tensor:
        return schedule.log_inputs(torch.full((B,), year, dtype=dtype))

    now = at(present_day)
    # 1. experiment-throughput CES
    rho_x, alpha_x, zeta_x = experiment_capacity_params(
        _p(params, "experiment_infinite_labor_multiplier"), _p(params, "experiment_infinite_compute_multiplier"),
        _p(params, "experiment_tenth_compute_divisor"), _p(params, "experiment_compute_anchor_change"),
        now[:, EXPERIMENT_COMPUTE], now[:, HUMAN_CODERS], lam)
    zc = zeta_x.clamp(*zeta_bounds)
    cap = math.log(params.scalar(P + "max_research_effort"))

    def log_re_human(log_inputs: Tensor) -> Tensor:  # [B, ..., 3] -> [B, ...]
        def b(v):
            return v.reshape(v.shape + (1,) * (log_inputs.dim() - 2))
        lx = log_throughput(log_inputs[..., EXPERIMENT_COMPUTE], b(lam) * log_inputs[..., HUMAN_CODERS],
                            b(alpha_x), b(rho_x), b(zeta_x), *zeta_bounds)
        return lx.clamp(max=cap)

    # 2. human-only run
    first = s.log_values[0] + schedule.log_multipliers  # [B, 3] at t0
    slopes0 = (s.log_slopes[0] / s.step).expand(B, 3)  # d ln x / dt on the first interval
    log_re0 = log_re_human(first)
    share_c = ces_log_shares(zc * first[:, EXPERIMENT_COMPUTE], lam * first[:, HUMAN_CODERS], alpha_x, rho_x)
    dlog_re0 = share_c * zc * slopes0[:, EXPERIMENT_COMPUTE] + (1 - share_c) * lam * slopes0[:, HUMAN_CODERS]
    rs0_h = torch.exp(log_re0) / dlog_re0
    nodes, weights, upto = _quadrature_nodes(t0, [ref_year, present_day], s.step, dtype)
    log_in_q = s.log_at(nodes)[None, :, :] + schedule.log_multipliers[:, None, :]  # [B, Q, 3]
    cum = torch.cumsum(torch.exp(log_re_human(log_in_q)) * weights, dim=1)  # [B, Q]

    def integral(year):
        n = upto[year]
        return cum[:, n - 1] if n > 0 else torch.zeros(B, dtype=dtype)

    rs_ref = rs0_h + integral(ref_year)
    log_re_ref = log_re_human(at(ref_year))
    v_ref = _p(params, "software_progress_rate_at_reference_year")
    r = v_ref * LN10 * rs_ref / torch.exp(log_re_ref)
    # 4. present-day anchors
    rs_now_h = rs0_h + integral(present_day)
    log_re_now_h = log_re_human(now)
    sw_now_h = r * torch.exp(log_re_now_h) / rs_now_h / LN10
    g_now = schedule.training_growth(torch.full((B,), present_day, dtype=dtype))
    anchor_rate = sw_now_h + g_now
    p_now_h = r / LN10 * torch.log(rs_now_h / rs0_h) + schedule.training_growth_integral(t0, present_day)
    t_doubling = _p(params, "present_doubling_time")
    tau = t_doubling * anchor_rate
    d = _p(params, "doubling_difficulty_growth_factor")
    h0 = _p(params, "present_horizon_minutes")
    # 5. thresholds, slopes, schedule
    p_ac = ac_progress_threshold(p_now_h, tau, d, h0, _p(params, "ac_time_horizon_minutes"),
                                 _p(params, "pre_gap_ac_time_horizon_minutes"), _p(params, "include_gap"),
                                 _p(params, "gap_years"), anchor_rate)
    taste_slope = _p(params, "ai_taste_slope") / anchor_rate
    eff_input = _p(params, "coding_automation_efficiency_slope")
    theta = torch.where(lam > 0, torch.exp(torch.log(eff_input) * 0.5 / lam.clamp_min(1e-12)), eff_input)
    theta = theta / anchor_rate
    rho_c = _p(params, "coding_labor_rho")
    eta = _p(params, "initial_ai_coding_efficiency")
    tail = frontier_tail(_p(params, "max_serial_coding_labor_multiplier"), lam, rho_c,
                         (params.scalar(P + "frontier_cap_min"), params.scalar(P + "frontier_cap_max")),
                         (params.scalar(P + "frontier_tail_min"), params.scalar(P + "frontier_tail_max")))
    grid = int(params.scalar(P + "frontier_grid_points"))
    asym = _p(params, "automation_logistic_asymptote")
    clip = params.scalar(P + "automation_fraction_clip")
    a_now, solved = aut.solve_present_automation(torch.log(_p(params, "present_coding_labor_multiplier")), p_now_h,
                                                 p_ac, now[:, HUMAN_CODERS], now[:, INFERENCE_COMPUTE], asym, rho_c,
                                                 theta, eta, tail, grid, clip, ANCHOR_SCAN, NO_ROOT_AUTOMATION)
    frontier, k, x0 = aut.present_frontier(a_now, p_now_h, p_ac, asym, rho_c, theta, eta, tail, grid)
    # taste distribution
    taste = build_taste_distribution(
        _p(params, "median_to_top_taste_multiplier"), _p(params, "taste_limit"), _p(params, "taste_limit_smoothing"),
        _p(params, "top_researcher_percentile"), _p(params, "mean_human_taste"),
        params.scalar(P + "taste_floor_low_quantile"), params.scalar(P + "taste_floor_high_quantile"),
        int(params.scalar(P + "taste_floor_grid_points")), params.scalar(P + "taste_tail_half_width_sd"),
        int(params.scalar(P + "taste_tail_grid_points")))
    model = SoftwareRnDModel(
        schedule=schedule, t0=t0, present_day=present_day, parallel_penalty=lam, r=r, rho_x=rho_x, alpha_x=alpha_x,
        zeta_x=zeta_x, zeta_bounds=zeta_bounds, throughput=throughput_constants(alpha_x, rho_x, zeta_x, *zeta_bounds),
        taste=taste, taste_slope=taste_slope,
        taste_at_ac_sd=_p(params, "ai_taste_at_ac_sd"), max_taste_sd=params.scalar(P + "max_ai_taste_sd"),
        p_ac=p_ac, frontier=frontier, automation_k=k, automation_x0=x0, automation_asymptote=asym,
        automation_now=a_now, automation_solved=solved, p_now_human=p_now_h, anchor_rate=anchor_rate, tau=tau,
        doubling_difficulty=d, present_horizon=h0, rs0_human=rs0_h, rs0=rs0_h, log_re_human_now=log_re_now_h,
        sw_rate_human_now=sw_now_h, log_inputs_now=now, max_research_effort=params.scalar(P + "max_research_effort"),
        max_progress_rate=params.scalar(P + "max_progress_rate"))
    # 6. the run's initial research stock (AI terms at P = 0 included, as the calculator does)
    p_start = torch.zeros(B, dtype=dtype)
    a_start = aut.automation_fraction(p_start, k, x0, asym)
    taste_start = taste.mean_with_floor(taste.taste_at_sd(model.ai_taste_sd(p_start)))
    log_lc = log_simple_ces_labor(a_start, first[:, INFERENCE_COMPUTE], first[:, HUMAN_CODERS], rho_c, clip)
    share_aut = simple_ces_log_share_c(a_start, first[:, INFERENCE_COMPUTE], first[:, HUMAN_CODERS], rho_c, clip)
    dlog_serial = lam * (share_aut * slopes0[:, INFERENCE_COMPUTE] + (1 - share_aut) * slopes0[:, HUMAN_CODERS])
    log_x0 = log_throughput(first[:, EXPERIMENT_COMPUTE], lam * log_lc, alpha_x, rho_x, zeta_x, *zeta_bounds)
    share_x = ces_log_shares(zc * first[:, EXPERIMENT_COMPUTE], lam * log_lc, alpha_x, rho_x)
    dlog_x0 = share_x * zc * slopes0[:, EXPERIMENT_COMPUTE] + (1 - share_x) * dlog_serial
    model.rs0 = taste_start * torch.exp(log_x0.clamp(max=cap)) / dlog_x0
    model.log_rs0 = torch.log(model.rs0)
    model.growth_antiderivative_t0 = schedule.training_growth_antiderivative(t0)
    model.extras.update(theta=theta, tail_eps=tail, g_now=g_now, rs_ref_human=rs_ref)
    return model


def rk4_integrate(model: SoftwareRnDModel, t_start: float, t_end: float, step: float,
                  research_stock: Tensor | None = None, record: list[float] | None = None):
    """Fixed-step RK4 (``sim.solver.rk4_step``) of the reference project's RS from t_start to t_end
    (P follows from the invariant); for the spin-up and the tests.

    Returns (P, RS) at t_end and, when ``record`` lists times, {time: (P, RS)} at those times
    (the steps are split so that every recorded time is hit exactly).
    """
    from sim.solver import rk4_step

    rs = research_stock if research_stock is not None else model.rs0
    B = rs.shape[0]
    dtype = rs.dtype

    def at(t):
        return torch.full((B,), t, dtype=dtype)

    def f(t: Tensor, y: Tensor) -> Tensor:
        return model.derivatives(t, y[:, 0])[2][:, None]

    stops = sorted({t_end, *[x for x in (record or []) if t_start < x < t_end]})
    out = {}
    if record and t_start in record:
        out[t_start] = (model.progress(at(t_start), rs), rs)
    t = t_start
    y = rs[:, None]
    for stop in stops:
        n = max(1, math.ceil((stop - t) / step - 1e-9))
        h = (stop - t) / n
        for i in range(n):
            y = rk4_step(f, at(t + i * h), y, at(h))
        t = stop
        out[stop] = (model.progress(at(stop), y[:, 0]), y[:, 0])
    rs = y[:, 0]
    return (model.progress(at(t_end), rs), rs), out


def repeat_rows(obj, batch: int, times: int, _seen: dict | None = None):
    """``obj`` (the calibrated model and its parts: dataclasses, NamedTuples, tensors) with every
    per-sample tensor (first dimension ``batch``) repeated ``times`` in place of each row
    (row b becomes rows b·times … b·times + times − 1: the flattened ``[B, P]`` layout of the
    world's project table). Caches (fields starting with ``_``) start empty; objects marked
    ``shared_across_samples`` (the input series) are kept as they are."""
    if times == 1 or getattr(obj, "shared_across_samples", False):
        return obj
    if isinstance(obj, dict):
        return {k: repeat_rows(v, batch, times) for k, v in obj.items()}
    if isinstance(obj, Tensor):
        if obj.dim() >= 1 and obj.shape[0] == batch:
            return obj.repeat_interleave(times, dim=0)
        return obj
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # NamedTuple
        return type(obj)(*(repeat_rows(v, batch, times) for v in obj))
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        changes = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.name.startswith("_"):
                changes[f.name] = None
            else:
                changes[f.name] = repeat_rows(value, batch, times)
        return dataclasses.replace(obj, **changes)
    return obj

"""The economy's equations as pure, batched, differentiable torch functions.

Every argument is a tensor with a leading batch dimension (or broadcastable to it). Quantities
written with a hat are *log ratios to the calibration point* (the start of the run), so every
nest equals 0 there and output equals the calibrated GDP.

Production is a nest of normalised CES aggregates (La Grandville 1989; Klump, McAdam & Willman
2012). Each is written with the weighted log power mean

    M_ρ(u, v; w) = (1/ρ) ln( w e^{ρu} + (1 − w) e^{ρv} ),      M_0(u, v; w) = w u + (1 − w) v,

so that a nest with share parameter w, substitution parameter ρ = (σ − 1)/σ and log input ratios
u, v has log output ratio M_ρ(u, v; w), and w is the first input's income share at calibration.
The ρ → 0 (Cobb-Douglas) limit is taken by its Taylor series in ρ for |ρ| < 1e-4 (the two
formulas agree to ~1e-13 there), so M and its gradients are smooth in ρ everywhere.

    robot services   R̂ = M_{ρ_R}(â + k̂, b̂ + l̂; κ)                   (κ = 1: robots = A·K)
    task nest        N̂ = M_ρ(R̂ − ln(β/β0), b̂ + l̂ − ln((1−β)/(1−β0)); β)
    equipment nest   X̂ = M_{ρ_E}(â_E + k̂, N̂; ε)                       (ε = 0: X = N)
    land nest        Ŷ = M_{ρ_T}(X̂, â_T; 1 − θ)                         (θ = 0: Y = X)

The task nest is the task-based model of Zeira (1998) / Acemoglu & Restrepo (2018) / Aghion,
Jones & Jones (2019): a continuum of tasks aggregated with elasticity σ = 1/(1 − ρ), a share β of
them done by capital (robots, AI), the rest by human labour, each factor spread evenly over its
tasks; with per-task inputs normalised to be equal at calibration, β0 equals capital's share of
the nest at calibration. When β does not move, the nest is the plain CES of effective capital A·K
and effective labour B·L.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from sim.ces import RHO_SERIES, ces, first_share, log_power_mean, share_logit  # noqa: F401 (re-exported)

#: Overflow guard on exponents of growth rates (e^60 ≈ 1e26 times the base rate). Only reached
#: inside a solver step that straddles a finite-time blow-up; it keeps the state finite so that the
#: integrator reports a singularity (with its year) rather than a non-finite state.
MAX_EXPONENT = 60.0


class Structure(NamedTuple):
    """Per-sample structural parameters of the production nest ([B] tensors)."""

    rho: Tensor  # task nest: robots/AI capital vs human labour
    rho_robot: Tensor  # robot production: capital vs labour
    rho_equipment: Tensor  # equipment vs the labour composite
    rho_land: Tensor  # land vs the rest
    beta0: Tensor  # capital's (robots/AI) share of the task nest at calibration
    robot_capital_weight: Tensor  # κ: capital's share of robot production at calibration
    equipment_share: Tensor  # ε: equipment's share of the non-land composite at calibration
    land_share: Tensor  # θ: land's share of output at calibration
    profitable_automation: Tensor | None = None  # 1: automate a feasible task only where it raises output
    # Which nests are identities for every sample (None: look at the tensors on each call). Set
    # once by with_identity_flags, so that the production function has no data-dependent branch.
    robots_are_capital: bool | None = None  # κ = 1: robot production is capital alone
    no_equipment: bool | None = None  # ε = 0
    no_land: bool | None = None  # θ = 0
    constants: NestConstants | None = None  # per-run constants (None: computed on each call)


class NestConstants(NamedTuple):
    """Functions of β0 and ρ alone, which the production function would otherwise recompute on
    every right-hand-side evaluation."""

    log_beta0: Tensor  # ln β0
    log1m_beta0: Tensor  # ln(1 − β0)
    neg_one_minus_beta0: Tensor  # −(1 − β0)
    logit_beta0: Tensor  # ln β0 − ln(1 − β0)
    rho_ai: Tensor  # ρ'/(1 − ρ') with ρ' = min(ρ, 1 − 1e-6): the exponent of the AI-productivity mean
    task_small_rho: tuple[bool, bool] | None  # (any, all) |ρ| < RHO_SERIES in the task nest
    ai_small_rho: tuple[bool, bool] | None  # the same for rho_ai


def nest_constants(s: Structure, flags: bool = False) -> NestConstants:
    """:class:`NestConstants` of ``s`` (with the small-ρ flags read off the tensors if ``flags``)."""
    log_beta0, log1m_beta0 = torch.log(s.beta0), torch.log1p(-s.beta0)
    rho_ai = _ai_mean_exponent(s.rho)

    def small(rho: Tensor) -> tuple[bool, bool] | None:
        if not flags:
            return None
        mask = rho.abs() < RHO_SERIES
        return bool(mask.any()), bool(mask.all())

    return NestConstants(log_beta0, log1m_beta0, -(1.0 - s.beta0), log_beta0 - log1m_beta0, rho_ai,
                         small(s.rho), small(rho_ai))


def with_identity_flags(s: Structure) -> Structure:
    """``s`` with the identity-nest flags and the per-run constants read off its tensors once."""
    return s._replace(robots_are_capital=bool((s.robot_capital_weight == 1.0).all()),
                      no_equipment=bool((s.equipment_share == 0.0).all()),
                      no_land=bool((s.land_share == 0.0).all()),
                      constants=nest_constants(s, flags=True))


def _flag(value: bool | None, test: Tensor) -> bool:
    return value if value is not None else bool(test.all())


class Production(NamedTuple):
    """Log output ratio Ŷ and the elasticities of Y with respect to each log input."""

    log_output_ratio: Tensor
    capital_elasticity: Tensor  # ∂ŷ/∂k̂ = capital share
    labor_elasticity: Tensor  # ∂ŷ/∂l̂ = human labour share (= ∂ŷ/∂b̂)
    log_labor_elasticity: Tensor  # its logarithm, exact where the share underflows
    capital_tech_elasticity: Tensor  # ∂ŷ/∂â
    land_share: Tensor  # ∂ŷ/∂â_T
    share_tasks_automated: Tensor  # β


def calibrate_beta0(labor_share: Tensor, land_share: Tensor, equipment_share: Tensor,
                    robot_capital_weight: Tensor) -> Tensor:
    """β0 such that the human labour share at calibration is ``labor_share``:

        labour share = (1 − θ)(1 − ε)(1 − β0 κ)   ⇒   β0 = (1 − s_L / ((1 − θ)(1 − ε))) / κ.
    """
    return (1.0 - labor_share / ((1.0 - land_share) * (1.0 - equipment_share))) / robot_capital_weight


def tasks_automated(beta0: Tensor, log_human_task_share: Tensor, constants: NestConstants | None = None
                    ) -> tuple[Tensor, Tensor, Tensor]:
    """β = 1 − (1 − β0)(1 − a) from z = ln(1 − a). Returns (β, ln β, ln(1 − β)), the logs exact
    even where β rounds to 1."""
    z = log_human_task_share
    neg_1m_beta0 = -(1.0 - beta0) if constants is None else constants.neg_one_minus_beta0
    log1m_beta0 = torch.log1p(-beta0) if constants is None else constants.log1m_beta0
    log_beta = torch.log1p(neg_1m_beta0 * torch.exp(z))
    log_1beta = log1m_beta0 + z
    return torch.exp(log_beta), log_beta, log_1beta


def unautomated_share(ai_task_share: Tensor, log_cognitive: Tensor, log_physical: Tensor) -> Tensor:
    """z = ln(1 − a) of all the start's human tasks: 1 − a = χ (1 − a_c) + (1 − χ)(1 − a_p)."""
    chi = ai_task_share
    return torch.logaddexp(torch.log(chi) + log_cognitive, torch.log1p(-chi) + log_physical)


def log_ai_task_productivity(rho: Tensor, beta0: Tensor, z: Tensor, log_ai_efficiency: Tensor,
                             constants: NestConstants | None = None) -> Tensor:
    """ln X̄: productivity index of capital over all automated tasks when the AI-automated ones
    (share β − β0 of tasks) use capital X times as productively as the rest and capital is
    allocated across tasks optimally:

        β X̄^{σ−1} = β0 + (β − β0) X^{σ−1},   σ − 1 = ρ / (1 − ρ),

    i.e. ln X̄ = M_{ρ/(1−ρ)}(ln X, 0; (β − β0)/β), with β = 1 − (1 − β0) e^z. With ρ < 0 the
    gain is bounded by the tasks still done by ordinary capital (X̄ ≤ (β/β0)^{(1−ρ)/(−ρ)}); ρ → 1
    gives X̄ → X.
    """
    if constants is None:
        neg_1m_beta0, rho_ai, small_rho = -(1.0 - beta0), _ai_mean_exponent(rho), None
    else:
        neg_1m_beta0, rho_ai, small_rho = constants.neg_one_minus_beta0, constants.rho_ai, constants.ai_small_rho
    ai_tasks = neg_1m_beta0 * torch.expm1(z)
    weight = (ai_tasks / (beta0 + ai_tasks)).clamp(0.0, 1.0)
    return log_power_mean(log_ai_efficiency, torch.zeros_like(log_ai_efficiency), weight, rho_ai,
                          small_rho=small_rho)


def _ai_mean_exponent(rho: Tensor) -> Tensor:
    """σ − 1 = ρ/(1 − ρ) of the task nest, with ρ kept below 1 (the AI-productivity mean's exponent)."""
    r = rho.clamp(max=1.0 - 1e-6)
    return r / (1.0 - r)


def profitable_unautomated_share(s: Structure, z: Tensor, log_marginal_capital: Tensor, h: Tensor) -> Tensor:
    """ln(1 − a) of the tasks actually automated: feasible tasks move to capital only while that
    raises output (Acemoglu & Restrepo 2018; Trammell & Korinek 2020 §4: automation where capital
    is cheaper).

    In the task nest a task's output is capital per automated task, R/β, or labour per human task,
    H/(1 − β) (both relative to calibration, with ``log_marginal_capital`` = ln of the effective
    capital of the marginal, AI-automated task: A K X, through robot production if κ < 1). Output
    rises with β while the first exceeds the second, so the output-maximising share solves

        logit β* = logit β0 + ln R_marginal − ln H,

    and the economy automates min(feasible, β*), never less than at calibration (β0: the
    calibrated economy is at its optimum, and pre-AI paths are unchanged). In z = ln((1 − β)/(1 − β0)):
    z_used = min(0, max(z_feasible, z*)), z* = ln(1 − β*) − ln(1 − β0). Blended by the 0/1
    ``profitable_automation`` switch.
    """
    c = s.constants if s.constants is not None else nest_constants(s)
    robots = log_marginal_capital
    if not _flag(s.robots_are_capital, s.robot_capital_weight == 1.0):
        robots = log_power_mean(log_marginal_capital, h, s.robot_capital_weight, s.rho_robot)
    logit_star = c.logit_beta0 + robots - h
    z_star = torch.nn.functional.logsigmoid(-logit_star) - c.log1m_beta0
    z_used = torch.clamp(torch.maximum(z, z_star), max=0.0)
    w = s.profitable_automation
    return w * z_used + (1.0 - w) * z


def production(s: Structure, k: Tensor, a: Tensor, l: Tensor, b: Tensor, z: Tensor, a_equipment: Tensor,
               a_land: Tensor, x: Tensor | None = None, shares: bool = True) -> Production:
    """Log output ratio Ŷ = ln(Y/Y0) of the nest (module docstring) and its elasticities.

    k, a, l, b: log ratios of capital K, capital-augmenting technology A, labour L and
    labour-augmenting technology B to their calibration values; z = ln(1 − a_AI) (share of the
    start's human tasks still done by humans); a_equipment, a_land: log equipment- and
    land-augmenting technology ratios; x: ln of the AI efficiency gain of capital in AI-automated
    tasks (see :func:`log_ai_task_productivity`).

    ``shares=False`` computes the output alone (the elasticities are then ``None``): what the
    right-hand side needs.
    """
    c = s.constants if s.constants is not None else nest_constants(s)
    s = s._replace(constants=c)
    if s.profitable_automation is not None:
        z = profitable_unautomated_share(s, z, a + k + (x if x is not None else 0.0), b + l)
    beta, log_beta, log_1beta = tasks_automated(s.beta0, z, c)
    if x is not None:
        a = a + log_ai_task_productivity(s.rho, s.beta0, z, x, c)
    r_cap = a + k
    h = b + l
    inf = torch.full_like(r_cap, math.inf)
    # Nests whose share parameter is 0 or 1 for every sample are identities: skip them (speed only;
    # the general formulas give the same values there).
    identities = 0  # nests that are identities
    if _flag(s.robots_are_capital, s.robot_capital_weight == 1.0):
        robots, zk, identities = r_cap, inf, identities + 1
    else:
        robots = log_power_mean(r_cap, h, s.robot_capital_weight, s.rho_robot)
        zk = share_logit(r_cap, h, s.robot_capital_weight, s.rho_robot) if shares else None
    u_task, v_task = robots - (log_beta - c.log_beta0), h - z
    n = log_power_mean(u_task, v_task, None, s.rho, log_weights=(log_beta, log_1beta), small_rho=c.task_small_rho)
    zr = share_logit(u_task, v_task, None, s.rho, log_weights=(log_beta, log_1beta)) if shares else None
    e = a_equipment + k
    if _flag(s.no_equipment, s.equipment_share == 0.0):
        x_nest, ze, identities = n, -inf, identities + 1
    else:
        x_nest = log_power_mean(e, n, s.equipment_share, s.rho_equipment)
        ze = share_logit(e, n, s.equipment_share, s.rho_equipment) if shares else None
    if _flag(s.no_land, s.land_share == 0.0):
        y, zx, identities = x_nest, inf, identities + 1
    else:
        y = log_power_mean(x_nest, a_land, 1.0 - s.land_share, s.rho_land)
        zx = share_logit(x_nest, a_land, 1.0 - s.land_share, s.rho_land) if shares else None
    if not shares:
        return Production(y, None, None, None, None, None, beta)
    if identities == 3:  # the task nest alone: the general formulas below reduce to these
        share_r = torch.sigmoid(zr)
        log_labor = torch.nn.functional.logsigmoid(-zr)
        return Production(y, share_r, torch.exp(log_labor), log_labor, share_r, torch.zeros_like(y), beta)
    share_x, share_e, share_r, share_kappa = (torch.sigmoid(z_) for z_ in (zx, ze, zr, zk))
    robot_capital = share_x * (1.0 - share_e) * share_r * share_kappa
    capital = share_x * share_e + robot_capital
    ls = torch.nn.functional.logsigmoid
    log_labor = ls(zx) + ls(-ze) + torch.logaddexp(ls(-zr), ls(zr) + ls(-zk))
    return Production(y, capital, torch.exp(log_labor), log_labor, robot_capital, 1.0 - share_x, beta)


# -- technology ---------------------------------------------------------------------------------


def idea_growth(g0: Tensor, phi: Tensor, lam: Tensor, log_tech_ratio: Tensor, log_research_ratio: Tensor,
                endogenous: Tensor) -> Tensor:
    """d ln B / dt. Exogenous: g0. Semi-endogenous (Jones 1995; Bloom et al. 2020):

        dB/dt = c B^φ (S L)^λ   ⇒   d ln B/dt = g0 · (B/B0)^{φ−1} · (S L / S0 L0)^λ,

    with c fixed so that the rate is g0 at the calibration point. ``endogenous`` ∈ [0, 1] blends.
    """
    exponent = ((phi - 1.0) * log_tech_ratio + lam * log_research_ratio).clamp_max(MAX_EXPONENT)
    rate = g0 * torch.exp(exponent)
    return (1.0 - endogenous) * g0 + endogenous * rate


def balanced_idea_growth(lam: Tensor | float, researcher_growth: Tensor | float, phi: Tensor | float):
    """Balanced growth of B for φ < 1 with researchers growing at n: g_B = λ n / (1 − φ) (Jones 1995)."""
    return lam * researcher_growth / (1.0 - phi)


def idea_blowup_time(g0: Tensor | float, phi: Tensor | float):
    """For φ > 1 and constant research input, B^{1−φ} falls linearly and B diverges after
    T* = 1 / ((φ − 1) g0) years, g0 being the initial growth rate of B (a Type II singularity)."""
    return 1.0 / ((phi - 1.0) * g0)


# -- automation ---------------------------------------------------------------------------------


def log_one_minus(p: Tensor) -> Tensor:
    """ln(1 − p) for p ∈ [0, 1], clamped to stay finite (with finite gradients) at p = 1."""
    return torch.log((1.0 - p).clamp_min(1e-300))


def logistic_log_unautomated(t: Tensor, midpoint: Tensor, rate: Tensor) -> Tensor:
    """ln(1 − a*) for a logistic a*(t) = σ(r (t − t_mid)) (in years, or in OOMs with t = OOMs)."""
    return torch.nn.functional.logsigmoid(-rate * (t - midpoint))


def relax_log_unautomated(z: Tensor, log_target: Tensor, lag: Tensor, max_exponent: float = 30.0) -> Tensor:
    """dz/dt for z = ln(1 − a) when a follows its target a* with adoption lag τ:
    da/dt = (a* − a)/τ  ⇔  dz/dt = ((1 − a*)/(1 − a) − 1)/τ = (e^{ln(1−a*) − z} − 1)/τ.
    The exponent is capped (only reached if the target falls far behind the deployed share)."""
    return torch.expm1((log_target - z).clamp_max(max_exponent)) / lag


LN10 = math.log(10.0)

"""The compute supply chain's equations as pure, batched, differentiable torch functions.

Shapes: ``[B, N]`` per nation (``[B, N, k]`` for a construction pipeline), ``[B]`` world-level.
Units are in each docstring. The updater (``__init__.py``) wires them together; the README in this
folder lists the equations in one place.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sim.ces import log_soft_min


# -- chips installed: production minus attrition by age ------------------------------------------------
def attrition_hazard(age: Tensor, h0: Tensor, h1: Tensor) -> Tensor:
    """h(a) = h0 + h1·a (1/yr): the failure rate of chips of mean age a (AFM's linear hazard, for
    which the mean-age closure below is exact in expectation)."""
    return h0 + h1 * age


def stock_rates(stock: Tensor, chip_years: Tensor, power_gw: Tensor, supply: Tensor, kw_new: Tensor, h0: Tensor,
                h1: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """d/dt of the chip stock C (H100e), its chip-years Z = a·C (mean age a, yr) and its power draw
    W = w·C (GW; w in kW/H100e):

        dC/dt = F − h(a)·C,    dZ/dt = C − h(a)·Z,    dW/dt = F·w_new/10⁶ − h(a)·W

    F (H100e/yr) the chips received, new at age 0 and drawing w_new. Failures leave the mean age and
    power per chip unchanged (the mean-age closure of the linear hazard), so a = Z/C follows
    da/dt = 1 − a·F/C; integrating Z and W instead of a and w keeps the system non-stiff when F/C
    is large. With F = 0: C(t)/C(0) = exp(−h0 t − h1 (a0 t + t²/2)) and a(t) = a0 + t."""
    hazard = attrition_hazard(chip_years / stock, h0, h1)
    return supply - hazard * stock, stock - hazard * chip_years, supply * kw_new * 1e-6 - hazard * power_gw


def survival(t: Tensor, age0: Tensor, h0: Tensor, h1: Tensor) -> Tensor:
    """Closed form of the stock with no production: C(t)/C(0) = exp(−h0 t − h1 (a0 t + t²/2))."""
    return torch.exp(-h0 * t - h1 * (age0 * t + 0.5 * t * t))


# -- construction: capacity built after a lead time --------------------------------------------------------
def pipeline_rates(pipeline: Tensor, starts: Tensor, lead_time: Tensor) -> tuple[Tensor, Tensor]:
    """An Erlang-k construction pipeline: capacity started at rate ``starts`` (units/yr, ``[B, N]``)
    passes k stages (``pipeline`` ``[B, N, k]``), each left at rate k/L, and is completed after a
    lead time L (yr) on average (variance L²/k):

        dS_1/dt = u − (k/L) S_1,   dS_i/dt = (k/L)(S_{i−1} − S_i),   dK/dt = (k/L) S_k.

    Returns (d pipeline/dt, completions dK/dt). Capacity plus pipeline grows exactly by the starts;
    with no starts, capacity stops growing once the pipeline has drained (its tail after L·x is the
    Erlang survival function, :func:`pipeline_completed`)."""
    k = pipeline.shape[-1]
    rate = (k / lead_time)[..., None]
    outflow = rate * pipeline
    inflow = torch.cat([starts[..., None], outflow[..., :-1]], dim=-1)
    return inflow - outflow, outflow[..., -1]


def steady_pipeline(starts: Tensor, lead_time: Tensor, k: int) -> Tensor:
    """The pipeline ``[B, N, k]`` of constant starts (each stage holds u·L/k): completions equal starts."""
    return (starts * lead_time / k)[..., None].expand(*starts.shape, k).clone()


def pipeline_completed(pipeline: Tensor, elapsed: Tensor, lead_time: Tensor) -> Tensor:
    """Closed form, for starts = 0 and a constant lead time: the capacity completed ``elapsed`` years
    later out of a pipeline ``[..., k]``. Stage i still has k − i + 1 exponential stages of rate
    k/L to pass: it is done with the Erlang(k − i + 1) probability 1 − Σ_{j<k−i+1} e^{−x} x^j/j!,
    x = k·elapsed/L."""
    k = pipeline.shape[-1]
    x = (k * elapsed / lead_time)[..., None]
    remaining = torch.arange(k, 0, -1, dtype=pipeline.dtype)  # stages left for stage 1..k
    j = torch.arange(k, dtype=pipeline.dtype)
    terms = torch.exp(-x[..., None] + j * torch.log(x[..., None]) - torch.lgamma(j + 1.0))  # [..., 1, k]
    below = (j < remaining[:, None]).to(pipeline.dtype)  # [k, k]: j < stages left
    not_done = (terms * below).sum(-1)  # [..., k]
    return (pipeline * (1.0 - not_done)).sum(-1)


# -- technology stocks: semi-endogenous R&D -----------------------------------------------------------------
def semi_endogenous_growth(rate0: Tensor, log_input_ratio: Tensor, log_stock: Tensor, returns: Tensor,
                           parallelisation: Tensor, log_ceiling: Tensor) -> Tensor:
    """d ln A/dt of a technology stock A (0 at the start) with research input R:

        d ln A/dt = g0 · (R/R0)^λ · (A/A0)^(−1/r) · (1 − A/A_max)/(1 − A0/A_max)

    g0 the growth at the start (1/yr), λ the parallelisation penalty, r the returns to research
    (steady growth r·λ·g_R when R grows at g_R), A_max the ceiling (``log_ceiling`` = ln(A_max/A0)).
    The ceiling factor falls smoothly to 0 as A approaches A_max, which it then never passes."""
    ceiling = -torch.expm1(log_stock - log_ceiling) / -torch.expm1(-log_ceiling)
    return rate0 * torch.exp(parallelisation * log_input_ratio - log_stock / returns) * ceiling


def ai_research_input(log_human_input: Tensor, ai_multiplier_ratio: Tensor, elasticity: Tensor, log_cap: Tensor,
                      sharpness: Tensor) -> Tensor:
    """ln R/R0 of research that AIs help: human input times softmin((AI labour multiplier / its start
    value)^elasticity, cap) (the multiplier is the software R&D module's coding-labour multiplier; the
    cap stands for what stays serial: experiments, tape-outs, physical tests)."""
    log_ai = elasticity * torch.log(ai_multiplier_ratio.clamp_min(1e-12))
    return log_human_input + log_soft_min(log_ai, log_cap, sharpness) - log_soft_min(
        torch.zeros_like(log_ai), log_cap, sharpness)


def lead_time(lead_time0: Tensor, log_technology: Tensor, elasticity: Tensor, minimum: Tensor) -> Tensor:
    """Construction lead time (yr) with construction technology B: L_min + (L0 − L_min)·B^(−e)."""
    return minimum + (lead_time0 - minimum) * torch.exp(-elasticity * log_technology)


# -- operating compute and allocation --------------------------------------------------------------------------
def log_operating_compute(log_stock: Tensor, log_datacenter_gw: Tensor, log_power_gw: Tensor, log_kw: Tensor,
                          sharpness: Tensor) -> tuple[Tensor, Tensor]:
    """ln of the compute the datacenters run (H100e) and of the powered capacity (GW):

        powered = softmin(datacenter capacity, power available),
        operating = softmin(chips, powered·10⁶ / (kW per H100e)).

    Smooth minima (``sim.ces.log_soft_min``): never above either input, equal to the smaller within
    e^{−s·|gap|}/s."""
    log_powered = log_soft_min(log_datacenter_gw, log_power_gw, sharpness)
    log_runnable = log_powered + torch.log(torch.tensor(1e6, dtype=log_stock.dtype)) - log_kw
    return log_soft_min(log_stock, log_runnable, sharpness), log_powered


def allocate(production: Tensor, exports: Tensor, spending: Tensor, access: Tensor) -> Tensor:
    """Chips each nation receives (H100e/yr, ``[B, N]``): exporting fabs sell to a world market
    shared by spending × access; the rest of each nation's output stays at home:

        supply_m = Σ_n e_n·P_n · (S_m a_m / Σ_j S_j a_j) + (1 − e_m)·P_m.

    Conserved: Σ supply = Σ production (what a buyer with low access cannot buy, the others buy)."""
    market = (exports * production).sum(-1, keepdim=True)
    weights = spending * access
    return market * weights / weights.sum(-1, keepdim=True) + (1.0 - exports) * production


def smooth_growth_cap(log_level0: Tensor, growth: Tensor, elapsed: Tensor, log_cap: Tensor, sharpness: Tensor
                      ) -> Tensor:
    """ln of a level that grows at ``growth`` (1/yr) from ln x0 and levels off at a cap:
    softmin(ln x0 + g·t, ln cap) (``sim.ces.log_soft_min``)."""
    return log_soft_min(log_level0 + growth * elapsed, log_cap, sharpness)

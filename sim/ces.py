"""The one CES module: constant-elasticity-of-substitution aggregates in log space.

    CES_ρ(x1, x2; w) = ( w·x1^ρ + (1 − w)·x2^ρ )^(1/ρ),      ρ = (σ − 1)/σ ≤ 1,

written as the weighted log power mean of the log inputs u = ln x1, v = ln x2,

    M_ρ(u, v; w) = (1/ρ) ln( w e^{ρu} + (1 − w) e^{ρv} ).

Three entry points, one formula:

- :func:`log_power_mean`: smooth in ρ everywhere (the Cobb-Douglas limit ρ → 0 by its Taylor
  series for |ρ| < ``RHO_SERIES``); the economy's production nests.
- :func:`log_ces`: the AI Futures calculator's convention (Cobb-Douglas below |ρ| < 1e-9, the
  minimum below ρ < −50), which the software R&D module must reproduce bit for bit.
- :func:`log_soft_min`: the unweighted power mean with large negative ρ = −s, a smooth minimum
  that never exceeds either input, ``−(1/s) ln(e^{−s u} + e^{−s v})``; the supply chain's binding
  constraints (chips against power, wafers against packaging).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

#: |ρ| below which the Cobb-Douglas Taylor expansion of M_ρ is used.
RHO_SERIES = 1e-4

def _log_weights(w: Tensor) -> tuple[Tensor, Tensor]:
    """ln w and ln(1 − w), exact at w = 0 and w = 1 (−inf there, with a zero gradient rather than
    the NaN that d ln w/dw · 0 = ∞ · 0 would give)."""
    positive, below_one = w > 0, w < 1
    minus_inf = torch.full_like(w, -math.inf)
    log_w = torch.where(positive, torch.log(torch.where(positive, w, torch.ones_like(w))), minus_inf)
    log_1w = torch.where(below_one, torch.log1p(-torch.where(below_one, w, torch.zeros_like(w))), minus_inf)
    return log_w, log_1w


def log_power_mean(u: Tensor, v: Tensor, w: Tensor | float | None, rho: Tensor | float,
                   log_weights: tuple[Tensor, Tensor] | None = None,
                   small_rho: tuple[bool, bool] | None = None) -> Tensor:
    """M_ρ(u, v; w) = (1/ρ) ln(w e^{ρu} + (1−w) e^{ρv}); the weighted mean w u + (1−w) v at ρ = 0.

    u, v: log input ratios; w ∈ [0, 1]: weight of u (w = 0 returns v exactly, w = 1 returns u);
    ρ ≤ 1: substitution parameter. Near ρ = 0 the cumulant series of the two-point distribution is
    used: M = v + κ1 + κ2 ρ/2 + κ3 ρ²/6 + κ4 ρ³/24 with κ1 = w d, κ2 = w(1−w) d², ...
    and d = u − v. ``log_weights`` = (ln w, ln(1 − w)) may be given instead of w when w is within
    rounding of 0 or 1 (e.g. the automated share of tasks as it approaches 1). ``small_rho`` =
    (any, all) of |ρ| < RHO_SERIES, where the caller knows it (ρ fixed for a run).
    """
    u, v = torch.broadcast_tensors(u, v)
    if log_weights is None:
        w = torch.as_tensor(w, dtype=u.dtype).expand_as(u)
        log_w, log_1w = _log_weights(w)
    else:
        log_w, log_1w = log_weights
        w = torch.exp(log_w)
    rho = torch.as_tensor(rho, dtype=u.dtype).expand_as(u)
    d = u - v
    if small_rho is not None:
        any_small, all_small = small_rho
        small = rho.abs() < RHO_SERIES if any_small and not all_small else None
    else:
        small = rho.abs() < RHO_SERIES
        if torch.compiler.is_compiling():  # no data-dependent branch in a compiled graph: both, selected
            any_small, all_small = True, False
        else:  # (speed: skip a branch nobody uses)
            any_small, all_small = bool(small.any()), bool(small.all())
    if not all_small:
        rho_safe = torch.where(small, torch.full_like(rho, RHO_SERIES), rho) if any_small else rho
        exact = v + torch.logaddexp(log_w + rho_safe * d, log_1w) / rho_safe
        if not any_small:
            return exact
    q = w * (1.0 - w)
    d_safe = d if all_small else torch.where(small, d, torch.zeros_like(d))  # unused branch stays finite
    series = v + w * d_safe + rho * (q * d_safe**2 / 2.0 + rho * (q * (1.0 - 2.0 * w) * d_safe**3 / 6.0
                                                           + rho * q * (1.0 - 6.0 * q) * d_safe**4 / 24.0))
    return series if all_small else torch.where(small, series, exact)


def share_logit(u: Tensor, v: Tensor, w: Tensor | float | None, rho: Tensor | float,
                log_weights: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """logit of the first input's income share in the nest: logit w + ρ (u − v) (±inf at w = 1, 0)."""
    u, v = torch.broadcast_tensors(u, v)
    if log_weights is None:
        w = torch.as_tensor(w, dtype=u.dtype).expand_as(u)
        log_w, log_1w = _log_weights(w)
    else:
        log_w, log_1w = log_weights
    return log_w - log_1w + torch.as_tensor(rho, dtype=u.dtype) * (u - v)


def first_share(u: Tensor, v: Tensor, w: Tensor | float, rho: Tensor | float) -> Tensor:
    """∂M_ρ/∂u: the first input's income share in the nest, sigmoid(logit w + ρ (u − v))."""
    return torch.sigmoid(share_logit(u, v, w, rho))


def ces(x: Tensor, y: Tensor, w: Tensor | float, rho: Tensor | float) -> Tensor:
    """Weighted CES in levels, [w x^ρ + (1−w) y^ρ]^{1/ρ} (x^w y^{1−w} at ρ = 0). For tests and notebooks."""
    return torch.exp(log_power_mean(torch.log(x), torch.log(y), w, rho))


#: The calculator's CES switches: |ρ| below this is Cobb-Douglas, below the other Leontief (min).
RHO_COBB_DOUGLAS = 1e-9
RHO_LEONTIEF = -50.0


class CESConstants(NamedTuple):
    """What :func:`log_ces` needs of its weight and ρ alone (fixed for a run: computed once)."""

    w1: Tensor  # weight, clamped to [0, 1]
    rho_safe: Tensor  # ρ, 1 where Cobb-Douglas or Leontief
    log_w1: Tensor
    log_w2: Tensor
    cobb_douglas: Tensor | None  # mask; None where no sample is Cobb-Douglas
    leontief: Tensor | None  # mask; None where no sample is Leontief


def ces_constants(w1: Tensor, rho: Tensor, prune: bool = False) -> CESConstants:
    """:class:`CESConstants` of weight ``w1`` and ``rho``; ``prune`` drops a mask no sample is in
    (read off the tensors once, so that the evaluations have no data-dependent branch)."""
    w1 = w1.clamp(0.0, 1.0)
    cd = rho.abs() < RHO_COBB_DOUGLAS
    leontief = rho < RHO_LEONTIEF
    rho_safe = torch.where(cd | leontief, torch.ones_like(rho), rho)
    lw1 = torch.log(w1.clamp_min(1e-300))
    lw2 = torch.log((1.0 - w1).clamp_min(1e-300))
    if prune:
        cd = cd if bool(cd.any()) else None
        leontief = leontief if bool(leontief.any()) else None
    return CESConstants(w1, rho_safe, lw1, lw2, cd, leontief)


def log_ces(log_x1: Tensor, log_x2: Tensor, w1: Tensor, rho: Tensor, constants: CESConstants | None = None
            ) -> Tensor:
    """ln of (w1·x1^ρ + (1−w1)·x2^ρ)^(1/ρ), evaluated in log space (``constants``: those of w1
    and ρ, if computed already).

    Limits: ρ → 0 gives Cobb-Douglas x1^w1·x2^(1−w1); ρ = 1 the weighted sum; ρ → −∞ the minimum.
    """
    c = constants if constants is not None else ces_constants(w1, rho)
    out = torch.logaddexp(c.log_w1 + c.rho_safe * log_x1, c.log_w2 + c.rho_safe * log_x2) / c.rho_safe
    if c.cobb_douglas is not None:
        out = torch.where(c.cobb_douglas, c.w1 * log_x1 + (1.0 - c.w1) * log_x2, out)
    if c.leontief is not None:
        out = torch.where(c.leontief, torch.minimum(log_x1, log_x2), out)
    return out


def ces_log_shares(log_x1: Tensor, log_x2: Tensor, w1: Tensor, rho: Tensor) -> Tensor:
    """Share of the first input in the CES sum, d ln Y / d ln x1 (used for growth rates)."""
    w1 = w1.clamp(0.0, 1.0)
    cd = rho.abs() < RHO_COBB_DOUGLAS
    t1 = torch.log(w1.clamp_min(1e-300)) + rho * log_x1
    t2 = torch.log((1.0 - w1).clamp_min(1e-300)) + rho * log_x2
    return torch.where(cd, w1, torch.sigmoid(t1 - t2))


def log_soft_min(u: Tensor, v: Tensor, sharpness: Tensor | float) -> Tensor:
    """ln of the smooth minimum of e^u and e^v: −(1/s) ln(e^{−s u} + e^{−s v}), s > 0.

    Never above min(u, v), at most ln(2)/s below it (where u = v), and within
    e^{−s |u − v|}/s of it elsewhere; increasing in both inputs. The derivative with respect to u
    is the weight sigmoid(s (v − u)) of :func:`soft_min_weight`.
    """
    return -torch.logaddexp(-sharpness * u, -sharpness * v) / sharpness


def soft_min_weight(u: Tensor, v: Tensor, sharpness: Tensor | float) -> Tensor:
    """∂ log_soft_min / ∂u = sigmoid(s (v − u)) (the share of the first constraint in binding)."""
    return torch.sigmoid(sharpness * (v - u))

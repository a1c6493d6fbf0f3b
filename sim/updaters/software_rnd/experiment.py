"""Experiment throughput: a CES of (discounted) experiment compute and serial coding labour.

    X = ( α·(C_xpm^ζ)^ρ + (1 − α)·(L_serial)^ρ )^(1/ρ)

ρ, α and ζ are not entered directly. They follow from three statements about X at the present
day, with human labour only (L_serial = L_H^λ):

1. with unlimited coding labour X would be ``a`` times larger, with unlimited experiment compute
   ``b`` times larger. With present-day input shares u + v = 1 these asymptotes are u^(1/ρ) = a and
   v^(1/ρ) = b, so ρ solves a^ρ + b^ρ = 1;
2. with 1/N (N = 10) of today's experiment compute X is smaller by a factor D (the "divisor"),
   i.e. X(N·C)/X(C) = M = 1/D at N = 0.1, which gives ζ = ln((1 + k)·M^ρ − k) / (ρ ln N) with
   k = (b/a)^ρ;
3. α = 1 / (1 + ((C_0^ζ / L_0^λ)·(b/a))^ρ) puts today's shares where (1) needs them.

Everything here is batched over samples; the root of (1) is found by bisection and finished with
one Newton step that carries gradients (implicit-function derivative).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from sim.ces import RHO_COBB_DOUGLAS, RHO_LEONTIEF, CESConstants, ces_constants, ces_log_shares, log_ces  # noqa: F401 (re-exported)


def solve_rho_from_asymptotes(a: Tensor, b: Tensor, lower: float = RHO_LEONTIEF, upper: float = 1.0,
                              iterations: int = 200) -> Tensor:
    """ρ with a^ρ + b^ρ = 1 (a, b > 1), batched; 0 where the bracket [lower, upper] holds no root."""
    la, lb = torch.log(a.clamp_min(1e-10)), torch.log(b.clamp_min(1e-10))

    def f(r):
        return torch.exp(r * la) + torch.exp(r * lb) - 1.0

    with torch.no_grad():
        lo = torch.full_like(la, lower)
        hi = torch.full_like(la, upper)
        f_lo, f_hi = f(lo), f(hi)
        ok = (f_lo * f_hi) <= 0
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            fm = f(mid)
            left = (fm * f_lo) <= 0
            hi = torch.where(left, mid, hi)
            lo = torch.where(left, lo, mid)
            f_lo = torch.where(left, f_lo, fm)
            if float((hi - lo).max()) < 1e-15:
                break
        root = 0.5 * (lo + hi)
        fprime = la * torch.exp(root * la) + lb * torch.exp(root * lb)
    root = root - f(root) / fprime  # carries d root / d (a, b)
    return torch.where(ok, root, torch.zeros_like(root))


def experiment_capacity_params(inf_labor: Tensor, inf_compute: Tensor, tenth_compute_divisor: Tensor,
                               compute_change: Tensor, log_exp_compute0: Tensor, log_human0: Tensor,
                               parallel_penalty: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(ρ_X, α, ζ) per sample from the asymptotes and the compute anchor (module docstring)."""
    rho = solve_rho_from_asymptotes(inf_labor, inf_compute)
    k = torch.exp(rho * (torch.log(inf_compute) - torch.log(inf_labor)))
    m = 1.0 / tenth_compute_divisor
    zeta = torch.log((1.0 + k) * torch.exp(rho * torch.log(m)) - k) / (rho * torch.log(compute_change))
    log_ratio = zeta * log_exp_compute0 - parallel_penalty * log_human0 + torch.log(inf_compute / inf_labor)
    alpha = 1.0 / (1.0 + torch.exp(rho * log_ratio))
    return rho, alpha, zeta


class ThroughputConstants(NamedTuple):
    """:func:`log_throughput`'s functions of the parameters alone (computed once per run)."""

    zeta: Tensor  # ζ clamped
    ces: CESConstants


def throughput_constants(alpha: Tensor, rho: Tensor, zeta: Tensor, zeta_min: float, zeta_max: float
                         ) -> ThroughputConstants:
    return ThroughputConstants(zeta.clamp(zeta_min, zeta_max), ces_constants(alpha, rho, prune=True))


def log_throughput(log_exp_compute: Tensor, log_serial_labor: Tensor, alpha: Tensor, rho: Tensor, zeta: Tensor,
                   zeta_min: float, zeta_max: float, constants: ThroughputConstants | None = None) -> Tensor:
    """ln X with the calculator's clamps (ζ to [zeta_min, zeta_max], α to [0, 1]); ``constants``
    from :func:`throughput_constants` where the parameters are fixed."""
    if constants is None:
        return log_ces(zeta.clamp(zeta_min, zeta_max) * log_exp_compute, log_serial_labor, alpha, rho)
    return log_ces(constants.zeta * log_exp_compute, log_serial_labor, alpha, rho, constants.ces)


LN10 = math.log(10.0)

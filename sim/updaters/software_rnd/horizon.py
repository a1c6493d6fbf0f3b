"""The 80% coding time horizon as a function of progress, and the automated-coder threshold.

Each doubling of the horizon needs d times the effective-compute OOMs of the previous one
(d < 1: superexponential). With today's horizon H0 at today's progress P_now and today's doubling
time T0 years (τ = T0·ρ̇0 OOMs, ρ̇0 = today's human-only progress rate):

    H(P) = H0 · [1 − (1 − d)(P − P_now)/τ]^(ln 2 / ln d)        (d ≠ 1)
    H(P) = H0 · 2^((P − P_now)/τ)                               (d = 1)

For d < 1 the horizon is infinite at P = P_now + τ/(1 − d); like the calculator we clamp the
bracket at a tiny positive number. The automated-coder threshold is the progress at which H
reaches the AC horizon, plus, in the "gap" variant, a gap of some present-day progress-years:

    P_AC = P_now + τ·(1 − (H_target/H0)^(log2 d))/(1 − d)  [+ gap_years·ρ̇0]

with H_target the AC horizon (no gap) or the pre-gap horizon (gap).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

LN2 = math.log(2.0)
#: Bracket clamp of the calculator (keeps the power finite beyond the blow-up point).
_BASE_FLOOR = 1e-12
_D_ONE = 1e-12


def doublings_to_progress(log2_ratio: Tensor, d: Tensor) -> Tensor:
    """OOMs (in units of τ) needed for log2_ratio doublings: (1 − d^n)/(1 − d), n doublings."""
    log_d = torch.log(d)
    near_one = (1.0 - d).abs() < _D_ONE
    one_minus = torch.where(near_one, torch.ones_like(d), 1.0 - d)
    general = -torch.expm1(log_d * log2_ratio) / one_minus
    return torch.where(near_one, log2_ratio, general)


def ac_progress_threshold(p_now: Tensor, tau: Tensor, d: Tensor, present_horizon: Tensor, ac_horizon: Tensor,
                          pre_gap_horizon: Tensor, include_gap: Tensor, gap_years: Tensor,
                          anchor_rate: Tensor) -> Tensor:
    gap = include_gap > 0.5
    target = torch.where(gap, pre_gap_horizon, ac_horizon)
    log2_ratio = torch.log2(target / present_horizon)
    p_ac = p_now + tau * doublings_to_progress(log2_ratio, d)
    return p_ac + torch.where(gap, gap_years * anchor_rate, torch.zeros_like(p_ac))


def log_horizon(progress: Tensor, p_now: Tensor, tau: Tensor, d: Tensor, present_horizon: Tensor) -> Tensor:
    """ln H(P) in ln-minutes (broadcasts [B] parameters over [B] or [B, T] progress)."""
    def b(v):
        return v.reshape(v.shape + (1,) * (progress.dim() - v.dim()))

    p_now, tau, d, h0 = b(p_now), b(tau), b(d), b(present_horizon)
    x = (progress - p_now) / tau
    near_one = (1.0 - d).abs() < _D_ONE
    log_d = torch.where(near_one, torch.full_like(d, -1.0), torch.log(d))
    base = (1.0 - (1.0 - d) * x).clamp_min(_BASE_FLOOR)
    general = torch.log(h0) + LN2 / log_d * torch.log(base)
    return torch.where(near_one, torch.log(h0) + LN2 * x, general)

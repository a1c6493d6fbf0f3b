"""Coding automation schedule and its present-day anchor.

The fraction of coding tasks AIs can do is a logistic in progress P (OOMs of effective compute):

    A(P) = clip( L / (1 + exp(−k (P − x0))), 0, 1 )

with asymptote L slightly above 1 (so A reaches 1 at a finite P). k and x0 are fixed by two
anchors: A = 1 at the automated-coder threshold P_AC, and A = A_now at today's progress P_now.
A_now is not an input: it is solved per sample so that, at present-day effective compute,
coders and inference compute, the optimal-CES coding labour (``coding_labor.py``) is the stated
present-day multiple (the "SWE multiplier") of human-only coding labour. That is a monotone
one-dimensional root in A_now, found by a batched bracketing solve (Illinois regula falsi in
logit(A_now)) on the full task grid, then finished with one Newton step that carries gradients.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from sim.updaters.software_rnd.coding_labor import LN10, Frontier, build_frontier

#: Clamp of the logistic's exponent (the calculator's SIGMOID_EXPONENT_CLAMP).
_EXP_CLAMP = 100.0


def logistic_from_anchors(p_low: Tensor, a_low: Tensor, p_high: Tensor, a_high: Tensor | float,
                          asymptote: Tensor) -> tuple[Tensor, Tensor]:
    """(k, x0) of the logistic through (p_low, a_low) and (p_high, a_high)."""
    a_high = torch.as_tensor(a_high, dtype=p_low.dtype).expand_as(p_low)
    r1 = asymptote / a_low - 1.0
    r2 = asymptote / a_high - 1.0
    k = torch.log(r1 / r2) / (p_high - p_low)
    x0 = p_low + torch.log(r1) / k
    return k, x0


def automation_fraction(progress: Tensor, k: Tensor, x0: Tensor, asymptote: Tensor) -> Tensor:
    expo = (-k * (progress - x0)).clamp(-_EXP_CLAMP, _EXP_CLAMP)
    return (asymptote / (1.0 + torch.exp(expo))).clamp(0.0, 1.0)


def solve_present_automation(target_log_multiplier: Tensor, p_now: Tensor, p_ac: Tensor, log_h: Tensor,
                             log_c: Tensor, asymptote: Tensor, rho: Tensor, theta: Tensor, eta: Tensor,
                             tail_eps: Tensor, grid_size: int, a_clip: float, scan: tuple[float, ...],
                             no_root_value: float, coarse_size: int = 512, iterations: int = 40,
                             tolerance: float = 1e-11, chunk: int = 512) -> tuple[Tensor, Tensor]:
    """A_now per sample with ln(L_C/L_H) at the present day = ``target_log_multiplier``.

    The implied multiplier rises with A_now over the range that matters but turns down (and gets
    numerically erratic) as A_now -> 1, where the two anchors meet and the logistic flattens.
    The calculator's bounded minimiser of |residual| started mid-range settles on the first root,
    so we scan ``scan`` (values of logit A_now, increasing) for the first point where the
    residual is positive, then solve in that bracket (Illinois regula falsi in logit A_now).
    Where no scanned point is positive the target is unreachable; the calculator's minimiser then
    ends next to its upper bound, at ``no_root_value``. Returns (A_now, solved).

    Cost control: (1) the root is found first on a coarse task grid, then refined on the full grid
    by a few secant steps (samples where that does not settle get the full solve); (2) at the
    anchor the lookups only touch tasks up to A_now, so each evaluation builds the tables only that
    far, for the samples still iterating, in chunks sorted by A_now.
    """
    a_top = 1.0 - a_clip
    log_e = LN10 * p_now

    def residual(idx: Tensor, y: Tensor, size: int) -> Tensor:
        """Residual at logit(A_now) = y [n] for the samples ``idx`` [n] on a ``size``-task grid."""
        out = torch.empty_like(y)
        order = torch.argsort(y)
        grid_max = torch.clamp(1.0 - tail_eps, min=1e-6)
        for lo in range(0, len(order), chunk):
            part = order[lo:lo + chunk]
            rows, yy = idx[part], y[part]
            a = torch.sigmoid(yy)
            k, x0 = logistic_from_anchors(p_now[rows], a, p_ac[rows], a_top, asymptote[rows])
            need = int(torch.ceil((a * (size - 1) / grid_max[rows]).max()).item()) + 3
            fr = build_frontier(k, x0, asymptote[rows], rho[rows], theta[rows], eta[rows], tail_eps[rows], size,
                                nodes=need)
            out[part] = fr.log_labor(log_h[rows], log_c[rows], log_e[rows], slot=None) - log_h[rows] \
                - target_log_multiplier[rows]
        return out

    with torch.no_grad():
        B = p_now.shape[0]
        everyone = torch.arange(B)
        if coarse_size < grid_size:
            y, status = _solve(residual, everyone, coarse_size, scan, iterations, 1e-9, p_now.dtype)
            y, status = _refine(residual, everyone, y, status, grid_size, scan, iterations, tolerance, p_now.dtype)
        else:
            y, status = _solve(residual, everyone, grid_size, scan, iterations, tolerance, p_now.dtype)
        solved = status == _SOLVED
        y = torch.where(status == _NO_ROOT, torch.full_like(y, math.log(no_root_value / (1 - no_root_value))), y)
    needs_grad = torch.is_grad_enabled() and any(v.requires_grad for v in (target_log_multiplier, p_now, p_ac, theta))
    if needs_grad:
        with torch.no_grad():
            h = 1e-6
            slope = (residual(everyone, y + h, grid_size) - residual(everyone, y - h, grid_size)) / (2 * h)
        safe = torch.where(solved & (slope != 0) & torch.isfinite(slope), slope, torch.full_like(slope, math.inf))
        y = y - _residual_full(y, target_log_multiplier, p_now, p_ac, log_h, log_c, asymptote, rho, theta, eta,
                               tail_eps, grid_size, a_top) / safe
    return torch.sigmoid(y), solved


_SOLVED, _AT_BOTTOM, _NO_ROOT = 0, 1, 2


def _solve(residual, idx: Tensor, size: int, scan, iterations: int, tolerance: float, dtype):
    """Scan + Illinois for the samples ``idx`` on a ``size`` grid -> (logit A_now [n], status [n])."""
    n = len(idx)
    local = torch.arange(n)
    y_lo = torch.full((n,), float(scan[0]), dtype=dtype)
    f_lo = residual(idx, y_lo, size)
    y_hi, f_hi = y_lo.clone(), f_lo.clone()
    at_bottom = f_lo > 0  # above target at the lowest point: the root is at the bottom end
    below = ~at_bottom
    for y_val in scan[1:]:
        active = local[below]
        if len(active) == 0:
            break
        y = torch.full((len(active),), float(y_val), dtype=dtype)
        fy = residual(idx[active], y, size)
        hit = fy > 0
        y_hi[active] = torch.where(hit, y, y_hi[active])
        f_hi[active] = torch.where(hit, fy, f_hi[active])
        y_lo[active] = torch.where(hit, y_lo[active], y)
        f_lo[active] = torch.where(hit, f_lo[active], fy)
        below[active] = ~hit
    solved = ~below & ~at_bottom
    last = torch.zeros_like(f_lo)  # +1: the upper end was replaced last, -1: the lower end
    y = torch.where(solved, 0.5 * (y_lo + y_hi), y_lo)
    busy = solved.clone()
    for _ in range(iterations):
        active = local[busy]
        if len(active) == 0:
            break
        yl, yh, fl, fh = y_lo[active], y_hi[active], f_lo[active], f_hi[active]
        denom = fh - fl
        ya = torch.where(denom != 0, yh - fh * (yh - yl) / denom, 0.5 * (yl + yh))
        ya = torch.where((ya <= yl) | (ya >= yh) | ~torch.isfinite(ya), 0.5 * (yl + yh), ya)
        fy = residual(idx[active], ya, size)
        replace_hi = fy > 0
        la = last[active]
        # Illinois: halve the value kept at an end that survives twice in a row
        fl = torch.where(replace_hi & (la == 1), 0.5 * fl, fl)
        fh = torch.where(~replace_hi & (la == -1), 0.5 * fh, fh)
        y_hi[active] = torch.where(replace_hi, ya, yh)
        f_hi[active] = torch.where(replace_hi, fy, fh)
        y_lo[active] = torch.where(replace_hi, yl, ya)
        f_lo[active] = torch.where(replace_hi, fl, fy)
        last[active] = torch.where(replace_hi, torch.ones_like(la), -torch.ones_like(la))
        y[active] = ya
        busy[active] = ~(((y_hi[active] - y_lo[active]) < tolerance) | (fy.abs() < 1e-13))
    status = torch.where(solved, _SOLVED, torch.where(at_bottom, _AT_BOTTOM, _NO_ROOT))
    return y, status


def _refine(residual, idx, y, status, size, scan, iterations, tolerance, dtype, steps: int = 6):
    """Secant steps on the full grid from the coarse roots; unsettled samples get the full solve."""
    n = len(idx)
    local = torch.arange(n)
    y = y.clone()
    ok = torch.zeros(n, dtype=torch.bool)
    cand = local[status == _SOLVED]
    if len(cand):
        y0 = y[cand]
        f0 = residual(idx[cand], y0, size)
        y1 = y0 + 1e-4
        f1 = residual(idx[cand], y1, size)
        done = f0.abs() < 1e-13
        for _ in range(steps):
            denom = f1 - f0
            y2 = torch.where(denom != 0, y1 - f1 * (y1 - y0) / denom, y1)
            y0, f0 = y1, f1
            y1 = torch.where(done, y1, y2)
            live = ~done
            if not bool(live.any()):
                break
            f1 = f1.clone()
            f1[live] = residual(idx[cand[live]], y1[live], size)
            done = done | (f1.abs() < 1e-12) | ((y1 - y0).abs() < tolerance)
        good = done & torch.isfinite(y1) & ((y1 - y[cand]).abs() < 0.5)
        y[cand[good]] = y1[good]
        ok[cand[good]] = True
    rest = local[~ok]
    if len(rest):
        y_rest, s_rest = _solve(residual, idx[rest], size, scan, iterations, tolerance, dtype)
        y[rest], status = y_rest, status.clone()
        status[rest] = s_rest
    return y, status


def _residual_full(y, target, p_now, p_ac, log_h, log_c, asymptote, rho, theta, eta, tail_eps, grid_size, a_top):
    """The anchor residual with gradients (used once, for the implicit-function step)."""
    k, x0 = logistic_from_anchors(p_now, torch.sigmoid(y), p_ac, a_top, asymptote)
    fr = build_frontier(k, x0, asymptote, rho, theta, eta, tail_eps, grid_size)
    return fr.log_labor(log_h, log_c, LN10 * p_now) - log_h - target


def present_frontier(a_now: Tensor, p_now: Tensor, p_ac: Tensor, asymptote: Tensor, rho: Tensor, theta: Tensor,
                     eta: Tensor, tail_eps: Tensor, grid_size: int) -> tuple[Frontier, Tensor, Tensor]:
    """The run's schedule (anchors (P_now, A_now) and (P_AC, 1)) and its optimal-CES tables."""
    k, x0 = logistic_from_anchors(p_now, a_now, p_ac, 1.0, asymptote)
    return build_frontier(k, x0, asymptote, rho, theta, eta, tail_eps, grid_size), k, x0

"""Research taste: the human distribution, AI taste on its scale, and aggregate taste.

**Human taste.** A researcher's taste is T = g(x) with x ~ Normal(μ, σ²) and g an increasing map
bounded above by the taste limit A = m^(1 + ℓ), where m is the median-to-top multiplier (taste of
the top-percentile researcher over the median) and ℓ the limit measured in further such
multiples. The smoothing s ∈ (0, 1) shapes how g bends towards A:

* s = ½ (the Cobb-Douglas case): ln g(x) = ln A · (1 − exp(−x / ln A));
* otherwise, with q = 1/s − 1, a = q² (= A^ρ) and ρ = 2 ln q / ln A:
  g(x) = (a + (1 − a)·exp(ρ x / (1 − a)))^(1/ρ).

For A → ∞ both tend to exp(x), the lognormal. μ and σ are fixed by two conditions: the ratio of
the top-percentile taste to the median taste is m, g(μ + σ z_p)/g(μ) = m with z_p = Φ⁻¹(p), and
the mean taste is the baseline (1): E[g(μ + σ Z)] = 1, computed with 32-point Gauss-Hermite
quadrature. Both are solved per sample by a batched Newton iteration (one final Newton step is
taken with gradients attached, which gives the implicit-function derivative).

**AI taste** is a position on the same scale, in standard deviations of x:
sd_AI(P) = T_AC + s_T·(P − P_AC) (capped), and T_AI = g(μ + σ·sd_AI).

**Aggregate taste** is the mean of the human distribution with every researcher below the AI's
taste lifted to it, E[max(T, T_AI)]. Like the calculator, it is tabulated once per sample on a
log-spaced grid of floors between the 0.1th and 99.99th percentile (below: the plain mean;
above: the floor itself) and interpolated linearly in the floor. The table entries are
F·Φ(z_F) + ∫_{z_F}^∞ g(μ+σz)φ(z)dz with the tail integral taken as a right-to-left cumulative sum
on a uniform z grid (the calculator's quadrature, reproduced so the table matches it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

LN10 = math.log(10.0)

# Numerical guards of the calculator's transform (argument clamps of exp, smallest positive inner term).
_EXP_CLAMP = 700.0
_TINY = 1e-300
#: |s − ½| below this uses the Cobb-Douglas form (the calculator's switch).
_CD_TOLERANCE = 1e-6

#: TasteDistribution fields that are not [B] per-sample values.
_NOT_PER_SAMPLE = ("floor_table", "any_cobb_douglas", "_row_starts")

_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite.hermgauss(32)
GH_X = torch.as_tensor(np.sqrt(2.0) * _GH_NODES, dtype=torch.float64)  # standard-normal nodes
GH_W = torch.as_tensor(_GH_WEIGHTS / np.sqrt(np.pi), dtype=torch.float64)


@dataclass
class TasteDistribution:
    """Per-sample human taste distribution (all tensors [B], tables [B, n])."""

    mu: Tensor
    sigma: Tensor
    log_limit: Tensor  # ln A
    cobb_douglas: Tensor  # bool
    a_pow: Tensor  # a = q² (non-CD branch; 1 where CD)
    c1: Tensor  # 1 − a (1 where CD)
    rho: Tensor  # ρ (1 where CD)
    x_at_zero: Tensor  # x below which g = 0 (−inf unless a > 1)
    mean: Tensor  # E[g] by Gauss-Hermite (the calculator's "computed mean")
    floor_low: Tensor  # first floor of the table
    floor_high: Tensor
    log10_floor_start: Tensor
    log10_floor_step: Tensor
    floor_table: Tensor  # [B, n, 2]: floor value, mean with that floor
    any_cobb_douglas: bool = True  # False when no sample is Cobb-Douglas (its branch is skipped)
    _row_starts: Tensor = None  # cached first flat index of each sample's floor table

    # -- the transform ------------------------------------------------------------------------
    def log_taste(self, x: Tensor) -> Tensor:
        """ln g(x), x broadcastable against [B] (extra trailing dims allowed via [B, ...])."""
        return log_transform(x, self._b(self.log_limit, x), self._b(self.cobb_douglas, x), self._b(self.a_pow, x),
                             self._b(self.c1, x), self._b(self.rho, x), self.any_cobb_douglas)

    def taste(self, x: Tensor) -> Tensor:
        lt = self.log_taste(x)
        if not self.any_cobb_douglas:
            return torch.exp(lt)
        cd = self._b(self.cobb_douglas, x)
        return torch.exp(torch.where(cd, torch.minimum(lt, self._b(self.log_limit, x)), lt))

    def taste_at_sd(self, sd: Tensor) -> Tensor:
        return self.taste(self.mu + self.sigma * sd)

    def inverse(self, taste: Tensor) -> Tensor:
        """x with g(x) = taste ([B]); −inf/x_at_zero for taste <= 0, +inf for taste >= A."""
        A_log = self.log_limit
        safe = taste.clamp_min(_TINY)
        # Cobb-Douglas branch
        inner = (1.0 - torch.log(safe) / A_log).clamp(_TINY, math.exp(_EXP_CLAMP))
        x_cd = -A_log * torch.log(inner)
        # general branch
        t_pow = torch.exp(self.rho * torch.log(safe))
        ratio = ((t_pow - self.a_pow) / self.c1).clamp_min(_TINY)
        x_gen = self.c1 * torch.log(ratio) / self.rho
        x = torch.where(self.cobb_douglas, x_cd, x_gen)
        low = torch.where(self.cobb_douglas, torch.full_like(x, -math.inf), self.x_at_zero)
        x = torch.where(taste <= 0, low, x)
        return torch.where(torch.log(safe) >= A_log, torch.full_like(x, math.inf), x)

    def sd_and_quantile(self, taste: Tensor) -> tuple[Tensor, Tensor]:
        """(:meth:`sd_of_taste`, :meth:`quantile_of_taste`) with one inversion."""
        z = (self.inverse(taste) - self.mu) / self.sigma
        sd = torch.where(torch.isfinite(z), z, torch.zeros_like(z))
        q = torch.special.ndtr(z)
        q = torch.where(taste <= 0, torch.zeros_like(q), q)
        q = torch.where(torch.log(taste.clamp_min(_TINY)) >= self.log_limit, torch.ones_like(q), q)
        return sd, torch.where(torch.isfinite(q), q, torch.zeros_like(q))

    def sd_of_taste(self, taste: Tensor) -> Tensor:
        """Position of ``taste`` in SDs of x; non-finite results become 0 (as the calculator's metric)."""
        z = (self.inverse(taste) - self.mu) / self.sigma
        return torch.where(torch.isfinite(z), z, torch.zeros_like(z))

    def quantile_of_taste(self, taste: Tensor) -> Tensor:
        z = (self.inverse(taste) - self.mu) / self.sigma
        q = torch.special.ndtr(z)
        q = torch.where(taste <= 0, torch.zeros_like(q), q)
        q = torch.where(torch.log(taste.clamp_min(_TINY)) >= self.log_limit, torch.ones_like(q), q)
        return torch.where(torch.isfinite(q), q, torch.zeros_like(q))

    # -- aggregate taste ----------------------------------------------------------------------
    def mean_with_floor(self, floor: Tensor) -> Tensor:
        """E[max(T, floor)] by the per-sample table ([B] -> [B])."""
        floor = floor.clamp_min(0.0)
        n = self.floor_table.shape[1]
        u = (torch.log10(floor.clamp_min(_TINY)) - self.log10_floor_start) / self.log10_floor_step
        j = u.detach().floor().clamp(0, n - 2).long()
        # rows j and j+1 of the [B, n, 2] table are 4 consecutive numbers: one flat index_select
        rows = self._row_starts
        if rows is None or rows.shape[0] != floor.shape[0]:
            rows = self._row_starts = torch.arange(floor.shape[0]) * n
        start = (rows + j) * 2
        pair = self.floor_table.reshape(-1).index_select(0, (start[:, None] + torch.arange(4)).reshape(-1))
        f0, m0, f1, m1 = pair.view(-1, 4).unbind(1)
        w = ((floor - f0) / (f1 - f0)).clamp(0.0, 1.0)
        inside = torch.maximum(m0 + w * (m1 - m0), floor)
        out = torch.where(floor < self.floor_low, self.mean, inside)
        above = (floor > self.floor_high) | (torch.log(floor.clamp_min(_TINY)) >= self.log_limit)
        return torch.where(above, floor, out)

    @staticmethod
    def _b(v: Tensor, like: Tensor) -> Tensor:
        return v.reshape(v.shape + (1,) * (like.dim() - v.dim()))


def log_transform(x: Tensor, log_A: Tensor, cd: Tensor, a_pow: Tensor, c1: Tensor, rho: Tensor,
                  any_cd: bool = True) -> Tensor:
    """ln g(x) for both branches (see module docstring); parameters broadcast against x.
    ``any_cd`` False: no sample is Cobb-Douglas, so that branch is not computed."""
    e = (rho * x / c1).clamp(-_EXP_CLAMP, _EXP_CLAMP)
    inner = a_pow + c1 * torch.exp(e)
    inner = torch.where(c1 < 0, inner.clamp_min(0.0), inner.clamp_min(_TINY))
    lt_gen = torch.log(inner) / rho
    if not any_cd:
        return lt_gen
    scaled = (x / log_A).clamp(-_EXP_CLAMP, _EXP_CLAMP)
    lt_cd = log_A * (1.0 - torch.exp(-scaled))
    return torch.where(cd, lt_cd, lt_gen)


def _levenberg_marquardt(args, z_p, log_m, baseline, gh_x, gh_w, iterations: int) -> tuple[Tensor, Tensor]:
    """Solve the two taste conditions for (μ, ln σ) per sample by Levenberg-Marquardt least
    squares (the calculator uses least squares, which matters where both conditions cannot hold
    exactly, e.g. strong smoothing). Samples drop out of the batch as they converge."""

    def residuals(idx, mu, s):
        a = tuple(v[idx] for v in args)
        aN = tuple(v[:, None] for v in a)
        sigma = torch.exp(s)
        top = mu + sigma * z_p[idx]
        r1 = log_transform(top, *a) - log_transform(mu, *a) - log_m[idx]
        xs = mu[:, None] + sigma[:, None] * gh_x
        lt = log_transform(xs, *aN)
        tv = torch.where(aN[1], torch.exp(torch.minimum(lt, aN[0])), torch.exp(lt))
        r2 = (tv * gh_w).sum(1) - baseline[idx]
        # Jacobian in (mu, ln sigma)
        d_top = _dlog_transform(top, *a)
        d_med = _dlog_transform(mu, *a)
        dt = tv * _dlog_transform(xs, *aN)
        jac = (d_top - d_med, d_top * sigma * z_p[idx], (dt * gh_w).sum(1), (dt * gh_w * sigma[:, None] * gh_x).sum(1))
        return r1, r2, jac

    sigma0 = log_m / z_p
    mu = torch.log(baseline) - 0.5 * sigma0 ** 2
    s = torch.log(sigma0.clamp_min(1e-12))
    damping = torch.full_like(mu, 1e-3)
    everyone = torch.arange(mu.shape[0])
    r1, r2, jac = residuals(everyone, mu, s)
    state = {"r1": r1, "r2": r2, "j11": jac[0], "j12": jac[1], "j21": jac[2], "j22": jac[3]}
    cost = r1 * r1 + r2 * r2
    active = everyone[~(cost < 1e-26)]
    for _ in range(iterations):
        if len(active) == 0:
            break
        r1, r2 = state["r1"][active], state["r2"][active]
        j11, j12, j21, j22 = (state[k][active] for k in ("j11", "j12", "j21", "j22"))
        lam = damping[active]
        a11, a12, a22 = j11 * j11 + j21 * j21, j11 * j12 + j21 * j22, j12 * j12 + j22 * j22
        g1, g2 = j11 * r1 + j21 * r2, j12 * r1 + j22 * r2
        m11, m22 = a11 * (1 + lam), a22 * (1 + lam)
        det = m11 * m22 - a12 * a12
        det = torch.where(det.abs() < 1e-300, torch.full_like(det, 1e-300), det)
        dmu = (m22 * g1 - a12 * g2) / det
        ds = (-a12 * g1 + m11 * g2) / det
        t1, t2, tjac = residuals(active, mu[active] - dmu, s[active] - ds)
        tcost = t1 * t1 + t2 * t2
        better = torch.isfinite(tcost) & (tcost < cost[active])
        keep = active[better]
        mu[keep] = mu[keep] - dmu[better]
        s[keep] = s[keep] - ds[better]
        for key, val in zip(("r1", "r2", "j11", "j12", "j21", "j22"), (t1, t2) + tuple(tjac)):
            state[key][keep] = val[better]
        cost[keep] = tcost[better]
        damping[active] = torch.where(better, lam / 3.0, lam * 4.0).clamp(1e-12, 1e12)
        step = dmu.abs() + ds.abs()
        finished = (tcost < 1e-26) & better | (better & (step < 1e-13)) | (damping[active] >= 1e12)
        active = active[~finished]
    return mu, s


def _dlog_transform(x, log_A, cd, a_pow, c1, rho):
    """d ln g / dx (analytic, for the Newton solve)."""
    d_cd = torch.exp(-(x / log_A).clamp(-_EXP_CLAMP, _EXP_CLAMP))
    e = (rho * x / c1).clamp(-_EXP_CLAMP, _EXP_CLAMP)
    inner = (a_pow + c1 * torch.exp(e)).clamp_min(_TINY)
    d_gen = torch.exp(e) / inner
    return torch.where(cd, d_cd, d_gen)


def build_taste_distribution(median_to_top: Tensor, limit_m2t: Tensor, smoothing: Tensor, top_percentile: Tensor,
                             baseline_mean: Tensor, floor_low_quantile: float, floor_high_quantile: float,
                             floor_points: int, tail_half_width: float, tail_points: int,
                             newton_iterations: int = 200, chunk: int = 256) -> TasteDistribution:
    """Solve μ, σ per sample and tabulate the mean-with-floor (see module docstring)."""
    dtype = median_to_top.dtype
    log_A = (1.0 + limit_m2t) * torch.log(median_to_top)
    cd = (smoothing - 0.5).abs() < _CD_TOLERANCE
    q = 1.0 / smoothing - 1.0
    q = torch.where(cd, torch.full_like(q, 2.0), q)  # any finite value: Cobb-Douglas rows use their own branch
    a_pow = torch.where(cd, torch.ones_like(q), q * q)
    c1 = torch.where(cd, torch.ones_like(q), 1.0 - q * q)
    rho = torch.where(cd, torch.ones_like(q), 2.0 * torch.log(q) / log_A)
    x_at_zero = torch.where(~cd & (c1 < 0), c1 * torch.log(a_pow / (-c1).clamp_min(_TINY)) / rho,
                            torch.full_like(q, -math.inf))
    z_p = torch.special.ndtri(top_percentile)
    log_m = torch.log(median_to_top)
    gh_x, gh_w = GH_X.to(dtype), GH_W.to(dtype)
    args = (log_A, cd, a_pow, c1, rho)
    argsN = tuple(a[:, None] for a in args)

    def residuals(mu, s):
        sigma = torch.exp(s)
        r1 = log_transform(mu + sigma * z_p, *args) - log_transform(mu, *args) - log_m
        xs = mu[:, None] + sigma[:, None] * gh_x
        lt = log_transform(xs, *argsN)
        tv = torch.where(argsN[1], torch.exp(torch.minimum(lt, argsN[0])), torch.exp(lt))
        r2 = (tv * gh_w).sum(1) - baseline_mean
        return r1, r2, xs, tv

    ad = tuple(a.detach() for a in args)
    adN = tuple(a[:, None] for a in ad)

    def jacobian(mu, s, xs, tv):
        sigma = torch.exp(s)
        d_top = _dlog_transform(mu + sigma * z_p, *ad)
        d_med = _dlog_transform(mu, *ad)
        dt = tv * _dlog_transform(xs, *adN)  # dT/dx at the nodes
        return (d_top - d_med, d_top * sigma * z_p, (dt * gh_w).sum(1), (dt * gh_w * sigma[:, None] * gh_x).sum(1))

    with torch.no_grad():
        mu, s = _levenberg_marquardt(tuple(a.detach() for a in args), z_p.detach(), log_m.detach(),
                                     baseline_mean.detach(), gh_x, gh_w, newton_iterations)
        r1, r2, xs, tv = residuals(mu, s)
        # Jacobian at the solution (detached) for the implicit-gradient step below
        j11, j12, j21, j22 = jacobian(mu, s, xs, tv)
        det = j11 * j22 - j12 * j21
    if torch.is_grad_enabled() and any(a.requires_grad for a in (median_to_top, limit_m2t, smoothing, top_percentile)):
        r1, r2, _, _ = residuals(mu, s)  # depends on the parameters only
        mu = mu - (j22 * r1 - j12 * r2) / det
        s = s - (-j21 * r1 + j11 * r2) / det
    sigma = torch.exp(s)

    _, _, xs, tv = residuals(mu, s)
    mean = (tv * gh_w).sum(1)
    dist = TasteDistribution(mu=mu, sigma=sigma, log_limit=log_A, cobb_douglas=cd, a_pow=a_pow, c1=c1, rho=rho,
                             x_at_zero=x_at_zero, mean=mean, floor_low=mean, floor_high=mean,
                             log10_floor_start=mean, log10_floor_step=mean,
                             floor_table=torch.zeros(mu.shape[0], 2, 2, dtype=dtype))
    low = dist.taste_at_sd(torch.full_like(mu, float(torch.special.ndtri(torch.tensor(floor_low_quantile)))))
    high = dist.taste_at_sd(torch.full_like(mu, float(torch.special.ndtri(torch.tensor(floor_high_quantile)))))
    start = torch.log10(low.clamp_min(1e-10))
    step = (torch.log10(high) - start) / (floor_points - 1)
    tables = []
    for lo_i in range(0, mu.shape[0], chunk):
        sl = slice(lo_i, lo_i + chunk)
        tables.append(_floor_table(dist, sl, start[sl], step[sl], floor_points, tail_half_width, tail_points))
    dist.floor_low, dist.floor_high = low, high
    dist.log10_floor_start, dist.log10_floor_step = start, step
    dist.floor_table = torch.cat(tables, dim=0)
    dist.any_cobb_douglas = bool(cd.any())
    return dist


def _floor_table(dist: TasteDistribution, sl: slice, start: Tensor, step: Tensor, n: int, half_width: float,
                 tail_points: int) -> Tensor:
    """[b, n, 2] table (floor, mean with floor) for the samples in ``sl``."""
    dtype = start.dtype
    k = torch.arange(n, dtype=dtype)
    floors = 10.0 ** (start[:, None] + step[:, None] * k[:-1])
    # logspace ends exactly at the high percentile (concatenated, not written in place: autograd)
    floors = torch.cat([floors, dist.floor_high[sl][:, None].to(dtype)], dim=1)
    mu, sigma = dist.mu[sl], dist.sigma[sl]
    sub = TasteDistribution(**{f: (getattr(dist, f)[sl] if f not in _NOT_PER_SAMPLE else getattr(dist, f))
                               for f in dist.__dataclass_fields__})
    z = torch.linspace(-half_width, half_width, tail_points, dtype=dtype)
    dz = z[1] - z[0]
    x = mu[:, None] + sigma[:, None] * z
    any_cd = bool(sub.cobb_douglas.any())
    lt = log_transform(x, sub.log_limit[:, None], sub.cobb_douglas[:, None], sub.a_pow[:, None], sub.c1[:, None],
                       sub.rho[:, None], any_cd)
    if any_cd:
        lt = torch.where(sub.cobb_douglas[:, None], torch.minimum(lt, sub.log_limit[:, None]), lt)
    tv = torch.exp(lt)
    integrand = tv * torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    tail = torch.flip(torch.cumsum(torch.flip(integrand, [1]), 1), [1]) * dz  # ∫_{z_i}^∞ (right sums)
    # floor -> z_F by inverting the transform
    xf = TasteDistribution.inverse(_broadcast(sub, n), floors)
    zf = (xf - mu[:, None]) / sigma[:, None]
    u = ((zf + half_width) / dz).clamp(0.0, tail_points - 1.0)
    j = torch.where(torch.isfinite(u), u, torch.zeros_like(u)).floor().clamp(max=tail_points - 2).long()
    w = (u - j.to(dtype))
    t0, t1 = tail.gather(1, j), tail.gather(1, j + 1)
    upper = t0 + w * (t1 - t0)
    means = floors * torch.special.ndtr(zf) + upper
    means = torch.where(torch.isfinite(means), torch.maximum(means, floors), torch.maximum(floors, torch.ones_like(floors)))
    plain = sub.mean[:, None].expand_as(means)
    fall_back = (~torch.isfinite(xf)) | (xf <= sub.x_at_zero[:, None]) | (zf <= -half_width) | (floors <= 0)
    means = torch.where(fall_back, plain, means)
    means = torch.where(torch.log(floors) >= sub.log_limit[:, None], floors, means)
    return torch.stack([floors, means], dim=2)


def _broadcast(dist: TasteDistribution, n: int) -> TasteDistribution:
    """The per-sample parameters as [b, 1] so ``inverse`` works on [b, n] arrays."""
    fields = {f: getattr(dist, f) for f in dist.__dataclass_fields__}
    for name in ("mu", "sigma", "log_limit", "cobb_douglas", "a_pow", "c1", "rho", "x_at_zero"):
        fields[name] = fields[name][:, None]
    return TasteDistribution(**fields)

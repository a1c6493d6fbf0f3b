"""Priors of fitted parameters: each parameter's Monte Carlo distribution, as a standard normal
in a latent coordinate.

Every continuous distribution of ``sim.parameters.distributions`` is written as x = F⁻¹(Φ(z))
with z ~ N(0, 1): the coordinate the Monte Carlo sampler's Gaussian copula already uses, so the
rank correlations of ``parameters/correlations.csv`` make the prior z ~ N(0, R) with R the
copula's latent correlation matrix (ρ = 2 sin(π ρ_s / 6)). The fit minimises in z:

    normal       x = shift + (lo + hi)/2 + z (hi − lo)/(2 z90)
    lognormal    x = shift + exp(μ + σ z),  μ, σ from the 80% CI of x − shift
    uniform      x = lo + (hi − lo) Φ(z)
    beta(a, b)   x = lo + (hi − lo) I⁻¹_{a,b}(Φ(z))     (derivative φ(z)/f(x) in a custom backward)
    point        no prior (flat): x = x0 e^z for x0 > 0, x0 + z max(|x0|, 1) otherwise

A ``choice`` parameter is discrete: it gets no gradient and cannot be fitted. Hard bounds
(``min``/``max`` columns) clamp x, as the sampler does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats
from torch import Tensor

from sim.parameters import ParameterSpec
from sim.parameters.distributions import Z90, Beta, Choice, LogNormal, Normal, Point, Uniform

DTYPE = torch.float64


class FitError(ValueError):
    """A parameter that cannot be fitted, or bad fit input (message says which and why)."""


class _BetaPPF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, a, b):
        u = stats.norm.cdf(z.detach().numpy())
        x = stats.beta.ppf(u, a, b)
        ctx.save_for_backward(z, torch.as_tensor(x, dtype=DTYPE))
        ctx.ab = (a, b)
        return torch.as_tensor(x, dtype=DTYPE)

    @staticmethod
    def backward(ctx, grad):
        z, x = ctx.saved_tensors
        a, b = ctx.ab
        pdf = torch.as_tensor(stats.beta.pdf(x.numpy(), a, b), dtype=DTYPE)
        return grad * torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) / pdf, None, None


@dataclass(frozen=True)
class LatentPrior:
    """x(z) for one parameter; ``has_prior`` is False for point parameters (flat prior)."""

    spec: ParameterSpec
    kind: str
    has_prior: bool

    def to_x(self, z: Tensor) -> Tensor:
        d = self.spec.distribution
        if self.kind == "normal":
            x = d.shift + 0.5 * (d.low + d.high) + z * (d.high - d.low) / (2 * Z90)
        elif self.kind == "lognormal":
            mu = 0.5 * (math.log(d.low) + math.log(d.high))
            sigma = (math.log(d.high) - math.log(d.low)) / (2 * Z90)
            x = d.shift + torch.exp(mu + sigma * z)
        elif self.kind == "uniform":
            x = d.low + (d.high - d.low) * torch.special.ndtr(z)
        elif self.kind == "beta":
            x = d.low + (d.high - d.low) * _BetaPPF.apply(z, d.a, d.b)
        elif self.kind == "point_log":
            x = self.spec.value * torch.exp(z)
        else:  # point_linear
            x = self.spec.value + z * max(abs(self.spec.value), 1.0)
        return x.clamp(self.spec.minimum, self.spec.maximum)

    def to_z(self, x: float) -> float:
        d = self.spec.distribution
        if self.kind == "normal":
            return (x - d.shift - 0.5 * (d.low + d.high)) / ((d.high - d.low) / (2 * Z90))
        if self.kind == "lognormal":
            mu = 0.5 * (math.log(d.low) + math.log(d.high))
            sigma = (math.log(d.high) - math.log(d.low)) / (2 * Z90)
            return (math.log(x - d.shift) - mu) / sigma
        if self.kind == "uniform":
            return float(stats.norm.ppf(np.clip((x - d.low) / (d.high - d.low), 1e-12, 1 - 1e-12)))
        if self.kind == "beta":
            return float(stats.norm.ppf(np.clip(stats.beta.cdf((x - d.low) / (d.high - d.low), d.a, d.b),
                                                1e-12, 1 - 1e-12)))
        if self.kind == "point_log":
            return math.log(x / self.spec.value)
        return (x - self.spec.value) / max(abs(self.spec.value), 1.0)

    def describe(self) -> str:
        return self.spec.distribution.describe() if self.has_prior else "none (point parameter: flat prior)"


def latent_prior(spec: ParameterSpec) -> LatentPrior:
    d = spec.distribution
    if isinstance(d, Choice):
        raise FitError(f"{spec.name} has a discrete distribution ({d.describe()}, {spec.file} line {spec.line}): it "
                       "gets no gradient and cannot be fitted by gradient descent; pin it with --set instead")
    kinds = {Normal: "normal", LogNormal: "lognormal", Uniform: "uniform", Beta: "beta"}
    for cls, kind in kinds.items():
        if isinstance(d, cls):
            return LatentPrior(spec, kind, True)
    if isinstance(d, Point):
        return LatentPrior(spec, "point_log" if spec.value > 0 else "point_linear", False)
    raise FitError(f"{spec.name}: distribution {d.describe()} has no latent form")


def prior_precision(priors: list[LatentPrior], correlations: dict[tuple[str, str], float]) -> np.ndarray:
    """R⁻¹ over the parameters with a prior (zero rows and columns for flat priors)."""
    n = len(priors)
    index = [i for i, p in enumerate(priors) if p.has_prior]
    R = np.eye(len(index))
    pos = {priors[i].spec.name: k for k, i in enumerate(index)}
    for (a, b), rho in correlations.items():
        if a in pos and b in pos:
            R[pos[a], pos[b]] = R[pos[b], pos[a]] = 2.0 * math.sin(math.pi * rho / 6.0)
    out = np.zeros((n, n))
    if index:
        out[np.ix_(index, index)] = np.linalg.inv(R)
    return out

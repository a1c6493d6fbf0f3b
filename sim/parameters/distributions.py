"""Monte Carlo distributions of parameters, parsed from the CSV ``distribution, low, high, shift`` cells.

Each distribution maps a uniform quantile ``u`` in (0, 1) to a value (``ppf``), which is how the
Gaussian-copula sampler applies rank correlations. ``low``/``high`` are the 80% CI (10th and 90th
percentiles) for ``normal`` and ``lognormal`` and the support for ``uniform`` and ``beta``.
Adding a distribution is one class plus one registry line.
"""

from __future__ import annotations

import abc
import math
import re
from dataclasses import dataclass

import numpy as np
from scipy import stats

Z90 = stats.norm.ppf(0.9)  # 1.2816: the 90th percentile of the standard normal


class DistributionSpecError(ValueError):
    """A distribution cell cannot be parsed or its bounds are inconsistent (field named in ``field``)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Distribution(abc.ABC):
    """A Monte Carlo distribution: inverse CDF (for correlated sampling via a copula) and support."""

    @abc.abstractmethod
    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Quantiles at probabilities ``u`` in (0, 1)."""

    def support(self) -> tuple[float, float]:
        return (-math.inf, math.inf)

    def plausible_range(self) -> tuple[float, float]:
        """10th and 90th percentiles (the range a slider should offer)."""
        lo, hi = self.ppf(np.array([0.1, 0.9]))
        return float(lo), float(hi)

    def describe(self) -> str:
        return type(self).__name__.lower()


@dataclass(frozen=True)
class Point(Distribution):
    value: float

    def ppf(self, u):
        return np.full(np.shape(u), self.value, dtype=float)

    def support(self):
        return (self.value, self.value)

    def describe(self):
        return "point"


@dataclass(frozen=True)
class Normal(Distribution):
    low: float
    high: float
    shift: float = 0.0

    def ppf(self, u):
        mean = self.shift + 0.5 * (self.low + self.high)
        sd = (self.high - self.low) / (2 * Z90)
        return stats.norm.ppf(u, loc=mean, scale=sd) if sd > 0 else np.full(np.shape(u), mean)

    def describe(self):
        return f"normal 80% CI [{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class LogNormal(Distribution):
    """ln(X - shift) is normal; [low, high] is the 80% CI of X - shift (both > 0)."""

    low: float
    high: float
    shift: float = 0.0

    def ppf(self, u):
        mu = 0.5 * (math.log(self.low) + math.log(self.high))
        sigma = (math.log(self.high) - math.log(self.low)) / (2 * Z90)
        return self.shift + np.exp(mu + sigma * stats.norm.ppf(u))

    def support(self):
        return (self.shift, math.inf)

    def describe(self):
        s = f" + {self.shift:g}" if self.shift else ""
        return f"lognormal 80% CI [{self.low:g}, {self.high:g}]{s}"


@dataclass(frozen=True)
class Uniform(Distribution):
    low: float
    high: float

    def ppf(self, u):
        return self.low + (self.high - self.low) * np.asarray(u, dtype=float)

    def support(self):
        return (self.low, self.high)

    def describe(self):
        return f"uniform [{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class Beta(Distribution):
    a: float
    b: float
    low: float = 0.0
    high: float = 1.0

    def ppf(self, u):
        return self.low + (self.high - self.low) * stats.beta.ppf(u, self.a, self.b)

    def support(self):
        return (self.low, self.high)

    def describe(self):
        return f"beta({self.a:g},{self.b:g}) on [{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class Choice(Distribution):
    values: tuple[float, ...]
    probabilities: tuple[float, ...]

    def ppf(self, u):
        cum = np.cumsum(self.probabilities)
        cum = cum / cum[-1]
        idx = np.searchsorted(cum, np.asarray(u, dtype=float), side="right")
        return np.asarray(self.values, dtype=float)[np.clip(idx, 0, len(self.values) - 1)]

    def support(self):
        return (min(self.values), max(self.values))

    def plausible_range(self):
        return self.support()

    def describe(self):
        return "choice(" + ";".join(f"{v:g}:{p:g}" for v, p in zip(self.values, self.probabilities)) + ")"


_CALL = re.compile(r"^\s*([a-z_]+)\s*(?:\((.*)\))?\s*$")


def _num(text: str, field: str) -> float:
    try:
        number = float(text)
    except (TypeError, ValueError):
        raise DistributionSpecError(field, f"expected a number, got {text!r}") from None
    if not math.isfinite(number):
        raise DistributionSpecError(field, f"expected a finite number, got {text!r}")
    return number


def parse_distribution(spec: str, low: str, high: str, shift: str, value: float) -> Distribution:
    """Build a distribution from the CSV cells; raises DistributionSpecError naming the bad field."""
    spec = (spec or "point").strip().lower()
    m = _CALL.match(spec)
    if not m:
        raise DistributionSpecError("distribution", f"cannot parse distribution {spec!r}")
    kind, args = m.group(1), m.group(2)
    shift_value = _num(shift, "shift") if str(shift or "").strip() else 0.0

    def bounds() -> tuple[float, float]:
        if not str(low or "").strip() or not str(high or "").strip():
            raise DistributionSpecError("low", f"distribution {kind!r} needs both 'low' and 'high'")
        lo, hi = _num(low, "low"), _num(high, "high")
        if lo > hi:
            raise DistributionSpecError("low", f"low ({lo:g}) > high ({hi:g})")
        return lo, hi

    if kind == "point":
        return Point(value)
    if kind == "normal":
        lo, hi = bounds()
        return Normal(lo, hi, shift_value)
    if kind == "lognormal":
        lo, hi = bounds()
        if lo <= 0:
            raise DistributionSpecError("low", f"lognormal 80% CI must be positive (low = {lo:g})")
        return LogNormal(lo, hi, shift_value)
    if kind == "uniform":
        lo, hi = bounds()
        return Uniform(lo, hi)
    if kind == "beta":
        parts = [p for p in (args or "").split(",") if p.strip()]
        if len(parts) != 2:
            raise DistributionSpecError("distribution", f"beta needs two shape parameters, e.g. beta(3,3): {spec!r}")
        a, b = (_num(p, "distribution") for p in parts)
        if a <= 0 or b <= 0:
            raise DistributionSpecError("distribution", f"beta shapes must be positive: {spec!r}")
        lo, hi = bounds() if str(low or "").strip() else (0.0, 1.0)
        return Beta(a, b, lo, hi)
    if kind == "choice":
        items = [p for p in (args or "").split(";") if p.strip()]
        if not items:
            raise DistributionSpecError("distribution", f"choice needs options, e.g. choice(-2:0.5;-1:0.5): {spec!r}")
        values, probs = [], []
        for item in items:
            if ":" not in item:
                raise DistributionSpecError("distribution", f"choice option {item!r} must be value:probability")
            v, p = item.split(":", 1)
            values.append(_num(v, "distribution"))
            probs.append(_num(p, "distribution"))
        if any(p < 0 for p in probs):
            raise DistributionSpecError("distribution", f"choice probabilities must be >= 0: {spec!r}")
        if abs(sum(probs) - 1.0) > 1e-6:
            raise DistributionSpecError(
                "distribution", f"choice probabilities must sum to 1 (they sum to {sum(probs):g}): {spec!r}")
        return Choice(tuple(values), tuple(probs))
    raise DistributionSpecError(
        "distribution",
        f"unknown distribution {kind!r} (expected point, normal, lognormal, uniform, beta(a,b) or choice(...))",
    )


def in_support(dist: Distribution, value: float) -> bool:
    if isinstance(dist, Choice):
        return any(math.isclose(value, v, rel_tol=1e-12, abs_tol=1e-12) for v in dist.values)
    lo, hi = dist.support()
    if isinstance(dist, LogNormal):
        return value > lo
    return lo - 1e-12 * max(1.0, abs(lo)) <= value <= hi + 1e-12 * max(1.0, abs(hi))

"""Exogenous compute and labour schedules of the leading AI project, batched over samples.

Two kinds of input:

* **Input series** (``data/aifm_input_series_2012_2200.csv``, the AI Futures calculator's own input
  file): human coders, inference (automation) compute and experiment compute at the leading
  project, given at yearly nodes (plus one half-year node). Between nodes each series is
  interpolated linearly in its logarithm, i.e. it grows exponentially at a constant rate within a
  node interval; outside the file's range it is held at the end value.
* **Training-compute growth** g(t) in OOM/yr: ``g_pre`` before the slowdown year and ``g_post``
  after it. As in the calculator, the switch is made on the series' node grid (a node Y is
  "post" when Y >= slowdown year) and g is interpolated linearly between nodes, so the switch is
  a linear ramp over the node interval that contains the slowdown year.

For speed, everything is reduced at preparation time to index arithmetic: the node grid is
refined to a uniform grid (every node lies on it; the interpolant is unchanged because it is
piecewise linear between the original nodes), so evaluating the series at ``t`` is one floor,
one gather and one lerp, with no search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

DTYPE = torch.float64

#: The calculator's input series (copied from shared/reference/aifm_golden, md5 df8d1a8f...).
INPUT_SERIES_FILE = Path(__file__).resolve().parents[3] / "data" / "aifm_input_series_2012_2200.csv"

#: Column of the input file for each series, in the order of the stacked table.
SERIES_COLUMNS = ("L_HUMAN", "inference_compute", "experiment_compute")
HUMAN_CODERS, INFERENCE_COMPUTE, EXPERIMENT_COMPUTE = 0, 1, 2


@dataclass(frozen=True)
class InputSeries:
    """The input file on a uniform grid: ``log_values[k, s]`` = ln(series s) at ``start + k*step``."""

    node_years: Tensor  # [N0] the file's own node years
    start: float
    step: float
    log_values: Tensor  # [K, 3] ln of (human coders, inference H100e, experiment H100e)
    log_slopes: Tensor  # [K, 3] per-step increment of log_values (last row zero)

    shared_across_samples = True  # one table for every sample (not per-sample state)

    @property
    def end(self) -> float:
        return self.start + self.step * (self.log_values.shape[0] - 1)

    def log_at(self, t: Tensor) -> Tensor:
        """ln of the three series at times ``t`` (any shape) -> [..., 3] (log-linear interpolation, clamped)."""
        u = ((t - self.start) / self.step).clamp(0.0, self.log_values.shape[0] - 1.0)
        j = u.detach().floor().clamp(max=self.log_values.shape[0] - 2).long()
        frac = (u - j.to(u.dtype))[..., None]
        return self.log_values[j] + frac * self.log_slopes[j]


@lru_cache(maxsize=4)
def _load(path: str) -> InputSeries:
    import pandas as pd

    frame = pd.read_csv(path)
    years = np.array(frame["time"].to_numpy(dtype=float))
    if np.any(np.diff(years) <= 0):
        raise ValueError(f"{path}: years must increase")
    values = np.array(frame[list(SERIES_COLUMNS)].to_numpy(dtype=float))
    if np.any(values <= 0):
        raise ValueError(f"{path}: the series are interpolated in log space and must be positive")
    # Uniform grid on which every node lies: step = gcd of the node spacings (as fractions).
    diffs = [Fraction(float(d)).limit_denominator(1000) for d in np.diff(years)]
    step = diffs[0]
    for d in diffs[1:]:
        step = Fraction(math.gcd(step.numerator * d.denominator, d.numerator * step.denominator),
                        step.denominator * d.denominator)
    step_f = float(step)
    count = round((years[-1] - years[0]) / step_f) + 1
    grid = years[0] + step_f * np.arange(count)
    log_grid = np.stack([np.interp(grid, years, np.log(values[:, s])) for s in range(values.shape[1])], axis=1)
    slopes = np.zeros_like(log_grid)
    slopes[:-1] = np.diff(log_grid, axis=0)
    return InputSeries(node_years=torch.as_tensor(years, dtype=DTYPE), start=float(years[0]), step=step_f,
                       log_values=torch.as_tensor(log_grid, dtype=DTYPE),
                       log_slopes=torch.as_tensor(slopes, dtype=DTYPE))


def load_input_series(path: Path | str = INPUT_SERIES_FILE) -> InputSeries:
    """The input series file, cached."""
    return _load(str(Path(path).resolve()))


def growth_ramp_nodes(node_years: Tensor, slowdown_year: Tensor) -> tuple[Tensor, Tensor]:
    """Nodes (n0, n1) [B] between which training-compute growth ramps from g_pre to g_post.

    n1 is the first node with ``node >= slowdown_year`` and n0 the node before it. If every node
    is post-slowdown the ramp sits before the first node; if none is, after the last node.
    """
    nodes = node_years.to(slowdown_year.dtype)
    idx = torch.searchsorted(nodes, slowdown_year.detach().contiguous(), right=False)  # first node >= s
    first, last = nodes[0], nodes[-1]
    n1 = torch.where(idx >= len(nodes), last + 1.0, nodes[idx.clamp(max=len(nodes) - 1)])
    n0 = torch.where(idx == 0, first - 1.0, nodes[(idx - 1).clamp(min=0)])
    n0 = torch.where(idx >= len(nodes), last, n0)
    return n0, n1


def ramp_integral(t: Tensor, n0: Tensor, n1: Tensor) -> Tensor:
    """Antiderivative R(t) of ramp(t) = clamp((t - n0)/(n1 - n0), 0, 1), with R(n0) = 0."""
    w = n1 - n0
    inside = (t - n0).clamp(0.0, None).clamp(max=w)
    return inside * inside / (2.0 * w) + (t - n1).clamp(min=0.0)


@dataclass
class ComputeSchedule:
    """Per-sample exogenous inputs of the leading project (prepared once per simulation).

    ``log_multipliers`` [B, 3] are ln of the scenario multipliers on (human coders, inference
    compute, experiment compute); ``g_pre``/``g_post`` [B] OOM/yr; ``ramp_n0``/``ramp_n1`` [B].
    """

    series: InputSeries
    log_multipliers: Tensor
    g_pre: Tensor
    g_post: Tensor
    ramp_n0: Tensor
    ramp_n1: Tensor

    def log_inputs(self, t: Tensor) -> Tensor:
        """[B, 3]: ln human coders, ln inference compute (H100e), ln experiment compute (H100e)."""
        return self.series.log_at(t) + self.log_multipliers

    def training_growth(self, t: Tensor) -> Tensor:
        """Training-compute growth rate g(t) [B], OOM/yr."""
        ramp = ((t - self.ramp_n0) / (self.ramp_n1 - self.ramp_n0)).clamp(0.0, 1.0)
        return self.g_pre + (self.g_post - self.g_pre) * ramp

    def training_growth_integral(self, a: Tensor | float, b: Tensor | float) -> Tensor:
        """∫_a^b g(t) dt [B] in OOMs (exact for the piecewise-linear g)."""
        return self.training_growth_antiderivative(b) - self.training_growth_antiderivative(a)

    def training_growth_antiderivative(self, t: Tensor | float) -> Tensor:
        """An antiderivative of g: g_pre·(t − t_s) + (g_post − g_pre)·R(t) (t_s: series start, R(n0) = 0)."""
        t = torch.as_tensor(t, dtype=self.g_pre.dtype)
        return self.g_pre * (t - self.series.start) + (self.g_post - self.g_pre) * ramp_integral(
            t, self.ramp_n0, self.ramp_n1)


def schedule_from_params(params, series: InputSeries | None = None) -> ComputeSchedule:
    """Build the :class:`ComputeSchedule` from ``compute.*`` parameters."""
    series = series or load_input_series()
    log_mult = torch.stack([torch.log(params["compute.human_coders_multiplier"]),
                            torch.log(params["compute.inference_compute_multiplier"]),
                            torch.log(params["compute.experiment_compute_multiplier"])], dim=1)
    slowdown = params["compute.slowdown_year"]
    n0, n1 = growth_ramp_nodes(series.node_years, slowdown)
    return ComputeSchedule(series=series, log_multipliers=log_mult,
                           g_pre=params["compute.training_growth_pre_slowdown"],
                           g_post=params["compute.training_growth_post_slowdown"], ramp_n0=n0, ramp_n1=n1)

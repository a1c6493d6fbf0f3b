"""Locating threshold crossings in batched series, interpolated between output points."""

from __future__ import annotations

import torch
from torch import Tensor


def first_crossing(years: Tensor, series: Tensor, threshold: Tensor | float, log: bool = False) -> Tensor:
    """Year at which ``series`` [B, T] first reaches ``threshold`` ([B] or scalar), per sample.

    Between the last output point below the threshold and the first at or above it, the crossing
    is interpolated linearly in the value (or in log value when ``log``). Returns NaN where the
    threshold is never reached and ``years[0]`` where it is already reached at the start.
    Differentiable with respect to ``series`` and ``threshold``.
    """
    threshold = torch.as_tensor(threshold, dtype=series.dtype).expand(series.shape[0])
    values, target = series, threshold
    if log:
        values = torch.log(series.clamp_min(1e-300))
        target = torch.log(threshold.clamp_min(1e-300))
    above = values >= target[:, None]
    above = above & torch.isfinite(values)
    reached = above.any(dim=1)
    first = torch.argmax(above.to(torch.int8), dim=1)
    prev = (first - 1).clamp_min(0)
    v1 = values.gather(1, first[:, None]).squeeze(1)
    v0 = values.gather(1, prev[:, None]).squeeze(1)
    y1, y0 = years[first], years[prev]
    denom = torch.where(v1 - v0 == 0, torch.ones_like(v1), v1 - v0)
    frac = ((target - v0) / denom).clamp(0.0, 1.0)
    crossing = torch.where(first == 0, years[0].expand_as(y0), y0 + frac * (y1 - y0))
    nan = torch.full_like(crossing, float("nan"))
    return torch.where(reached, crossing, nan)

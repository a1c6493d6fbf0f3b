"""Locating threshold crossings in batched series, interpolated between output points, and the one
definition of a milestone percentile over an ensemble (:func:`milestone_percentiles`)."""

from __future__ import annotations

import numpy as np
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


# -- milestone percentiles: the one definition (CLI summary, the store's view, the dashboard) -------------------

#: Percentiles the store's ``milestone_percentiles`` view and the dashboard report.
MILESTONE_PERCENTS = (5, 10, 25, 50, 75, 90, 95)


def percentile_rank(percent: int, n_runs: int) -> int:
    """1-based rank k = max(1, ceil(percent * n_runs / 100)) of the p-th percentile among ``n_runs`` runs
    (integer arithmetic: no rounding at p * n = an integer)."""
    return max(1, -(-int(percent) * int(n_runs) // 100))


def milestone_percentiles(years, percents=(10, 50, 90)) -> dict:
    """Percentiles of a milestone's year over an ensemble's Monte Carlo runs, and the share that reaches it.

    The definition used everywhere (``python -m sim run`` summary, the store's ``milestone_percentiles``
    view, the dashboard's Milestones and Overview pages): the p-th percentile is the **earliest year by
    which at least p% of all runs have reached the milestone** (the inverse of the empirical CDF over all
    runs, a run that never reaches it counted as reaching it after the end year). With the reaching runs'
    years sorted y(1) <= ... <= y(m) out of n runs and k = max(1, ceil(p n / 100)), it is y(k) when
    k <= m and *not reached by the end year* otherwise (None here and NULL in SQL; "> end" on the
    dashboard). No interpolation between runs. An ensemble's central run is not one of its runs.

    ``years``: the runs' milestone years, NaN where not reached. Returns
    ``{"p10": ..., "p50": ..., ..., "reached": m / n}`` (``reached`` is 0 and every percentile None when n = 0).
    """
    values = np.asarray(years, dtype=float).ravel()
    reached = np.sort(values[np.isfinite(values)])
    n = len(values)
    out: dict = {}
    for p in percents:
        k = percentile_rank(p, n)
        out[f"p{p}"] = float(reached[k - 1]) if n and k <= len(reached) else None
    out["reached"] = float(len(reached) / n) if n else 0.0
    return out

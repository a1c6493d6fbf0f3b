"""Milestones of the software R&D model, from recorded series, with the calculator's rules.

* **AC** (automated coder): progress reaches P_AC; crossing interpolated linearly in P.
* **SAR** / **SIAR**: AI research taste reaches the top researcher (z SDs, z = Φ⁻¹(top
  percentile)) / three times that; and AC has happened: year = max(taste crossing, AC).
* **STRAT-AI**: taste reaches z·(1 + strat_m2t) SDs (no AC condition).
* **TED-AI** / **ASI**: taste reaches b·(1 + m) / b·(3 + m) SDs, m = ted_ai_m2t. The baseline b is
  z, except when the top-researcher taste level comes before AC: then b is the taste (in SDs) at AC.
* **AIR-Nx**: the AI R&D uplift reaches N (N = 5, 25, 250, 2000, 10000).
* **AI2027-SC**: the present-resources coding-labour multiplier reaches (serial)^(1/λ)·factor.

Taste and uplift crossings are interpolated in log space between the two output points around
the crossing (linear when either value is not positive), AC linearly; a series already at the
target at the first point crosses there. NaN = not reached.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

AIR_LEVELS = (5, 25, 250, 2000, 10000)


def crossing(years: Tensor, series: Tensor, target: Tensor, log_space: bool) -> Tensor:
    """First time ``series`` [B, T] reaches ``target`` [B] (NaN if never), interpolated."""
    target = torch.as_tensor(target, dtype=series.dtype).expand(series.shape[0])
    above = (series >= target[:, None]) & torch.isfinite(series)
    reached = above.any(dim=1)
    first = torch.argmax(above.to(torch.int8), dim=1)
    prev = (first - 1).clamp_min(0)
    v1 = series.gather(1, first[:, None]).squeeze(1)
    v0 = series.gather(1, prev[:, None]).squeeze(1)
    t1, t0 = years[first], years[prev]
    if log_space:
        positive = (v0 > 0) & (v1 > 0) & (target > 0) & (v1 != v0)
        l0, l1 = torch.log(v0.clamp_min(1e-300)), torch.log(v1.clamp_min(1e-300))
        lt = torch.log(target.clamp_min(1e-300))
        frac_log = (lt - l0) / torch.where(positive, l1 - l0, torch.ones_like(l1))
    else:
        positive = torch.zeros_like(reached)
        frac_log = torch.zeros_like(v0)
    denom = v1 - v0
    frac_lin = (target - v0) / torch.where(denom == 0, torch.ones_like(denom), denom)
    frac_lin = torch.where(denom == 0, torch.ones_like(frac_lin), frac_lin)
    frac = torch.where(positive, frac_log, frac_lin).clamp(0.0, 1.0)
    out = torch.where(first == 0, years[0].expand_as(t0), t0 + frac * (t1 - t0))
    return torch.where(reached, out, torch.full_like(out, math.nan))


def value_at(years: Tensor, series: Tensor, when: Tensor) -> Tensor:
    """series interpolated at times ``when`` [B] (linear; log-linear if the whole row is positive)."""
    T = years.shape[0]
    w = torch.where(torch.isfinite(when), when, years[0].expand_as(when))
    idx = torch.searchsorted(years.contiguous(), w.detach().contiguous(), right=True).clamp(1, T - 1)
    j0 = idx - 1
    t0, t1 = years[j0], years[idx]
    frac = ((w - t0) / (t1 - t0)).clamp(0.0, 1.0)
    v0 = series.gather(1, j0[:, None]).squeeze(1)
    v1 = series.gather(1, idx[:, None]).squeeze(1)
    all_pos = (series > 0).all(dim=1)
    lin = v0 + frac * (v1 - v0)
    lg = torch.exp(torch.log(v0.clamp_min(1e-300)) + frac * (torch.log(v1.clamp_min(1e-300))
                                                              - torch.log(v0.clamp_min(1e-300))))
    return torch.where(all_pos, lg, lin)


def software_milestones(years: Tensor, progress: Tensor, taste_sd: Tensor, uplift: Tensor,
                        present_resources_multiplier: Tensor, p_ac: Tensor, top_sd: Tensor, strat_m2t: Tensor,
                        ted_m2t: Tensor, parallel_penalty: Tensor, sc_serial: Tensor, sc_factor: Tensor
                        ) -> dict[str, Tensor]:
    """All milestone years [B] from series [B, T] on ``years`` [T]."""
    ac = crossing(years, progress, p_ac, log_space=False)
    nan = torch.full_like(ac, math.nan)
    sar_raw = crossing(years, taste_sd, top_sd, log_space=True)
    siar_raw = crossing(years, taste_sd, 3.0 * top_sd, log_space=True)
    out = {
        "AC": ac,
        "SAR": torch.where(torch.isnan(ac) | torch.isnan(sar_raw), nan, torch.maximum(sar_raw, ac)),
        "SIAR": torch.where(torch.isnan(ac) | torch.isnan(siar_raw), nan, torch.maximum(siar_raw, ac)),
        "STRAT-AI": crossing(years, taste_sd, top_sd * (1.0 + strat_m2t), log_space=True),
    }
    sd_at_ac = value_at(years, taste_sd, ac)
    sar_first = torch.isfinite(ac) & torch.isfinite(sar_raw) & (sar_raw < ac)
    base = torch.where(sar_first, sd_at_ac, top_sd)
    out["TED-AI"] = crossing(years, taste_sd, base * (1.0 + ted_m2t), log_space=True)
    out["ASI"] = crossing(years, taste_sd, base * (3.0 + ted_m2t), log_space=True)
    lam = parallel_penalty
    sc_target = torch.exp(torch.log(sc_serial) / lam.clamp_min(1e-12)) * sc_factor
    sc = crossing(years, present_resources_multiplier, sc_target, log_space=True)
    out["AI2027-SC"] = torch.where(lam > 0, sc, nan)
    for level in AIR_LEVELS:
        out[f"AIR-{level}x"] = crossing(years, uplift, torch.full_like(ac, float(level)), log_space=True)
    return out

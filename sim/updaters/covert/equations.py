"""Equations of covert compute and its detection (README.md in this folder). Batched, torch."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def detection_time_fit(mu_100: Tensor, mu_1000: Tensor) -> tuple[Tensor, Tensor]:
    """(A, B) of the mean time to detection μ(L) = A / (log10 L)^B through (100, μ100), (1000, μ1000):
    B = ln(μ100/μ1000) / ln(3/2), A = μ100 · 2^B."""
    b = torch.log(mu_100 / mu_1000) / math.log(1.5)
    return mu_100 * torch.exp(b * math.log(2.0)), b


def mean_detection_time(workforce: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """μ(L) = A / (log10 L)^B (years), for a workforce L > 1."""
    return a / torch.log10(workforce.clamp_min(1.0 + 1e-9)) ** b


def log_survival(elapsed: Tensor, mean: Tensor, scale: Tensor) -> Tensor:
    """ln P(no direct evidence by ``elapsed``) for a Gamma time to detection with mean μ and scale θ
    (shape μ/θ): ln Q(μ/θ, t/θ), Q the regularised upper incomplete gamma function."""
    q = torch.special.gammaincc(mean / scale, elapsed.clamp_min(0.0) / scale)
    return torch.log(q.clamp_min(1e-300))


def laplace_error(quantile: Tensor, median_error: Tensor) -> Tensor:
    """Relative error ε of an intelligence estimate at quantile u: |ε| exponential with median m,
    symmetric sign: ε = −(m/ln2)·sign(u − ½)·ln(1 − 2|u − ½|)."""
    d = quantile - 0.5
    return -(median_error / math.log(2.0)) * torch.sign(d) * torch.log1p(-2.0 * d.abs())


def accounting_log_lr(hidden_share: Tensor, error: Tensor, median_error: Tensor) -> Tensor:
    """ln LR of an accounting stream (chips, energy). The estimate is truth·(1 + ε); the nation
    reports truth·(1 − f). With a project, truth = reported/(1 − f) (relative error ε); without,
    truth = reported (relative error (1 + ε)/(1 − f) − 1). |error| exponential with rate ln2/m:

        ln LR = −(ln2/m)·(|ε| − |(1 + ε)/(1 − f) − 1|)."""
    k = math.log(2.0) / median_error
    e_none = (1.0 + error) / (1.0 - hidden_share) - 1.0
    return -k * (error.abs() - e_none.abs())


def compute_shares(share: Tensor, hidden_stock: Tensor, owner_stock: Tensor, owner: Tensor, hidden: Tensor
                   ) -> Tensor:
    """[B, P] each project's share of its owner's operating compute once hidden projects hold
    ``hidden_stock``: a hidden project adds its stock's share s_p = K_p/C_owner to its own share;
    the visible projects of the owner share what is left, share_p·(1 − Σ_hidden s)."""
    s = hidden_stock / owner_stock[:, owner]  # [B, P], 0 for visible projects
    per_nation = torch.zeros_like(owner_stock).index_add(1, owner, s)  # [B, N]
    visible = 1.0 - per_nation[:, owner]
    return torch.where(hidden[None, :], share + s, share * visible)

"""Aggregate coding labour: humans and AI over a continuum of coding tasks (optimal CES).

Tasks i ∈ [0, 1) have equal weight. Task i becomes automatable once effective compute E passes
E_aut(i) = 10^{P_i}, where P_i is the progress at which the coding-automation schedule (a
logistic in P, see ``automation.py``) reaches i. An AI working on an automatable task delivers
η_i = η_0·(E/E_aut(i))^θ human-equivalents per H100e (θ: OOMs of efficiency per OOM of E).

Each task gets G_i = h_i + η_i·c_i (human coders h_i, inference compute c_i, with ∫h = L_H,
∫c = C) and the project's coding labour is the CES aggregate L_C = (∫ G_i^ρ di)^(1/ρ), ρ < 0.
The allocation maximising L_C puts compute on the easiest tasks and humans on the rest, with a
single cut i_c. Writing κ = C/L_H, S = κ·η_0·E^θ, α' = ρ/(1−ρ), β' = α'θ, γ' = θ/(1−ρ),

    B(x) = ∫_0^x E_aut(u)^(−β') du,   F(x) = B(x)·E_aut(x)^(γ')/(1 − x),
    Q(x) = (1 − x)^(1−ρ),             R(x) = Q(x)·E_aut(x)^(−θ),

and i_E the last task automatable at E:

* interior case, S <= F(i_E): the cut solves F(i_c) = S and (L_C/L_H)^ρ = Q(i_c) + S·R(i_c);
* boundary case, S > F(i_E): i_c = i_E and (L_C/L_H)^ρ = Q(i_E) + S^ρ·B(i_E)^(1−ρ).

As in the calculator, B and F are tabulated per sample on a uniform grid of M tasks on
[0, 1 − ε] (trapezoid rule for B) and interpolated linearly; the grid stops at 1 − ε with
ε = cap^(ρ/(1−ρ)), so the human-only tail [1 − ε, 1] limits L_C/L_H to ``cap`` =
(max serial multiplier)^(1/λ). Lookups use index arithmetic (the grid is uniform in i and
E_aut(i) is known in closed form); only the interior inversion of F is a batched search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

LN10 = math.log(10.0)
#: Index clamp of the logistic inverse at i = 0 and i = L (the calculator's).
_INDEX_CLIP = 1e-9
#: Guard inside ln(1 − i) at i = 1 (the calculator's).
_ONE_MINUS_I_GUARD = 1e-18
#: Stand-in for ln 0 (log of an empty integral); finite so gradients stay defined.
NEG = -1e30


@dataclass
class _SegmentCache:
    """What one call site's lookups found last time, per sample ([B] nodes, [8, B] fields).

    ``node`` is the grid interval the call site needed (i_E's interval [j, j+1], or the interior
    cut's [hi − 1, hi]); ``fields`` its table rows and node values as :meth:`Frontier._interval_fields`
    / :meth:`Frontier._cut_fields` give them. Between solver stages both move for few samples
    (i_E's interval for about one sample in six, the cut for about one in a hundred), so a call
    fetches only those: the table, 16 KiB per sample, is otherwise read from memory every call."""

    node: Tensor
    fields: Tensor


@dataclass
class Frontier:
    """Per-sample optimal-CES tables (tensors [B]; ``table`` [B, M, 2] holds ln F and ln B per node,
    interleaved so that one lookup fetches both from the same cache line)."""

    k: Tensor  # logistic steepness (1/OOM)
    x0: Tensor  # logistic midpoint (OOMs)
    asymptote: Tensor  # logistic upper asymptote L
    rho: Tensor
    theta: Tensor
    log_eta: Tensor
    di: Tensor  # grid spacing in i
    grid_max: Tensor  # 1 − ε
    table: Tensor  # [B, M, 2]: (ln F, ln B) at each node, node 0 = NEG
    _caches: dict = None  # call site -> {"interval": _SegmentCache, "cut": _SegmentCache}
    _base: Tensor = None  # cached row offsets (see _row_base)
    _stack: Tensor = None  # cached per-sample parameters (see _per_sample)

    @property
    def size(self) -> int:
        return self.table.shape[1]

    @property
    def log_F(self) -> Tensor:
        return self.table[:, :, 0]

    @property
    def log_B(self) -> Tensor:
        return self.table[:, :, 1]

    def node_log_e(self, j: Tensor) -> Tensor:
        """ln E_aut at grid nodes j (integer tensor, [B] or [B, n]) from the logistic inverse."""
        return self._node_values(j)[0]

    def _per_sample(self, samples: Tensor | None) -> tuple[Tensor, ...]:
        """(Δi, 1 − ε, L, x0, k, 1 − ρ, θ), of every sample or of ``samples`` (one gather from a
        stack built on first use: refetches need all seven for a few samples at a time)."""
        if samples is None:
            return self.di, self.grid_max, self.asymptote, self.x0, self.k, 1.0 - self.rho, self.theta
        stack = self._stack
        if stack is None or stack.shape[1] != self.rho.shape[0]:
            stack = self._stack = torch.stack([self.di, self.grid_max, self.asymptote, self.x0, self.k,
                                               1.0 - self.rho, self.theta])
        return stack.index_select(1, samples).unbind(0)

    def _node_values(self, j: Tensor, samples: Tensor | None = None, per_sample: tuple | None = None
                     ) -> tuple[Tensor, Tensor]:
        """(ln E_aut, ln(1 − i)) at grid nodes j ([B, n] or [B]; of the samples ``samples`` when
        given, with their :meth:`_per_sample` values if at hand); the index is clamped at 1e-9."""
        di, grid_max, asymptote, x0, k = (per_sample or self._per_sample(samples))[:5]
        if j.dim() == 2:
            di, grid_max, asymptote, x0, k = (v[:, None] for v in (di, grid_max, asymptote, x0, k))
        i = torch.minimum(j.to(di.dtype) * di, grid_max)
        ell = torch.log(asymptote / i.clamp(min=_INDEX_CLIP) - 1.0)
        log_e = (x0 - ell / k) * LN10  # the calculator's order of operations
        return log_e, torch.log(1.0 - i + _ONE_MINUS_I_GUARD)

    def _lookup(self, nodes: Tensor, samples: Tensor | None = None) -> Tensor:
        """Table rows at integer nodes [B, n] -> [B, n, 2] (ln F, ln B) (of the samples ``samples``
        when given, ``nodes`` then being [len(samples), n]).

        A flat ``index_select`` (about ten times faster here than ``gather`` on the 3-D table)."""
        B, n = nodes.shape
        base = self._row_base() if samples is None else samples[:, None] * self.size
        rows = (nodes + base).reshape(-1)  # row b·M + j of the [B·M, 2] table
        # each (ln F, ln B) pair viewed as one complex128 element: one 16-byte fetch per node (2x
        # faster than selecting [B·M, 2] rows, 5x faster than selecting scalars)
        if torch.compiler.is_compiling():  # inductor generates no code for complex ops: rows of two
            return self.table.view(-1, 2).index_select(0, rows).view(B, n, 2)
        pairs = torch.view_as_complex(self.table).reshape(-1)
        return torch.view_as_real(pairs.index_select(0, rows)).view(B, n, 2)

    def _row_base(self) -> Tensor:
        """b·M per sample ([B, 1]), cached: the first row of each sample's table in the [B·M, 2] view."""
        base = self._base
        if base is None or base.shape[0] != self.table.shape[0]:
            base = self._base = torch.arange(self.table.shape[0])[:, None] * self.size
        return base

    def search(self, values: Tensor, rows: Tensor | None = None) -> Tensor:
        """First node j in [1, M−1] with ln F[j] >= value (M − 1 if none), per sample or for
        the samples ``rows``: by bisection in a compiled graph (one fused loop of log2(M) dependent
        loads per sample), in eager mode by :func:`_two_level_search` (fewer, larger operations)."""
        if torch.compiler.is_compiling():
            return _binary_search(self.table, values, rows)
        return _two_level_search(self.table, values, rows)

    # -- what a lookup needs of an interval, as [8, n] rows (each contiguous over samples) ------
    def _interval_fields(self, j: Tensor, samples: Tensor | None = None) -> Tensor:
        """i_E's interval [j, j+1]: (ln E_aut at j, its step to j+1, ln F at j and j+1, ln B at j
        and j+1, ln Q at j and j+1)."""
        nodes = torch.stack([j, j + 1], dim=1)
        rows = self._lookup(nodes, samples)
        per_sample = self._per_sample(samples)
        log_e, log_1mi = self._node_values(nodes, samples, per_sample)
        lq = per_sample[5][:, None] * log_1mi  # ln Q at the nodes
        return torch.stack([log_e[:, 0], log_e[:, 1] - log_e[:, 0], rows[:, 0, 0], rows[:, 1, 0], rows[:, 0, 1],
                            rows[:, 1, 1], lq[:, 0], lq[:, 1]])

    def _cut_fields(self, hi: Tensor, samples: Tensor | None = None) -> Tensor:
        """The interior cut's interval [hi − 1, hi]: (ln F at hi − 1 and hi, the lower end y0 and
        width of the inverse interpolation, ln Q at both nodes, ln R at both nodes)."""
        nodes = torch.stack([hi - 1, hi], dim=1)
        pair = self._lookup(nodes, samples)
        per_sample = self._per_sample(samples)
        log_e, log_1mi = self._node_values(nodes, samples, per_sample)
        one_minus_rho, theta = per_sample[5], per_sample[6]
        f_lo, f_hi = pair[:, 0, 0], pair[:, 1, 0]
        y0 = torch.where(hi == 1, f_hi - 1.0, f_lo)  # y0 = ln F(0) = −inf: the calculator takes the upper node
        denom = f_hi - y0
        denom = torch.where(denom == 0, torch.ones_like(denom), denom)
        lq = one_minus_rho[:, None] * log_1mi
        lr = lq - theta[:, None] * log_e  # ln R
        return torch.stack([f_lo, f_hi, y0, denom, lq[:, 0], lq[:, 1], lr[:, 0], lr[:, 1]])

    def _cached_interval(self, cache: dict, j: Tensor) -> Tensor:
        """:meth:`_interval_fields` at j, fetching only the samples whose j moved."""
        seg = cache.get("interval")
        if seg is None or seg.node.shape != j.shape:
            seg = cache["interval"] = _SegmentCache(j.clone(), self._interval_fields(j))
            return seg.fields
        moved = (j != seg.node).nonzero().squeeze(1)
        if len(moved):
            seg.node[moved] = j[moved]
            seg.fields[:, moved] = self._interval_fields(j[moved], moved)
        return seg.fields

    def _cached_cut(self, cache: dict, log_s: Tensor, interior: Tensor) -> tuple[Tensor, Tensor]:
        """(hi, :meth:`_cut_fields` at hi) with hi the first node where ln F >= ln S, checked for
        the interior samples against the cached interval and searched afresh where it moved."""
        seg = cache.get("cut")
        if seg is None or seg.node.shape != log_s.shape:
            hi = self.search(log_s)
            seg = cache["cut"] = _SegmentCache(hi, self._cut_fields(hi))
            return seg.node, seg.fields
        M = self.size
        hi, f_lo, f_hi = seg.node, seg.fields[0], seg.fields[1]
        settled = ((hi == 1) | (f_lo < log_s)) & ((f_hi >= log_s) | (hi == M - 1))
        moved = (interior & ~settled).nonzero().squeeze(1)
        if len(moved):
            found = self.search(log_s[moved], moved)
            hi[moved] = found
            seg.fields[:, moved] = self._cut_fields(found, moved)
        return hi, seg.fields

    def log_labor(self, log_h: Tensor, log_c: Tensor, log_e: Tensor, slot: str | None = "") -> Tensor:
        """ln L_C for human coders e^log_h, inference compute e^log_c (H100e) and ln E = log_e.

        ``slot`` names the call site: its last lookups are kept (see :class:`_SegmentCache`) and
        only the samples whose interval moved are fetched again. ``None`` looks everything up
        afresh (a pure function, what ``torch.compile`` and gradients get); both give the same numbers.
        """
        M = self.size
        rho, theta, di = self.rho, self.theta, self.di
        # S = κ η0 E^θ
        log_s = (log_c - torch.clamp(log_h, min=math.log(1e-18)) + self.log_eta).clamp_min(math.log(1e-300)) \
            + theta * log_e
        # i_E lies in the node interval [j, j+1], located from the logistic by index arithmetic
        i_star = self.asymptote * torch.sigmoid((self.k * (log_e / LN10 - self.x0)).clamp(-100.0, 100.0))
        # (a non-finite input, from a sample about to be flagged as diverged, must not index out of the table)
        j = torch.nan_to_num(i_star.detach() / di.detach(), nan=0.0).floor().clamp(0, M - 2).long()
        # the caches are written in place: not where gradients flow
        # (autograd saves cached fields for the backward pass of ops on inputs that need gradients, so
        # any gradient at all, of the table or of the inputs, takes the pure path)
        pure = slot is None or torch.is_grad_enabled()
        if pure:
            interval = self._interval_fields(j)
        else:
            caches = self._caches if self._caches is not None else {}
            self._caches = caches
            cache = caches.setdefault(slot, {})
            interval = self._cached_interval(cache, j)
        le_j, dle_j, f_j, f_j1, b_j, b_j1, lq_j, lq_j1 = interval.unbind(0)
        # -- boundary case: cut at i_E -----------------------------------------------------------
        t_e = ((log_e - le_j) / dle_j).clamp(0.0, 1.0)
        first = j == 0  # the first interval: the calculator's ln B(0) = −inf makes F, B there −inf
        log_f_e = torch.where(first, torch.full_like(t_e, NEG), _lerp(f_j, f_j1, t_e))
        log_b_e = torch.where(first, torch.zeros_like(t_e), _lerp(b_j, b_j1, t_e))
        interior = (~first) & (log_s <= log_f_e)
        log_q_e = _lerp(lq_j, lq_j1, t_e)
        log_comp_b = torch.where(first, torch.full_like(log_s, NEG), rho * log_s + (1.0 - rho) * log_b_e)
        # -- interior case: F(i_c) = S inside [hi − 1, hi] -------------------------------------------
        if pure:
            hi = self.search(log_s.detach())
            cut = self._cut_fields(hi)
        else:
            hi, cut = self._cached_cut(cache, log_s.detach(), interior)
        _, _, y0, denom, lq_lo, lq_hi, lr_lo, lr_hi = cut.unbind(0)
        t_c = ((log_s - y0) / denom).clamp(0.0, 1.0)
        t_c = torch.where(hi == 1, torch.ones_like(t_c), t_c)
        log_q_c = _lerp(lq_lo, lq_hi, t_c)
        log_comp_i = log_s + _lerp(lr_lo, lr_hi, t_c)
        log_human = torch.where(interior, log_q_c, log_q_e)
        log_comp = torch.where(interior, log_comp_i, log_comp_b)
        return log_h + torch.logaddexp(log_human, log_comp) / rho


def _two_level_search(table: Tensor, values: Tensor, rows: Tensor | None = None) -> Tensor:
    """Per row (all rows, or the rows ``rows``), the first node in [1, M − 1] whose ln F
    (``table[..., 0]``) is >= value (M − 1 if none): a left ``searchsorted``, in two rounds of
    independent fetches instead of bisection's log2(M) dependent ones (``torch.searchsorted`` on
    [B, M] rows is orders of magnitude slower here). ln F is non-decreasing, so the answer is
    1 + (the number of nodes in [1, M − 1] below the value), capped at M − 1. Round one counts the nodes 1, 1 + K, 1 + 2K, ...
    (K ≈ √M) below the value, which puts the first node at or above it within K nodes; round two
    counts the nodes below it in that stretch."""
    M = table.shape[1]
    n = values.shape[0]
    if n == 0:
        return torch.zeros(0, dtype=torch.long)
    K = max(1, math.isqrt(M - 2) + 1)  # (M − 1) nodes in blocks of K
    flat = table.detach().reshape(-1)
    width = table.shape[2] if table.dim() == 3 else 1
    base = ((torch.arange(n) if rows is None else rows) * (M * width))[:, None]
    v = values[:, None]
    coarse = 1 + K * torch.arange((M - 2) // K + 1)  # block starts, all in [1, M − 1]
    blocks = (flat[base + coarse * width] < v).sum(dim=1)  # blocks whose first node is below
    start = 1 + K * (blocks - 1).clamp_min(0)  # the last block starting below (or the first block)
    fine = (start[:, None] + torch.arange(1, K)).clamp(max=M - 1)  # the rest of that block
    # node M − 1 repeats where the block is cut short: counted more than once only when it is below,
    # and then the answer is M − 1 anyway
    below = (flat[base + fine * width] < v).sum(dim=1)
    counted = torch.where(blocks > 0, start + below, torch.zeros_like(start))  # nodes in [1, M−1] below
    return (counted + 1).clamp(max=M - 1)


def _binary_search(table: Tensor, values: Tensor, rows: Tensor | None = None) -> Tensor:
    """Per row (all rows, or the rows ``rows``), the first node in [1, M − 1] whose ln F
    (``table[..., 0]``) is >= value (M − 1 if none), by bisection."""
    M = table.shape[1]
    n = values.shape[0]
    flat = table.detach().reshape(-1)  # contiguous [B, M, width]: ln F at flat index (b·M + j)·width
    width = table.shape[2] if table.dim() == 3 else 1
    base = (torch.arange(n) if rows is None else rows) * (M * width)
    lo = torch.ones(n, dtype=torch.long)
    hi = torch.full((n,), M - 1, dtype=torch.long)
    for _ in range(max(1, (M - 2).bit_length())):
        mid = (lo + hi) >> 1
        below = flat.index_select(0, base + mid * width) < values
        lo = torch.where(below, mid + 1, lo)
        hi = torch.where(below, hi, mid)
    return hi


def _lerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """(1 − t)·a + t·b, the calculator's interpolation formula (rounding matters in extreme cases)."""
    return (1.0 - t) * a + t * b


def build_frontier(k: Tensor, x0: Tensor, asymptote: Tensor, rho: Tensor, theta: Tensor, eta: Tensor,
                   tail_eps: Tensor, size: int, nodes: int | None = None, chunk: int = 128) -> Frontier:
    """Tabulate ln B and ln F on M = ``size`` tasks (trapezoid rule for B, as the calculator).

    ``nodes`` < M builds only the first ``nodes`` grid points (enough for lookups at tasks below
    them; used by the present-day anchor solve). Samples are processed in chunks of ``chunk``
    to bound the temporaries.
    """
    nodes = size if nodes is None else min(nodes, size)
    grid_max = torch.clamp(1.0 - tail_eps, min=1e-6)
    di = grid_max / (size - 1)
    B = k.shape[0]
    parts = []
    for lo in range(0, B, chunk):
        sl = slice(lo, lo + chunk)
        parts.append(_tables(nodes, k[sl], x0[sl], asymptote[sl], rho[sl], theta[sl], di[sl], grid_max[sl], size))
    table = parts[0] if len(parts) == 1 else torch.cat(parts, dim=0)
    return Frontier(k=k, x0=x0, asymptote=asymptote, rho=rho, theta=theta, log_eta=torch.log(eta), di=di,
                    grid_max=grid_max, table=table)


def _tables(n: int, k, x0, asymptote, rho, theta, di, grid_max, size: int) -> Tensor:
    """[b, n, 2] table of (ln F, ln B) at the first n of ``size`` nodes (calculator's recipe)."""
    nodes = torch.arange(n, dtype=k.dtype)
    i = nodes[None, :] * di[:, None]
    if n == size:
        i = torch.cat([i[:, :-1], grid_max[:, None]], dim=1)
    ic = torch.clamp(i, min=_INDEX_CLIP)
    ic = torch.minimum(ic, (asymptote - _INDEX_CLIP)[:, None])
    ell = torch.log(asymptote[:, None] / ic - 1.0)
    log_e = (x0[:, None] - ell / k[:, None]) * LN10  # the calculator's order of operations
    log_e = torch.cummax(log_e, dim=1).values
    beta_p = rho / (1.0 - rho) * theta
    gamma_p = theta / (1.0 - rho)
    log_w = log_e * (-beta_p)[:, None]
    log_inc = torch.logaddexp(log_w[:, :-1], log_w[:, 1:]) + (torch.log(di) + math.log(0.5))[:, None]
    top = log_inc.max(dim=1, keepdim=True).values
    if n < size:
        # The calculator scales by the largest increment over the *whole* grid (then floors the
        # scaled sums at 1e-300); keep that scale when only the first nodes are built, so that the
        # floor, which matters in extreme parameter corners, bites in the same places.
        i_end = torch.stack([(size - 2) * di, grid_max], dim=1)
        ic_end = torch.minimum(i_end.clamp(min=_INDEX_CLIP), (asymptote - _INDEX_CLIP)[:, None])
        le_end = (x0[:, None] - torch.log(asymptote[:, None] / ic_end - 1.0) / k[:, None]) * LN10
        lw_end = le_end * (-beta_p)[:, None]
        top_end = torch.logaddexp(lw_end[:, :1], lw_end[:, 1:]) + (torch.log(di) + math.log(0.5))[:, None]
        top = torch.maximum(top, top_end)
    csum = torch.cumsum(torch.exp(log_inc - top), dim=1)
    log_b = torch.cat([torch.full_like(top, NEG), torch.log(csum.clamp(min=1e-300)) + top], dim=1)
    log1mi = torch.log(1.0 - i + _ONE_MINUS_I_GUARD)
    log_f = log_b + gamma_p[:, None] * log_e - log1mi
    log_f = torch.cat([torch.full_like(top, NEG), log_f[:, 1:]], dim=1)
    log_f = torch.cummax(log_f, dim=1).values
    return torch.stack([log_f, log_b], dim=2)


def frontier_tail(max_serial_multiplier: Tensor, parallel_penalty: Tensor, rho: Tensor, cap_bounds: tuple[float, float],
                  tail_bounds: tuple[float, float]) -> Tensor:
    """ε = cap^(ρ/(1−ρ)) with cap = (max serial multiplier)^(1/λ), both clipped as in the calculator."""
    serial = max_serial_multiplier.clamp(cap_bounds[0], cap_bounds[1])
    log_cap = (torch.log(serial) / parallel_penalty.clamp_min(1e-12)).clamp(math.log(cap_bounds[0]),
                                                                           math.log(cap_bounds[1]))
    log_eps = log_cap * rho / (1.0 - rho)
    return torch.exp(log_eps.clamp(math.log(tail_bounds[0]), math.log(tail_bounds[1])))


def log_simple_ces_labor(automation: Tensor, log_c: Tensor, log_h: Tensor, rho: Tensor, clip: float) -> Tensor:
    """ln of the calculator's simple CES coding labour ((A^(1−ρ)C^ρ + (1−A)^(1−ρ)L_H^ρ)^(1/ρ)).

    Used only where the calculator uses it: the initial research stock of the full run.
    """
    a = automation.clamp(clip, 1.0 - clip)
    return torch.logaddexp((1.0 - rho) * torch.log(a) + rho * log_c,
                           (1.0 - rho) * torch.log(1.0 - a) + rho * log_h) / rho


def simple_ces_log_share_c(automation: Tensor, log_c: Tensor, log_h: Tensor, rho: Tensor, clip: float) -> Tensor:
    """d ln L / d ln C of :func:`log_simple_ces_labor` (the compute term's share)."""
    a = automation.clamp(clip, 1.0 - clip)
    t1 = (1.0 - rho) * torch.log(a) + rho * log_c
    t2 = (1.0 - rho) * torch.log(1.0 - a) + rho * log_h
    return torch.sigmoid(t1 - t2)

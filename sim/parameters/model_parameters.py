"""Parameter distributions (:class:`ModelParameters`) and sampled values (:class:`SimulationParameters`)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import Tensor, nn

from sim.parameters.actors import Actors, actor_name, split_name
from sim.parameters.distributions import Point, in_support
from sim.parameters.table import ActorTemplate, ParameterError, ParameterSpec

DTYPE = torch.float64


def _key(name: str) -> str:
    return name.replace(".", "__")


class SimulationParameters(nn.Module):
    """One tensor per parameter, each of shape ``[B]`` (one row per sampled parameter set).

    ``params["software_rnd.present_doubling_time"]`` returns the ``[B]`` tensor. The tensors are
    ``nn.Parameter``s with ``requires_grad`` off; :meth:`enable_grad` turns it on for the names
    you want gradients for. ``actors`` is the world the parameters describe (nations and AI
    projects); per-actor parameters are named ``module.ACTOR.parameter`` and read as one
    ``[B, A]`` tensor with :meth:`per_actor`.
    """

    def __init__(self, values: Mapping[str, Tensor], actors: Actors | None = None):
        super().__init__()
        self.actors = actors if actors is not None else Actors.one_project()
        if not values:
            raise ValueError("SimulationParameters needs at least one parameter")
        sizes = {v.shape[0] for v in values.values()}
        if len(sizes) != 1:
            raise ValueError(f"all parameters need the same batch size, got {sorted(sizes)}")
        self.names: list[str] = list(values)
        self.values = nn.ParameterDict(
            {_key(k): nn.Parameter(torch.as_tensor(v, dtype=DTYPE).reshape(-1), requires_grad=False)
             for k, v in values.items()})

    @property
    def batch_size(self) -> int:
        return next(iter(self.values.values())).shape[0]

    def __getitem__(self, name: str) -> Tensor:
        try:
            return self.values[_key(name)]
        except KeyError:
            raise KeyError(f"unknown parameter {name!r}") from None

    def __contains__(self, name: str) -> bool:
        return _key(name) in self.values

    def get(self, name: str, default: float | None = None) -> Tensor:
        if name in self:
            return self[name]
        if default is None:
            raise KeyError(f"unknown parameter {name!r}")
        return torch.full((self.batch_size,), float(default), dtype=DTYPE)

    def per_actor(self, template: str, kind: str) -> Tensor:
        """``[B, A]``: the per-actor parameter ``template`` (``module.parameter``) of every actor of
        ``kind`` (``nation`` or ``project``), in the world's order: ``module.ACTOR.parameter``
        where set, else the template's own value (its default)."""
        columns = []
        for actor in self.actors.ids(kind):
            name = actor_name(template, actor)
            if name in self:
                columns.append(self[name])
            elif template in self:
                columns.append(self[template])
            else:
                raise KeyError(f"unknown parameter {name!r}: the {kind} {actor!r} has no value of {template} and "
                               "the template has no default")
        return torch.stack(columns, dim=1)

    def scalar(self, name: str) -> float:
        """A parameter that must be the same for every sample (run settings, module switches)."""
        values = self[name].detach()
        if not torch.all(values == values[0]):
            raise ParameterError("parameters", None, name, f"{name} must not vary across samples")
        return float(values[0])

    def enable_grad(self, names: Iterable[str]) -> "SimulationParameters":
        for name in names:
            self[name].requires_grad_(True)
        return self

    def select(self, index) -> "SimulationParameters":
        """The samples at ``index`` (slice, list or tensor of row numbers), as a new batch."""
        return SimulationParameters({n: self[n].detach()[index] for n in self.names}, self.actors)

    def with_values(self, **overrides: float | Tensor) -> "SimulationParameters":
        """Copy with some parameters replaced (keyword names use ``__`` for ``.``)."""
        values = {n: self[n].detach().clone() for n in self.names}
        for key, value in overrides.items():
            name = key.replace("__", ".")
            if name not in values:
                raise KeyError(f"unknown parameter {name!r}")
            values[name] = torch.as_tensor(value, dtype=DTYPE).expand(self.batch_size).clone()
        return SimulationParameters(values, self.actors)

    def to_dataframe(self) -> pd.DataFrame:
        return pd.DataFrame({n: self[n].detach().cpu().numpy() for n in self.names})

    @staticmethod
    def concat(batches: list["SimulationParameters"]) -> "SimulationParameters":
        names = batches[0].names
        return SimulationParameters({n: torch.cat([b[n].detach() for b in batches]) for n in names},
                                    batches[0].actors)


class ModelParameters:
    """Distributions over :class:`SimulationParameters`, with optional rank correlations."""

    def __init__(self, specs: Mapping[str, ParameterSpec], correlations: Mapping[tuple[str, str], float] = (),
                 actors: Actors | None = None, templates: Mapping[str, ActorTemplate] | None = None):
        self.specs: dict[str, ParameterSpec] = dict(specs)
        self.correlations: dict[tuple[str, str], float] = dict(correlations or {})
        self.actors = actors if actors is not None else Actors.one_project()
        #: per-actor parameters (``module.parameter`` -> its template; ``sim/parameters/table.py``)
        self.templates: dict[str, ActorTemplate] = dict(templates or {})

    def _copy(self, specs: Mapping[str, ParameterSpec]) -> "ModelParameters":
        return ModelParameters(specs, self.correlations, self.actors, self.templates)

    def spec_for(self, name: str, file: str | Path = "--set", line: int | None = None) -> ParameterSpec:
        """The spec of ``name``; a per-actor name of an actor of this world that has no row yet
        gets one from its template. Unknown names and actors are errors naming file, line, field."""
        if name in self.specs:
            return self.specs[name]
        template, actor = split_name(name)
        found = self.templates.get(template)
        if actor is not None and found is not None:
            if self.actors.kind_of(actor) != found.kind:
                raise ParameterError(file, line, "name", f"{name!r} names the {found.kind} {actor!r}, which is not a "
                                                         f"{found.kind} of this world ({self.actors.describe()})")
            return replace(found.default or found.model, name=name)
        raise ParameterError(file, line, "name", f"unknown parameter {name!r}{_suggest(name, self.specs)}")

    # -- views -------------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return list(self.specs)

    def __getitem__(self, name: str) -> ParameterSpec:
        return self.specs[name]

    def table(self) -> pd.DataFrame:
        """Every parameter with value, unit, distribution, range and source (for docs and the dashboard)."""
        rows = []
        for s in self.specs.values():
            lo, hi = s.plausible_range()
            template, actor = split_name(s.name)
            rows.append(dict(name=s.name, module=s.module, template=template, actor=actor or "", value=s.value,
                             unit=s.unit,
                             distribution=s.distribution.describe(), p10=lo, p90=hi,
                             min=s.minimum, max=s.maximum, description=s.description, source=s.source,
                             file=s.file))
        return pd.DataFrame(rows)

    # -- overrides ---------------------------------------------------------------------------------
    def pinned(self, name: str, value: float, file: str = "--set", line: int | None = None) -> "ModelParameters":
        """Copy with ``name`` fixed at ``value`` (a point distribution), validated against its bounds."""
        spec = self.spec_for(name, file, line)
        if not math.isfinite(value):
            raise ParameterError(file, line, "value", f"{name} must be finite")
        if not (spec.minimum <= value <= spec.maximum):
            raise ParameterError(file, line, "value", f"{name} = {value:g} is outside its bounds "
                                                      f"[{spec.minimum:g}, {spec.maximum:g}]")
        if not spec.is_fixed and not _within_hard_support(spec, value):
            raise ParameterError(file, line, "value", f"{name} = {value:g} is outside the support of "
                                                      f"{spec.distribution.describe()}")
        specs = dict(self.specs)
        specs[name] = replace(spec, value=float(value), distribution=Point(float(value)))
        return self._copy(specs)

    # -- sampling ------------------------------------------------------------------------------------
    def central(self) -> SimulationParameters:
        """The single central run: every parameter at its ``value`` (B = 1)."""
        return SimulationParameters({n: torch.tensor([s.value], dtype=DTYPE) for n, s in self.specs.items()},
                                    self.actors)

    def quantiles(self, n: int, seed: int) -> dict[str, np.ndarray]:
        """Uniform quantiles per parameter, rank-correlated through a Gaussian copula."""
        rng = np.random.default_rng(seed)
        names = sorted(self.specs)
        random_names = [n for n in names if not self.specs[n].is_fixed]
        correlated = sorted({x for pair in self.correlations for x in pair} & set(random_names))
        u: dict[str, np.ndarray] = {}
        if correlated:
            index = {name: i for i, name in enumerate(correlated)}
            R = np.eye(len(correlated))
            for (a, b), rho in self.correlations.items():
                if a in index and b in index:
                    latent = 2.0 * math.sin(math.pi * rho / 6.0)  # Spearman -> Pearson for a Gaussian copula
                    R[index[a], index[b]] = R[index[b], index[a]] = latent
            w, V = np.linalg.eigh(R)
            if w.min() <= 1e-10:  # nearest positive-definite correlation matrix
                R = V @ np.diag(np.clip(w, 1e-6, None)) @ V.T
                d = np.sqrt(np.diag(R))
                R = R / np.outer(d, d)
            z = rng.standard_normal((n, len(correlated))) @ np.linalg.cholesky(R).T
            for name, i in index.items():
                u[name] = stats.norm.cdf(z[:, i])
        for name in random_names:
            if name not in u:
                u[name] = rng.uniform(size=n)
        return u

    def sample(self, n: int, seed: int = 0) -> SimulationParameters:
        """``n`` parameter sets drawn from the distributions (deterministic for ``(n, seed)``)."""
        if n < 1:
            raise ValueError("number of samples must be at least 1")
        u = self.quantiles(n, seed)
        values = {}
        for name, spec in self.specs.items():
            if spec.is_fixed:
                x = np.full(n, spec.value)
            else:
                x = np.clip(spec.distribution.ppf(np.clip(u[name], 1e-12, 1 - 1e-12)), spec.minimum, spec.maximum)
            values[name] = torch.as_tensor(x, dtype=DTYPE)
        return SimulationParameters(values, self.actors)

    def from_rows(self, frame: pd.DataFrame, name_map: Mapping[str, tuple[str, dict[str, float]]] | None = None,
                  source: str = "rows") -> tuple[SimulationParameters, list[str]]:
        """One sample per row of ``frame``; columns are our names or mapped names.

        Missing parameters take their central value. Returns the parameters and a list of the
        columns that were not recognised (reported, then ignored).
        """
        name_map = dict(name_map or {})
        n = len(frame)
        if n == 0:
            raise ParameterError(source, None, None, "no rows")
        values = {name: torch.full((n,), spec.value, dtype=DTYPE) for name, spec in self.specs.items()}
        ignored = []
        for column in frame.columns:
            if column in self.specs:
                ours, mapping = column, {}
            elif column in name_map:
                ours, mapping = name_map[column]
                if not ours:
                    ignored.append(column)
                    continue
            else:
                ignored.append(column)
                continue
            raw = frame[column]
            converted = []
            for i, cell in enumerate(raw):
                if isinstance(cell, str) and cell.strip() in mapping:
                    converted.append(mapping[cell.strip()])
                    continue
                try:
                    converted.append(float(cell))
                except (TypeError, ValueError):
                    raise ParameterError(source, i + 2, column, f"cannot read {cell!r} as a number") from None
            x = np.asarray(converted, dtype=float)
            bad = ~np.isfinite(x)
            if bad.any():
                raise ParameterError(source, int(np.argmax(bad)) + 2, column, "value must be finite")
            values[ours] = torch.as_tensor(x, dtype=DTYPE)
        return SimulationParameters(values, self.actors), ignored


def _within_hard_support(spec: ParameterSpec, value: float) -> bool:
    # A pinned value may leave the 80% CI, but not a hard support (lognormal > shift, beta/uniform range).
    return in_support(spec.distribution, value)


def _suggest(name: str, names: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(names), n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""

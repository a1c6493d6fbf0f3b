"""Tensor dataclasses: the world's data structures, with state and metric fields.

A field declared with :func:`state_field` is *state*: integrated by the ODE solver. A field
declared with :func:`metric_field` is a *metric*: derived from state, recomputed after each step.
Fields may also hold nested ``TensorDataclass`` instances or ``dict[str, TensorDataclass]``.

Every tensor has a leading batch dimension ``[B]`` (one row per sampled parameter set) while
integrating, and ``[B, T]`` in a trajectory. The flat state layout is order-stable: fields in
declaration order, dict entries in sorted key order, depth first.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import field
from typing import Any, Callable, Iterator

import torch
from torch import Tensor


def state_field(unit: str = "", doc: str = "") -> Any:
    """A state variable (integrated by the solver). ``unit`` and ``doc`` document it."""
    return field(default=None, metadata={"is_state": True, "unit": unit, "doc": doc})


def metric_field(unit: str = "", doc: str = "") -> Any:
    """A metric (derived from state; never integrated)."""
    return field(default=None, metadata={"is_state": False, "unit": unit, "doc": doc})


def _is_tensor_field(f: dataclasses.Field) -> bool:
    return "is_state" in f.metadata


_PLANS: dict[type, tuple[tuple[tuple[str, bool], ...], tuple[str, ...]]] = {}


def _plan(cls: type) -> tuple[tuple[tuple[str, bool], ...], tuple[str, ...]]:
    """Cached per class: ((tensor field, is_state), ...) and the names of the other fields."""
    plan = _PLANS.get(cls)
    if plan is None:
        fs = dataclasses.fields(cls)
        plan = (tuple((f.name, f.metadata["is_state"]) for f in fs if _is_tensor_field(f)),
                tuple(f.name for f in fs if not _is_tensor_field(f)))
        _PLANS[cls] = plan
    return plan


def _shallow_copy(obj):
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__)
    return new


class TensorDataclass:
    """Base class for the world's dataclasses (subclasses are ``@dataclass``es)."""

    # -- traversal ---------------------------------------------------------------------------
    def _children(self) -> Iterator[tuple[str, "TensorDataclass"]]:
        for name in _plan(type(self))[1]:
            value = getattr(self, name)
            if isinstance(value, TensorDataclass):
                yield name, value
            elif isinstance(value, dict):
                for key in sorted(value):
                    if isinstance(value[key], TensorDataclass):
                        yield f"{name}.{key}", value[key]

    def state_items(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """Yield ``(path, tensor)`` for every state field, recursively, in layout order."""
        for name, is_state in _plan(type(self))[0]:
            if is_state:
                yield prefix + name, getattr(self, name)
        for name, child in self._children():
            yield from child.state_items(prefix + name + ".")

    def metric_items(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """Yield ``(path, tensor)`` for every metric field that has a value."""
        for f in dataclasses.fields(self):
            if _is_tensor_field(f) and not f.metadata["is_state"]:
                value = getattr(self, f.name)
                if value is not None:
                    yield prefix + f.name, value
        for name, child in self._children():
            yield from child.metric_items(prefix + name + ".")

    def state_names(self) -> list[str]:
        return [name for name, _ in self.state_items()]

    def get(self, path: str) -> Any:
        """Look up a field by dotted path, e.g. ``"ai_projects.leading.progress_ooms"``."""
        node: Any = self
        for part in path.split("."):
            node = node[part] if isinstance(node, dict) else getattr(node, part)
        return node

    # -- functional updates --------------------------------------------------------------------
    def map_tensors(self, fn: Callable[[str, Tensor, bool], Tensor | None], prefix: str = "") -> "TensorDataclass":
        """Copy of this tree with every tensor field replaced by ``fn(path, tensor, is_state)``."""
        changes: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if _is_tensor_field(f):
                if value is not None:
                    changes[f.name] = fn(prefix + f.name, value, f.metadata["is_state"])
            elif isinstance(value, TensorDataclass):
                changes[f.name] = value.map_tensors(fn, prefix + f.name + ".")
            elif isinstance(value, dict):
                changes[f.name] = {
                    k: (v.map_tensors(fn, f"{prefix}{f.name}.{k}.") if isinstance(v, TensorDataclass) else v)
                    for k, v in value.items()
                }
        return dataclasses.replace(self, **changes)

    def to_state_tensor(self) -> Tensor:
        """Pack every state field into one ``[B, n_state]`` tensor (layout order)."""
        leaves = [t.reshape(t.shape[0], -1) for _, t in self.state_items()]
        return torch.cat(leaves, dim=1)

    def from_state_tensor(self, y: Tensor) -> "TensorDataclass":
        """Copy of this tree whose state fields are read from ``y`` ``[B, n_state]``.

        The inverse of :meth:`to_state_tensor`; metrics are carried over unchanged.
        """
        column = 0

        def take(_path: str, value: Tensor, is_state: bool) -> Tensor:  # noqa: ARG001
            nonlocal column
            if not is_state:
                return value
            width = math.prod(value.shape[1:])  # 1 for a [B] field
            if column + width > y.shape[1]:
                raise ValueError(f"state tensor has {y.shape[1]} columns, fewer than the world layout needs")
            column += width
            if value.dim() <= 1:  # one column, as a [B] view (the solver calls this on every evaluation)
                return y[:, column - 1]
            return y[:, column - width : column].reshape((y.shape[0],) + tuple(value.shape[1:]))

        out = self._rebuild_in_layout_order(take)
        if column != y.shape[1]:
            raise ValueError(f"state tensor has {y.shape[1]} columns, world layout needs {column}")
        return out

    def _rebuild_in_layout_order(self, fn: Callable[[str, Tensor, bool], Tensor], prefix: str = "",
                                 include_none: bool = False) -> "TensorDataclass":
        """Like map_tensors, but visits tensors in exactly the state layout order
        (own tensor fields first, then children depth-first in sorted order)."""
        tensor_fields, other_fields = _plan(type(self))
        new = _shallow_copy(self)
        d = new.__dict__
        for name, is_state in tensor_fields:
            value = d[name]
            if value is not None or include_none:
                d[name] = fn(prefix + name, value, is_state)
        for name in other_fields:
            value = d[name]
            if isinstance(value, TensorDataclass):
                d[name] = value._rebuild_in_layout_order(fn, f"{prefix}{name}.", include_none)
            elif isinstance(value, dict):
                copied = dict(value)
                for key in sorted(value):
                    if isinstance(value[key], TensorDataclass):
                        copied[key] = value[key]._rebuild_in_layout_order(fn, f"{prefix}{name}.{key}.", include_none)
                d[name] = copied
        return new

    def zeros(self) -> "TensorDataclass":
        """Same structure, every state field zero, metrics cleared (a derivative template)."""
        return self.map_tensors(lambda _p, t, is_state: torch.zeros_like(t) if is_state else None)

    def blank(self) -> "TensorDataclass":
        """Same structure with every tensor field ``None`` (a sparse derivative: None means zero)."""
        return self._rebuild_in_layout_order(lambda _p, _t, _s: None)

    def __add__(self, other: "TensorDataclass") -> "TensorDataclass":
        """State-wise sum (used to combine derivative contributions)."""
        y = self.to_state_tensor() + other.to_state_tensor()
        return self.from_state_tensor(y)

    def detach(self) -> "TensorDataclass":
        return self.map_tensors(lambda _p, t, _s: t.detach())

    @staticmethod
    def stack(worlds: list["TensorDataclass"], dim: int = 1) -> "TensorDataclass":
        """Stack a list of same-structure trees along a new time dimension (``[B] -> [B, T]``)."""
        first = worlds[0]
        flat = [dict(_all_tensor_items(w)) for w in worlds]

        def stack_one(path: str, _t: Tensor, _s: bool) -> Tensor:
            return torch.stack([f[path] for f in flat], dim=dim)

        return first.map_tensors(stack_one)


def _all_tensor_items(tree: TensorDataclass, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
    for f in dataclasses.fields(tree):
        value = getattr(tree, f.name)
        if _is_tensor_field(f) and value is not None:
            yield prefix + f.name, value
        elif isinstance(value, TensorDataclass):
            yield from _all_tensor_items(value, prefix + f.name + ".")
        elif isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, TensorDataclass):
                    yield from _all_tensor_items(v, f"{prefix}{f.name}.{k}.")

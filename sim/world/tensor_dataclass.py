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
        """Look up a field by dotted path, e.g. ``"economy.gdp"`` or ``"ai_projects.progress_ooms"``."""
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
        return StateLayout.of(self).pack(dict(self.state_items()))

    def from_state_tensor(self, y: Tensor) -> "TensorDataclass":
        """Copy of this tree whose state fields are read from ``y`` ``[B, n_state]`` (the inverse
        of :meth:`to_state_tensor`; metrics are carried over unchanged)."""
        return StateLayout.of(self).unpack(self, y)

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


class StateLayout:
    """Where each state field lives in the flat ``[B, n_state]`` state vector: the one packer.

    Fields in layout order (a tree's own state fields in declaration order, then its children
    depth first, dict keys sorted); a ``[B]`` field takes one column, a ``[B, A]`` field A columns.
    The solver integrates the flat vector; updaters read the world unpacked from it and return
    their derivatives as ``{state path: tensor}``, packed here (an absent path is zero).
    """

    def __init__(self, tree: TensorDataclass):
        self.paths: tuple[str, ...] = ()
        shapes, offsets, column = [], [], 0
        paths = []
        for path, value in tree.state_items():
            if value is None:
                continue
            trailing = tuple(value.shape[1:])
            paths.append(path)
            shapes.append(trailing)
            offsets.append(column)
            column += math.prod(trailing)
        self.paths, self.shapes, self.offsets, self.width = tuple(paths), tuple(shapes), tuple(offsets), column
        self.index = {p: i for i, p in enumerate(self.paths)}

    @classmethod
    def of(cls, tree: TensorDataclass) -> "StateLayout":
        return cls(tree)

    def columns(self, path: str) -> slice:
        """The columns of one state field."""
        i = self.index[path]
        return slice(self.offsets[i], self.offsets[i] + math.prod(self.shapes[i]))

    def pack(self, values: dict[str, Tensor], like: Tensor | None = None) -> Tensor:
        """``[B, n_state]`` from ``{path: tensor}``; absent paths (or ``None``) are zero. ``like``
        ([B]) gives batch and dtype when a zero is needed and no value is at hand."""
        unknown = [p for p in values if p not in self.index and values[p] is not None]
        if unknown:
            raise ValueError(f"not state fields of this world: {', '.join(sorted(unknown))}")
        present = next((v for v in values.values() if v is not None), like)
        batch = present.shape[0]
        zero = None
        columns = []
        for path, shape in zip(self.paths, self.shapes):
            value = values.get(path)
            if value is None:
                if zero is None:
                    zero = torch.zeros(batch, dtype=present.dtype)
                value = zero if not shape else zero[:, None].expand((batch,) + shape)
            columns.append(value.reshape(batch, -1))
        return torch.cat(columns, dim=1)

    def unpack(self, template: TensorDataclass, y: Tensor) -> TensorDataclass:
        """Copy of ``template`` whose state fields are read from ``y`` (metrics carried over)."""
        if y.shape[1] != self.width:
            raise ValueError(f"state tensor has {y.shape[1]} columns, world layout needs {self.width}")
        index, offsets, shapes = self.index, self.offsets, self.shapes

        def take(path: str, value: Tensor, is_state: bool) -> Tensor:
            if not is_state or value is None:
                return value
            i = index[path]
            c = offsets[i]
            if not shapes[i]:  # one column, as a [B] view (the solver calls this on every evaluation)
                return y[:, c]
            return y[:, c: c + math.prod(shapes[i])].reshape((y.shape[0],) + shapes[i])

        return template._rebuild_in_layout_order(take)


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

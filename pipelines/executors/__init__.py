"""Executors: how an ensemble's chunks are simulated. Adding one is one small file and one line here.

An executor takes :class:`ChunkTask`s and yields ``(task, ChunkFrames)`` as chunks finish (in any
order). It never touches the store: the driver process is the only writer.
"""

from __future__ import annotations

import importlib

from pipelines.executors.base import ChunkTask, Executor

#: name -> "module:class" (imported on use, so Ray is only needed for --executor ray)
EXECUTORS = {
    "local": "pipelines.executors.local:LocalExecutor",
    "ray": "pipelines.executors.ray_executor:RayExecutor",
}


def make_executor(name: str, **options) -> Executor:
    """Instantiate the executor registered under ``name`` (``local`` or ``ray``)."""
    try:
        module_name, class_name = EXECUTORS[name].split(":")
    except KeyError:
        raise ValueError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}") from None
    return getattr(importlib.import_module(module_name), class_name)(**options)


__all__ = ["EXECUTORS", "ChunkTask", "Executor", "make_executor"]

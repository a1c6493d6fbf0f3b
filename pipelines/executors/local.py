"""Local executor: each chunk is one batched, vectorised ``simulate`` call in this process."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from pipelines.executors.base import ChunkTask, Executor
from pipelines.simulation import ChunkFrames


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, **_ignored):
        pass

    def run(self, tasks: Iterable[ChunkTask], partial: Callable[[ChunkTask, float], None] | None = None
            ) -> Iterator[tuple[ChunkTask, ChunkFrames]]:
        for task in tasks:
            callback = (lambda fraction, task=task: partial(task, fraction)) if partial else None
            yield task, task(callback)

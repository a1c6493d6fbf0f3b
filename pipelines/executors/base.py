"""The executor interface and the unit of work (one batched ``simulate`` call)."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Self

import numpy as np
import pandas as pd

from pipelines.simulation import ChunkFrames, LoadedScenario, simulate_chunk


@dataclass
class ChunkTask:
    """Simulate ``params`` (rows ``start:stop`` of the ensemble's samples; ``-1:0`` is the central run)."""

    scenario: LoadedScenario
    params: pd.DataFrame
    start: int
    stop: int
    grid_step: float = 1.0

    @property
    def size(self) -> int:
        return self.stop - self.start

    @property
    def sample_index(self) -> np.ndarray:
        return np.arange(self.start, self.stop, dtype=np.int64)

    def __call__(self, progress: Callable[[float], None] | None = None) -> ChunkFrames:
        return simulate_chunk(self.scenario, self.params, self.sample_index, self.grid_step, progress)


class Executor(abc.ABC):
    """Runs chunk tasks; ``partial(task, fraction)`` reports progress inside a chunk when it can."""

    name = "base"

    @abc.abstractmethod
    def run(self, tasks: Iterable[ChunkTask], partial: Callable[[ChunkTask, float], None] | None = None
            ) -> Iterator[tuple[ChunkTask, ChunkFrames]]:
        """Yield (task, frames) for every task, in any order (the driver writes them)."""

    def close(self) -> None:  # noqa: B027  (optional hook: executors without resources keep it)
        """Release workers (no-op by default)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

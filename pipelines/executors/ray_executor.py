"""Ray executor: chunks run as Ray tasks on a local Ray instance or an existing cluster (``--address``).

Results stream back to the driver, which is the only process that writes the store. At most
``max_in_flight`` chunks are pending at once, so driver memory stays bounded for any ensemble size.
On a remote cluster the workers need this project installed (``pip install -e .``) at the same version.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator

from pipelines.errors import PipelineError
from pipelines.executors.base import ChunkTask, Executor
from pipelines.simulation import ChunkFrames

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _simulate_remote(task: ChunkTask) -> ChunkFrames:
    import torch

    torch.set_num_threads(1)  # one Ray CPU per task
    return task()


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None, max_in_flight: int | None = None,
                 **_ignored):
        try:
            import ray
        except ImportError:
            raise PipelineError("--executor ray needs Ray: pip install 'ray[default]' (or `pip install -e .[ray]`)"
                                ) from None
        self.ray = ray
        self._started = False
        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": False, "ignore_reinit_error": True,
                          "configure_logging": False}
            if address:
                kwargs["address"] = address
            else:
                kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
                # Local workers inherit this environment: make the project importable in them without a
                # runtime_env (which would start a second pool of workers instead of the prestarted ones).
                paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
                if ROOT not in paths:
                    os.environ["PYTHONPATH"] = os.pathsep.join([ROOT, *paths])
            try:
                ray.init(**kwargs)
            except Exception as err:  # noqa: BLE001 - report any start-up failure clearly
                raise PipelineError(f"could not start or reach Ray ({'address ' + address if address else 'local'})"
                                    f": {err}") from None
            self._started = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.max_in_flight = max_in_flight or max(2, 2 * cpus)
        self._remote = ray.remote(num_cpus=1, max_retries=2)(_simulate_remote)

    def run(self, tasks: Iterable[ChunkTask], partial: Callable[[ChunkTask, float], None] | None = None
            ) -> Iterator[tuple[ChunkTask, ChunkFrames]]:
        ray = self.ray
        pending: dict = {}
        iterator = iter(tasks)
        exhausted = False
        try:
            while pending or not exhausted:
                while not exhausted and len(pending) < self.max_in_flight:
                    try:
                        task = next(iterator)
                    except StopIteration:
                        exhausted = True
                        break
                    pending[self._remote.remote(task)] = task
                if not pending:
                    break
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    task = pending.pop(ref)
                    yield task, ray.get(ref)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._started:
            self.ray.shutdown()
            self._started = False

"""Reruns in the background: a queue of ensemble requests worked off by one thread per server process.

The Rerun page submits ``(scenario, overrides, samples, seed)``; the board runs it with
``pipelines.run_user_ensemble`` (which computes a batched ensemble, stores it as a ``user``
ensemble with the store's schema and publishes it atomically) and reports progress. Requests are
identified by their content: an identical request returns the existing job (and, across server
restarts, the pipelines return the stored ensemble without recomputing). One job runs at a time,
since one batched ensemble already uses every core.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

#: ``runner(scenario, overrides, n, seed, db, on_progress) -> ensemble_id``
Runner = Callable[..., str]


def request_key(scenario: str, overrides: dict[str, float], n: int, seed: int, db: Path | str) -> str:
    payload = json.dumps(
        [scenario, sorted((k, float(v)) for k, v in overrides.items()), int(n), int(seed), str(db)]
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass
class Job:
    key: str
    scenario: str
    overrides: dict[str, float]
    n: int
    seed: int
    db: str
    state: str = "queued"  # queued | running | done | failed
    done: int = 0
    total: int = 0
    ensemble_id: str | None = None
    error: str | None = None
    submitted_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    requests: int = 1  # how many times this exact request was made (later ones hit the cache)

    @property
    def fraction(self) -> float:
        if self.state == "done":
            return 1.0
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def seconds(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.finished_at or time.time()) - self.started_at

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")


def _pipelines_runner(scenario, overrides, n, seed, db, on_progress) -> str:
    from pipelines import run_user_ensemble

    return run_user_ensemble(scenario, overrides, n=n, seed=seed, db=db, on_progress=on_progress)


class JobBoard:
    """Queued reruns of one server process (shared by every browser session)."""

    def __init__(self, runner: Runner = _pipelines_runner):
        self._runner = runner
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[Job] = queue.Queue()
        self._thread: threading.Thread | None = None

    def submit(
        self, scenario: str, overrides: dict[str, float], n: int, seed: int, db: Path | str
    ) -> tuple[Job, bool]:
        """Queue a request; returns ``(job, cached)`` where ``cached`` means an identical job already existed."""
        key = request_key(scenario, overrides, n, seed, db)
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.state != "failed":
                job.requests += 1
                return job, True
            job = Job(key, scenario, dict(overrides), int(n), int(seed), str(db), total=int(n) + 1)
            self._jobs[key] = job
            self._queue.put(job)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="dashboard-reruns", daemon=True)
                self._thread.start()
        return job, False

    def get(self, key: str | None) -> Job | None:
        with self._lock:
            return self._jobs.get(key) if key else None

    def jobs(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.submitted_at, reverse=True)

    def wait(self, key: str, timeout: float = 600.0) -> Job | None:
        """Block until a job has finished (tests and scripts)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            job = self.get(key)
            if job is None or not job.active:
                return job
            time.sleep(0.05)
        return self.get(key)

    def _work(self) -> None:
        while True:
            try:
                job = self._queue.get(timeout=30)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            job.state, job.started_at = "running", time.time()

            def progress(done: int, total: int, job=job) -> None:
                job.done, job.total = int(done), int(total) or job.total

            try:
                job.ensemble_id = self._runner(job.scenario, job.overrides, job.n, job.seed, job.db, progress)
                job.state = "done"
            except Exception as err:  # noqa: BLE001 - reported on the page, never a stack trace
                job.error = str(err) or type(err).__name__
                job.state = "failed"
            finally:
                job.finished_at = time.time()
                self._queue.task_done()


@st.cache_resource(show_spinner=False)
def board() -> JobBoard:
    """The server process's job board (one per process, shared by every session)."""
    return JobBoard()

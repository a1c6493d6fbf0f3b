"""``schedule``: a long-running APScheduler job that recomputes stale ensembles on a cron schedule.

Each firing runs :func:`pipelines.runner.refresh_stale` (named scenarios missing from the store
are built, stale ones recomputed, up-to-date ones skipped). Firings never overlap
(``max_instances=1``) and missed ones are coalesced into one.
"""

from __future__ import annotations

import datetime as _dt
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from pipelines.errors import PipelineError

DEFAULT_CRON = "0 3 * * *"  # every day at 03:00 (local time)

log = logging.getLogger("pipelines.schedule")


def parse_cron(expr: str, timezone=None):
    """A 5-field crontab expression (minute hour day month day_of_week) as an APScheduler CronTrigger."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        return CronTrigger.from_crontab(expr, timezone=timezone)
    except ValueError as err:
        raise PipelineError(f"invalid cron expression {expr!r}: {err} (expected 5 fields: "
                            f"minute hour day-of-month month day-of-week, e.g. '0 3 * * *')") from None


def make_job(db: Path, *, n_samples: int, seed: int, executor: str = "local", address: str | None = None,
             chunk_size: int | None = None, out=None, progress: bool = False) -> Callable[[], bool]:
    """The refresh job; it prints what it did to ``out`` (default: the current ``sys.stdout``)."""

    def job() -> bool:  # True when everything is up to date afterwards
        from pipelines.runner import DEFAULT_CHUNK, refresh_stale

        stream = out if out is not None else sys.stdout

        started = _dt.datetime.now().isoformat(timespec="seconds")
        print(f"[{started}] refreshing stale ensembles in {db}", file=stream, flush=True)
        try:
            results = refresh_stale(db, n_samples=n_samples, seed=seed, executor=executor, address=address,
                                    chunk_size=chunk_size or DEFAULT_CHUNK, progress=progress)
        except PipelineError as err:  # keep the scheduler alive; the next firing retries
            print(f"[{started}] refresh failed: {err}", file=stream, flush=True)
            return False
        for r in results:
            detail = f" ({r.error})" if r.error else f" in {r.seconds:.1f} s" if r.computed_samples else ""
            print(f"  {r.scenario:<28} {r.action}{detail}", file=stream, flush=True)
        failed = sum(r.action == "failed" for r in results)
        finished = _dt.datetime.now().isoformat(timespec="seconds")
        print(f"[{finished}] done: {len(results) - failed} up to date now, {failed} failed", file=stream, flush=True)
        return not failed

    return job


def build_scheduler(job: Callable[[], None], cron: str = DEFAULT_CRON, *, run_now: bool = False, blocking: bool = True):
    """An APScheduler scheduler with ``job`` on ``cron`` (and once immediately if ``run_now``)."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    trigger = parse_cron(cron)
    scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})
    extra = {"next_run_time": _dt.datetime.now(trigger.timezone)} if run_now else {}
    scheduler.add_job(job, trigger, id="refresh_stale", name="recompute stale ensembles", **extra)
    return scheduler

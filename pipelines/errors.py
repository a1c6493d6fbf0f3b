"""Errors the pipelines raise. Each message says what happened, what is safe, and what to do."""

from __future__ import annotations

import errno


class PipelineError(Exception):
    """Base class: a clear, user-facing failure (the CLI prints it without a traceback)."""

    exit_code = 1


class ScenarioError(PipelineError):
    """A scenario could not be loaded: unknown name or a bad parameter file (file, line, field)."""

    def __init__(self, source: str, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None):
        self.source, self.file, self.line, self.field = source, file, line, field
        super().__init__(message)


class StoreLocked(PipelineError):
    """Another process holds the store (a writer lock, or a read-write DuckDB connection)."""

    exit_code = 3


class DiskFull(PipelineError):
    """The disk (or the file-size limit) ran out while writing; the published store is unchanged."""

    exit_code = 4


class StoreMissing(PipelineError):
    """No store at the given path."""


def is_disk_full(err: BaseException) -> bool:
    """Whether an OSError or a DuckDB IO error means 'no space left' (or 'file too large')."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return True
    text = str(err).lower()
    return any(s in text for s in ("no space left", "file too large", "disk quota", "not enough space"))


def is_lock_conflict(err: BaseException) -> bool:
    """Whether a DuckDB error is the cross-process file lock ('Could not set lock on file')."""
    text = str(err).lower()
    return "could not set lock" in text or "conflicting lock" in text

"""Pytest plugin: in CI (``CI`` set to 1 or true), a skipped test is a failure with its reason.

On a developer machine a test that needs something missing (Debian chromium, a C++ compiler for
``torch.compile``, a Ray that can start) skips, and ``-rs`` names it and why in the summary. CI installs
all of them (``.ci/run``), so there a skip means something is broken: it fails instead of passing quietly.
"""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI={os.environ.get('CI')}), which must run every test: {reason}"

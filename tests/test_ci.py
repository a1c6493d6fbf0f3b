"""CI runs everything: under ``CI=1`` a skip fails (``tests/ci_skips.py``), and ``.ci/run`` installs what the
browser, compiled-simulator and Ray tests need, failing if it cannot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_pytest(tmp_path, ci: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "test_needs_something.py").write_text(
        "import pytest\n\n"
        "def test_needs_chromium():\n    pytest.skip('chromium is not installed')\n\n"
        "@pytest.mark.skipif(True, reason='no C++ compiler')\ndef test_needs_gxx():\n    pass\n\n"
        "def test_fine():\n    pass\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(ROOT)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.ci_skips", "-rs", "-q", "-p", "no:cacheprovider",
                           str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)


def test_skips_are_named_locally_and_fail_in_ci(tmp_path):
    local = _run_pytest(tmp_path, None)
    assert local.returncode == 0, local.stdout
    assert "SKIPPED" in local.stdout and "chromium is not installed" in local.stdout and "no C++ compiler" in local.stdout
    ci = _run_pytest(tmp_path, "1")
    assert ci.returncode == 1, ci.stdout
    # the call-phase skip is reported failed, the skipif (set-up phase) as an error: both fail the run
    assert "1 failed, 1 passed, 1 error" in ci.stdout and "skipped in CI" in ci.stdout
    assert "chromium is not installed" in ci.stdout and "no C++ compiler" in ci.stdout


def test_ci_script_installs_what_the_tests_need_and_fails_without_it():
    script = (ROOT / ".ci" / "run").read_text()
    assert "set -euo pipefail" in script
    for package in ("chromium", "chromium-driver", "g++"):
        assert package in script
    assert "export CI=1" in script and "make test" in script
    assert "|| echo" not in script  # an install failure is not turned into a warning

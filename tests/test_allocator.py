"""The malloc tuning applied when ``sim`` is imported (``sim/allocator.py``)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

PROBE = "import sim, sim.allocator as a; print(a.tune_allocator())"


def _probe(**env: str) -> str:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                         env={**os.environ, **env})
    return out.stdout.strip()


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_importing_sim_tunes_glibc_malloc():
    assert _probe(AIFS_MALLOC_TUNING="1") == "True"


def test_tuning_can_be_switched_off():
    assert _probe(AIFS_MALLOC_TUNING="0") == "False"

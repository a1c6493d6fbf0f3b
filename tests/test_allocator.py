"""The malloc tuning applied when ``sim`` is imported (``sim/allocator.py``).

The probe never calls ``tune_allocator`` itself: it imports ``sim`` and then watches glibc's own behaviour.
A fresh 16 MiB block is mmapped under glibc's defaults (mmap threshold 128 KiB, adapting up to 32 MiB) and
comes from the heap once the threshold is 64 MiB; ``mallinfo2().hblks`` counts the mmapped blocks.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

PROBE = """
import ctypes, sys
if sys.argv[1] == "import":
    import sim  # noqa: F401  (the only thing that may tune malloc)
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                 "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
before = libc.mallinfo2().hblks
block = libc.malloc(16 << 20)
after = libc.mallinfo2().hblks
libc.free(block)
print("mmapped" if after > before else "heap")
"""

glibc_only = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="glibc only (mallopt, mallinfo2)")


def _probe(mode: str, **env: str) -> str:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                         env={**os.environ, **env})
    return out.stdout.strip()


@glibc_only
def test_importing_sim_tunes_glibc_malloc():
    assert _probe("import", AIFS_MALLOC_TUNING="1") == "heap"
    assert _probe("no-import", AIFS_MALLOC_TUNING="1") == "mmapped"  # the probe sees glibc's default


@glibc_only
def test_tuning_can_be_switched_off():
    assert _probe("import", AIFS_MALLOC_TUNING="0") == "mmapped"

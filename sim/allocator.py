"""Keep freed tensor memory in the process (glibc's malloc), so evaluations stop page-faulting.

One right-hand-side evaluation allocates and frees a few hundred [B] temporaries. With glibc's
defaults the top of the heap is handed back to the kernel whenever a few hundred KiB lie free
there, and blocks above a (self-adjusting, 128 KiB-32 MiB) threshold are mmapped afresh, so each
evaluation faults its temporaries back in, page by page. At 10,000 samples that was about 750,000
minor page faults and 1 s of system time per ``simulate`` call; with the settings below about
220,000 and 0.3 s, and the call 5-10% faster (``bench/RESULTS.md``).

The settings: blocks under 64 MiB come from the heap, and the heap is trimmed only when 1 GiB lies
free at its top. Memory a run freed is reused by the next one rather than returned to the kernel.

Applied once when ``sim`` is imported, on Linux with glibc; anywhere else it does nothing.
``AIFS_MALLOC_TUNING=0`` in the environment leaves the allocator as it is.
"""

from __future__ import annotations

import ctypes
import os
import platform

#: mallopt parameter numbers (glibc's malloc.h).
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3

#: The values set (bytes).
SETTINGS = {_M_MMAP_THRESHOLD: 64 << 20, _M_TRIM_THRESHOLD: 1 << 30, _M_TOP_PAD: 64 << 20}

_applied: bool | None = None


def tune_allocator() -> bool:
    """Apply :data:`SETTINGS` with ``mallopt`` (once per process); whether they are in effect."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get("AIFS_MALLOC_TUNING", "1") == "0":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _applied = all(mallopt(param, value) == 1 for param, value in SETTINGS.items())
    return _applied

"""Keep freed memory in the process: glibc's default returns every large block (> 128 KiB by default, adapting
upwards) to the system with ``munmap`` and maps it again on the next step, so a training step of a large network
spends much of its time in page faults. ``tune_allocator`` tells glibc (``mallopt``) to serve large blocks from
the heap and not to trim it, which removes those faults; it changes no computed number.

Applied when ``mgdlcore`` is imported, unless ``MGDL_ALLOCATOR=default``; a no-op where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
ENV = "MGDL_ALLOCATOR"
_STATE = {"tuned": False}


def tune_allocator() -> bool:
    """Ask glibc to keep freed memory for reuse; True when applied."""
    if os.environ.get(ENV, "tuned") == "default" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
    _STATE["tuned"] = ok
    return ok


def allocator_state() -> str:
    """``"glibc tuned"`` or ``"default"``, for provenance and benchmarks."""
    return "glibc tuned" if _STATE["tuned"] else "default"

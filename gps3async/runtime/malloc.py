"""glibc allocator settings for a process that moves gigabytes through short-lived buffers.

Every socket read on the download path becomes a fresh ``bytes`` object of up
to a few hundred KiB.  With glibc's defaults such blocks are served by
``mmap`` and handed back with ``munmap``, or the heap top is trimmed after
each free, so each read faults its pages in again: about 150,000 page faults
and half a CPU-second per GiB.  Raising the mmap and trim thresholds lets the
heap recycle those blocks instead; the fixed buffer pool still bounds memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["tune_malloc"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_malloc(mmap_threshold: int = 32 << 20, trim_threshold: int = 64 << 20) -> bool:
    """Apply the thresholds where glibc's ``mallopt`` exists; return whether it did."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))

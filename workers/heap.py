"""Keep a computing process's freed memory for its next job instead of handing it back.

glibc's malloc serves blocks over a threshold (128 KiB at first, raised on its own up to
32 MiB) with a fresh `mmap` and returns them on `free`, and trims the heap's free top past
twice that. A featurebot job allocates and frees the same few-MB temporaries every job (an STFT
block's windowed frames and spectrum, the decoded and resampled signal), so every job took
its memory from the kernel again: one page fault per 4 KiB page touched, 2,800 for an STFT of a
10 s sound, which made that job 2.5 times slower than its arithmetic (7.4 ms against 2.9 ms).
With a fixed mmap threshold and a trim threshold above it, those blocks stay in the heap and
are reused: no faults after the first job. Blocks over `MMAP_THRESHOLD` (the arrays of sounds
of several minutes) are still mapped and returned, so what a process keeps between jobs is
bounded by about `TRIM_THRESHOLD` plus fragmentation, not by the longest sound it analysed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_heap"]

log = logging.getLogger(__name__)

MMAP_THRESHOLD = 32 << 20
"""Blocks up to this size come from the heap (32 MiB: glibc's own ceiling for its dynamic
threshold; an STFT array of 300 s is 53 MB and is still mapped)."""
TRIM_THRESHOLD = 64 << 20
"""Free memory kept at the top of the heap before it is given back."""

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_heap(
    *, mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD
) -> bool:
    """Set this process's malloc thresholds (glibc's `mallopt`). False where the C library is
    not glibc (musl, macOS): their allocators have no such knobs, and nothing changes."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1
    done = mallopt(_M_TRIM_THRESHOLD, trim_threshold) == 1 and done
    if not done:
        log.warning("mallopt refused the heap thresholds; jobs will fault their memory in")
    return done

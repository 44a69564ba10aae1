"""A fixed glibc mmap threshold for the stream's process, so freed large blocks go back to the OS.

glibc serves a block of at least ``M_MMAP_THRESHOLD`` (128 KiB at start) with its own ``mmap`` and
unmaps it on free. But each time such a block is freed the threshold rises to its size (up to
32 MiB), so from then on pages, Arrow buffers and gRPC messages of that size come from the arenas,
and the small blocks that outlive them pin the arenas' free space. In a stream soak that left
~400 MiB of arenas holding ~150 MiB in use, and the arenas kept growing 1-2 MiB/min with the heap
in use flat (issue 15); ``malloc_trim`` gave little back, as the free space lay between live blocks.
Setting the threshold explicitly fixes it and turns the rise off (``mallopt(3)``), the same as
``MALLOC_MMAP_THRESHOLD_`` in the environment, which a running process can no longer set.
Other C libraries (musl, macOS) have no ``mallopt`` threshold: there it is a no-op.
"""

from __future__ import annotations

import ctypes

M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameter number (``malloc.h``)."""
MMAP_THRESHOLD_BYTES = 64 * 1024
"""Blocks from this size up get their own mapping, returned to the OS when freed."""


def cap_mmap_threshold(size: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``size`` bytes for this process; False where there is no glibc."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, size))

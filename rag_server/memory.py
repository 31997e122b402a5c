"""The server process's memory: glibc's allocator kept what large calls had freed.

Measured on a server started with ``--workers 2`` (361 MB at rest), two 240 KB Patch calls (``no_check``) one after
the other, then three at once: 1,274 / 1,319 MB after the first two and 1,802 MB after the three, still 1,802 MB 15 s
later, because each RPC thread grew a malloc arena of its own and kept it. With the arenas capped at 2 and freed pages
returned after each Patch: 1,023 / 1,082 and 1,217 MB. The calls took as long (28-31 s each).
"""

from __future__ import annotations

import ctypes

M_ARENA_MAX = -8  # glibc's mallopt parameter
MALLOC_ARENAS = 2


def limit_malloc_arenas() -> bool:
    """Cap glibc's malloc arenas at ``MALLOC_ARENAS`` (as ``MALLOC_ARENA_MAX=2`` would), where glibc is the allocator.
    Why: each RPC thread that ran a Patch of a large file grew an arena of its own (up to 8 per core) and kept it:
    after three concurrent 240 KB Patches the server held 1.8 GB at rest."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(ctypes.c_int(M_ARENA_MAX), ctypes.c_int(MALLOC_ARENAS)))
    except (OSError, AttributeError):  # another libc (musl): its allocator has no arenas to cap
        return False


def release_free_memory() -> None:
    """Hand the allocator's free pages back to the system (glibc ``malloc_trim``); nothing elsewhere. Called after
    the calls that build large parse trees (Patch), whose freed memory otherwise stayed with the process."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(ctypes.c_size_t(0))
    except (OSError, AttributeError):
        pass

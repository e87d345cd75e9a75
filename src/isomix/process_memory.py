"""One C heap per process: how an `isomix` process asks glibc to keep its memory.

glibc's malloc gives each thread that allocates a heap ("arena") of its own and keeps what
is freed in a heap for that heap. A separation runs two model segments at once on two
threads; each heap then keeps the peak of its own forward passes, and memory freed by one
thread cannot serve the other. With one arena they reuse each other's memory: `isomix
separate` on a 60 s song (htdemucs-sized, bf16, two segments at once) peaked at 1.37-1.47 GB
instead of 1.59-1.61, at the same speed (measured here).

glibc fixes the number of arenas the first time a second thread allocates, so this is done
first thing in `isomix`'s entry point (`mallopt`), and through the environment for the
processes it starts (the embedded worker, Celery's pool), which read MALLOC_ARENA_MAX when
they start. A value the user set is kept.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

ARENA_VARIABLE = "MALLOC_ARENA_MAX"
# mallopt's parameter number for the arena limit (malloc.h, glibc >= 2.10).
_M_ARENA_MAX = -8


def use_one_malloc_arena() -> bool:
    """Ask for one arena in this process (before it starts threads) and in its children.
    True when this process's C library took it; False elsewhere (not glibc, or the user set
    another limit), which changes nothing else."""
    os.environ.setdefault(ARENA_VARIABLE, "1")
    if os.environ[ARENA_VARIABLE] != "1":
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, 1))

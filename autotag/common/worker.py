"""Setup of the worker processes autotag starts: prepare's, the tagger's, the loaders'.

Each worker computes with one torch thread (workers × threads never exceed the cores), and its
C allocator keeps freed memory instead of handing it back to the kernel. Why the allocator:
glibc serves blocks over 32 MB (a batch of spectrograms, a network's activations) with a fresh
``mmap`` and returns them with ``munmap`` on free, so every batch touched fresh pages again:
a folder of 32 songs cost the tagging workers 368,000 page faults and a fifth of their time
in the kernel, and ``make train`` spent 73 of its 99 s in the kernel on 45 million page
faults; keeping freed memory halved its training time (``bench/RESULTS.md``). Holding a
process's peak memory is the right trade for a worker and for autotag's own entry points
(``train.py``, ``sweep.py``, ``python -m autotag.prepare``, ``autotag``), which call
:func:`keep_freed_memory` first; the library's functions never change the allocator of a
process that merely imports them.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import sys
import warnings

import torch

_M_TRIM_THRESHOLD = -1  # mallopt parameters of glibc's malloc.h
_M_MMAP_MAX = -4


def usable_cores() -> int:
    """The cores this process may run on (``taskset``, cgroup cpusets), not the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def pool_context() -> mp.context.BaseContext:
    """``fork`` on Linux: a worker starts in milliseconds with this process's imports (torch's
    1.8 s import is not paid again per worker) and computes with one thread, as PyTorch's
    DataLoader workers do (also beside a CUDA context: the workers never touch the GPU).
    ``spawn`` elsewhere (macOS's system libraries are not fork-safe)."""
    if not sys.platform.startswith("linux"):
        return mp.get_context("spawn")
    # Python 3.12 warns of any fork() beside threads; these workers start with one thread and
    # never touch the GPU (the DataLoader's pattern), so the warning would only alarm users
    warnings.filterwarnings(
        "ignore", r"This process \(pid=\d+\) is multi-threaded, use of fork\(\)", DeprecationWarning
    )
    return mp.get_context("fork")


def keep_freed_memory() -> bool:
    """glibc only: serve every allocation from the heap and never trim it, so freed memory is
    reused without page faults. False where it does not apply (another C library)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no glibc mallopt
        return False
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**30))


def init_worker_process() -> None:
    """What every worker process does first: one torch thread, freed memory kept."""
    torch.set_num_threads(1)
    keep_freed_memory()

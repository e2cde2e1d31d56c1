"""When a parallel region pays.

Waking numba's worker threads costs microseconds on an idle machine but milliseconds on a
loaded one (the OS has to schedule them), so a ``prange`` over a few thousand items is
slower than a plain loop. Wrappers run a parallel kernel with one thread below
:data:`MIN_PARALLEL_WORK` items (vertices plus edges), which keeps the fast path for the
small graphs GraphRAG queries meet. The same goes for a machine whose cores are already
busy: a statically scheduled parallel loop finishes only when its last thread has been
scheduled, so with a load average above ``cores - 1`` the kernels run single-threaded.
The switch is made in Python: calling ``numba.set_num_threads`` inside a kernel would stop
numba from caching it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from numba import get_num_threads, set_num_threads

__all__ = ["MIN_PARALLEL_WORK", "thread_limit", "use_parallel"]

#: Below this much work a parallel region runs on the calling thread alone.
MIN_PARALLEL_WORK = 1 << 17


def _cores_free() -> float:
    try:
        return (os.cpu_count() or 1) - os.getloadavg()[0]
    except OSError:  # pragma: no cover - no load average on this platform
        return float(os.cpu_count() or 1)


def use_parallel(work: int) -> bool:
    """Whether ``work`` items pay for waking the worker threads on this machine now.

    Examples
    --------
    >>> use_parallel(10)
    False
    """
    return work >= MIN_PARALLEL_WORK and get_num_threads() > 1 and _cores_free() >= 1.0


@contextmanager
def thread_limit(work: int) -> Iterator[None]:
    """Run the block with one numba thread unless :func:`use_parallel` says otherwise."""
    if use_parallel(work):
        yield
        return
    prev = get_num_threads()
    set_num_threads(1)
    try:
        yield
    finally:
        set_num_threads(prev)

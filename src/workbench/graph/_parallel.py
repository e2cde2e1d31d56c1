"""When a parallel region pays.

Waking numba's worker threads costs microseconds on an idle machine but milliseconds on a
loaded one (the OS has to schedule them), so a ``prange`` over a few thousand items is
slower than a plain loop. Wrappers run a parallel kernel with one thread below
:data:`MIN_PARALLEL_WORK` items (vertices plus edges), which keeps the fast path for the
small graphs GraphRAG queries meet. The switch is made in Python: calling
``numba.set_num_threads`` inside a kernel would stop numba from caching it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from numba import get_num_threads, set_num_threads

__all__ = ["MIN_PARALLEL_WORK", "thread_limit", "use_parallel"]

#: Below this much work a parallel region runs on the calling thread alone.
MIN_PARALLEL_WORK = 1 << 17


def use_parallel(work: int) -> bool:
    """Whether ``work`` items are enough to pay for waking the worker threads."""
    return work >= MIN_PARALLEL_WORK and get_num_threads() > 1


@contextmanager
def thread_limit(work: int) -> Iterator[None]:
    """Run the block with one numba thread when ``work`` is small, else unchanged."""
    if work >= MIN_PARALLEL_WORK:
        yield
        return
    prev = get_num_threads()
    set_num_threads(1)
    try:
        yield
    finally:
        set_num_threads(prev)

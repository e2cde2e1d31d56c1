"""Worker threads for the searches: BLAS single-threaded, our threads over independent work.

OpenBLAS parallelises each product on its own and then waits at a barrier for its threads.
When the machine's cores are shared with other processes a descheduled BLAS thread stalls
every product, and a search makes dozens of them. So a search holds BLAS at one thread
and splits its blocks (or IVF cells) between its own worker threads: each pulls the next
piece of work when it is free and keeps its own top-k heaps (no shared writes); the heaps
are merged once at the end. numpy and the selection kernels release the GIL.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import numba
from threadpoolctl import ThreadpoolController

__all__: list[str] = []

T = TypeVar("T")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def workers() -> int:
    """Worker threads a search may use: ``NUMBA_NUM_THREADS`` (default: the CPU count).

    Read from numba's configuration rather than ``numba.get_num_threads()``, which would
    start numba's thread pool just to answer."""
    return max(1, int(numba.config.NUMBA_NUM_THREADS))


@functools.cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


_holders = 0
_limit: Any = None


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Hold every loaded BLAS at one thread while any search in the process runs.

    The limit is process-wide, so concurrent searches share one: the first to enter sets
    it, the last to leave restores the previous thread counts (nesting threadpoolctl's own
    context managers from several threads would restore them in the wrong order).
    """
    global _holders, _limit
    with _lock:
        if _holders == 0:
            _limit = _controller().limit(limits=1, user_api="blas")
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                _limit.restore_original_limits()
                _limit = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(2, workers()), thread_name_prefix="wb-vec")
        return _pool


def run_workers(n_workers: int, work: Callable[[Iterator[int]], T], n_items: int) -> list[T]:
    """Call ``work(items)`` in ``n_workers`` threads sharing one iterator over
    ``range(n_items)`` (each item is taken by exactly one worker); return their results.
    One worker runs inline, without a thread."""
    items = _SharedRange(n_items)
    if n_workers <= 1:
        return [work(items)]
    return list(_executor().map(lambda _: work(items), range(n_workers)))


class _SharedRange:
    """A thread-safe iterator over ``range(n)``."""

    def __init__(self, n: int) -> None:
        self._it = iter(range(n))
        self._lock = threading.Lock()

    def __iter__(self) -> _SharedRange:
        return self

    def __next__(self) -> int:
        with self._lock:
            return next(self._it)

"""Timing harness and machine capture.

:func:`time_call` times a callable the way the benchmarks and notebooks need it: the first
call (which includes numba's JIT compile) is reported on its own, then warm-up calls, then
repeats until both a minimum count and a time budget are met. :func:`machine_info` and
:func:`library_versions` describe where a figure was measured; every result row carries them.
"""

from __future__ import annotations

import contextlib
import gc
import os
import platform
import statistics
import subprocess
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import metadata
from typing import Any

__all__ = ["Timing", "git_commit", "library_versions", "machine_info", "time_call"]

# Libraries whose versions change what a figure means.
_KEY_LIBRARIES = (
    "numpy",
    "numba",
    "llvmlite",
    "scipy",
    "polars",
    "pandas",
    "pyarrow",
    "networkx",
    "igraph",
    "networkit",
    "faiss-cpu",
    "simpy",
    "locust",
    "papermill",
    "starlette",
    "uvicorn",
    "httpx",
)


@dataclass(frozen=True)
class Timing:
    """What :func:`time_call` measured, in seconds.

    ``first_call_s`` is the very first call (compile + run for a numba kernel); ``times_s``
    are the steady-state repeats after warm-up. ``peak_bytes`` is the peak of Python-level
    allocations (tracemalloc) during one extra call, when memory was asked for.
    """

    first_call_s: float
    times_s: tuple[float, ...]
    peak_bytes: int | None = None
    result: Any = field(default=None, repr=False, compare=False)

    @property
    def n(self) -> int:
        return len(self.times_s)

    @property
    def min(self) -> float:
        return min(self.times_s)

    @property
    def median(self) -> float:
        return statistics.median(self.times_s)

    @property
    def max(self) -> float:
        return max(self.times_s)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.times_s)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("result")
        d.update(n=self.n, min=self.min, median=self.median, max=self.max)
        return d


def time_call(
    fn: Callable[..., Any],
    *args: Any,
    warmup: int = 1,
    repeat: int = 5,
    budget_s: float | None = None,
    max_repeat: int = 1000,
    memory: bool = False,
    **kwargs: Any,
) -> Timing:
    """Time ``fn(*args, **kwargs)``.

    Parameters
    ----------
    fn, args, kwargs
        The call to time. Build inputs beforehand: only the call is timed.
    warmup : int
        Untimed calls after the first call and before the repeats.
    repeat : int
        Minimum number of timed repeats.
    budget_s : float, optional
        Keep repeating (up to ``max_repeat``) until this much time has been spent in repeats.
    memory : bool
        Also run one call under :mod:`tracemalloc` and report its peak (Python-level
        allocations, numpy buffers included; not memory allocated inside C libraries).

    Returns
    -------
    Timing

    Examples
    --------
    >>> t = time_call(sum, range(1000), repeat=3)
    >>> t.n >= 3 and t.min <= t.median <= t.max
    True
    """
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if budget_s is not None and budget_s < 0:
        raise ValueError(f"budget_s must be >= 0, got {budget_s}")
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    first = time.perf_counter() - t0
    for _ in range(warmup):
        fn(*args, **kwargs)
    times: list[float] = []
    spent = 0.0
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection inside one repeat is noise, not the callee's cost
    try:
        while len(times) < max_repeat and (
            len(times) < repeat or (budget_s is not None and spent < budget_s)
        ):
            t0 = time.perf_counter()
            fn(*args, **kwargs)
            dt = time.perf_counter() - t0
            times.append(dt)
            spent += dt
    finally:
        if gc_was_enabled:
            gc.enable()
    peak = None
    if memory:
        tracemalloc.start()
        try:
            fn(*args, **kwargs)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return Timing(first_call_s=first, times_s=tuple(times), peak_bytes=peak, result=result)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas_info() -> list[dict[str, Any]]:
    try:
        import numpy  # noqa: F401  (loads numpy's BLAS so threadpoolctl can see it)
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keep = ("internal_api", "version", "num_threads", "architecture", "user_api")
    return [{k: lib.get(k) for k in keep} for lib in threadpool_info()]


@cache
def machine_info() -> dict[str, Any]:
    """Describe this machine: CPU model, cores, memory, OS, Python, BLAS in use.

    Examples
    --------
    >>> info = machine_info()
    >>> info["logical_cores"] >= 1
    True
    """
    import psutil

    return {
        "hostname": platform.node(),
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count() or 1,
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "blas": _blas_info(),
    }


@cache
def library_versions() -> dict[str, str]:
    """Versions of the libraries whose behaviour or speed a figure depends on (installed ones)."""
    out = {"python": platform.python_version()}
    for name in _KEY_LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    with contextlib.suppress(metadata.PackageNotFoundError):
        out["workbench"] = metadata.version("workbench")
    return out


@cache
def git_commit() -> str:
    """The checkout's commit (with ``-dirty`` when it has uncommitted changes), or ``""``."""
    from workbench.config import project_root

    try:
        root = str(project_root())
        proc = subprocess.run(
            ["git", "-C", root, "rev-parse", "--verify", "-q", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        sha = proc.stdout.strip()
        if proc.returncode != 0 or not sha:
            return ""
        dirty = subprocess.run(
            ["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return ""

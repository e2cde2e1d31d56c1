"""Runtime models for the memory simulator: their options, defaults and validation.

Three ways of turning one allocation stream into resident memory and CPU:

``v8``
    Node's V8: a semi-space young generation (scavenges copy survivors; an object that
    survives two scavenges is promoted), an old generation collected by mark-compact when it
    grows past ``growth_factor`` times the live bytes found by the previous one, and a hard
    ``max_old_space_mb`` (``--max-old-space-size``) past which the process dies.
``go``
    Go's pacer: the heap goal is ``marked live x (1 + GOGC/100)`` (at least 4 MB x GOGC/100);
    ``GOMEMLIMIT`` lowers the goal when memory is short, at the price of more GC CPU, up to
    the GC CPU limiter (50 % of ``GOMAXPROCS``), beyond which the limit gives way.
``rust``
    Deterministic freeing: bytes are released when their owner drops; the allocator keeps
    ``fragmentation`` extra and returns freed pages to the OS with a decay time
    (jemalloc's ``dirty_decay_ms`` defaults to 10 s; glibc malloc often never does).

Every number below is an assumption an analyst can change, not a measurement: GC costs per
MB marked or copied are rough orders of magnitude for current hardware. ``live_set_factor``
and ``alloc_factor`` scale the workload's bytes for a runtime whose objects are smaller
(a Go struct or a Rust value is usually smaller than the JS object holding the same data);
they default to 1, i.e. the same bytes in every language, which is the neutral assumption.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import numpy as np

from workbench.sim.memory_workload import Workload, _check_number

__all__ = ["RUNTIMES", "GoOptions", "RustOptions", "V8Options", "runtime_options"]

# Slots of the float64 parameter vector the kernel reads (shared by all runtimes first).
R_BASELINE = 0
R_LIVE_FACTOR = 1
R_ALLOC_FACTOR = 2
# V8
R_SEMI = 3
R_GROWTH = 4
R_OLD_MIN_GROWTH = 5
R_MAX_OLD = 6
R_SCAV_FIXED = 7
R_SCAV_S_PER_MB = 8
R_MC_FIXED = 9
R_MC_S_PER_MB = 10
R_MC_PAUSE_FRACTION = 11
R_OLD_SLACK = 12
# Go
R_GOGC = 3
R_MEMLIMIT = 4
R_MIN_HEAP = 5
R_MARK_S_PER_MB = 6
R_CYCLE_FIXED = 7
R_STW = 8
R_PROCS = 9
R_CPU_LIMIT = 10
R_RETAIN = 11
R_SCAV_RATE = 12
# Rust
R_FRAG = 3
R_RETENTION = 4
N_RUNTIME_PARAMS = 16


@dataclass(frozen=True)
class _Common:
    baseline_mb: float
    live_set_factor: float = 1.0
    alloc_factor: float = 1.0

    code: ClassVar[int] = -1

    def _check_common(self) -> None:
        for name in ("baseline_mb", "live_set_factor", "alloc_factor"):
            object.__setattr__(self, name, _check_number(name, getattr(self, name)))

    def params(self) -> dict[str, Any]:
        return asdict(self)

    def _vector(self) -> np.ndarray:
        v = np.zeros(N_RUNTIME_PARAMS)
        v[R_BASELINE] = self.baseline_mb
        v[R_LIVE_FACTOR] = self.live_set_factor
        v[R_ALLOC_FACTOR] = self.alloc_factor
        return v

    def check_against(self, workload: Workload) -> None:
        """Raise ``ValueError`` when a limit cannot hold the workload's live set."""


@dataclass(frozen=True)
class V8Options(_Common):
    """V8 (Node.js) heap model options. Sizes in MB (1e6 bytes), times in seconds.

    Parameters
    ----------
    baseline_mb : float
        Resident memory of an idle Node process (code, isolate, builtins, libuv): ~40 MB.
    semi_space_mb : float
        Semi-space size (``--max-semi-space-size``); the young generation commits two.
    growth_factor : float
        Old-generation limit after a mark-compact, as a multiple of the live bytes it found
        (V8 picks 1.1-4 from measured GC and mutator speed).
    old_min_growth_mb : float
        Minimum headroom above the live old generation before the next mark-compact.
    max_old_space_mb : float
        ``--max-old-space-size``: a mark-compact that leaves more live than this is fatal
        ("JavaScript heap out of memory").
    scavenge_fixed_s, scavenge_s_per_mb : float
        Cost of one scavenge: fixed plus per MB copied (stop-the-world).
    mark_compact_fixed_s, mark_compact_s_per_mb : float
        CPU of one mark-compact: fixed plus per live MB marked.
    mark_compact_pause_fraction : float
        Share of a mark-compact's CPU spent in the atomic pause (the rest is incremental and
        concurrent marking).
    old_slack : float
        Committed-but-free fraction of the old generation (page fragmentation).
    """

    baseline_mb: float = 40.0
    semi_space_mb: float = 16.0
    growth_factor: float = 1.5
    old_min_growth_mb: float = 8.0
    max_old_space_mb: float = 4096.0
    scavenge_fixed_s: float = 2e-4
    scavenge_s_per_mb: float = 1e-3
    mark_compact_fixed_s: float = 1e-3
    mark_compact_s_per_mb: float = 2e-3
    mark_compact_pause_fraction: float = 0.1
    old_slack: float = 0.1

    code: ClassVar[int] = 0

    def __post_init__(self) -> None:
        self._check_common()
        for f in fields(self):
            if f.name not in ("baseline_mb", "live_set_factor", "alloc_factor"):
                object.__setattr__(self, f.name, _check_number(f.name, getattr(self, f.name)))
        if self.semi_space_mb <= 0:
            raise ValueError(f"semi_space_mb must be > 0, got {self.semi_space_mb!r}")
        if self.growth_factor < 1.0:
            raise ValueError(f"growth_factor must be >= 1, got {self.growth_factor!r}")
        if self.max_old_space_mb <= 0:
            raise ValueError(f"max_old_space_mb must be > 0, got {self.max_old_space_mb!r}")
        if self.mark_compact_pause_fraction > 1.0:
            raise ValueError(
                "mark_compact_pause_fraction must be in [0, 1], "
                f"got {self.mark_compact_pause_fraction!r}"
            )

    def check_against(self, workload: Workload) -> None:
        live = workload.live_set_mb * self.live_set_factor
        if self.max_old_space_mb < live:
            raise ValueError(
                f"max_old_space_mb ({self.max_old_space_mb:g}) is below the live set "
                f"({live:g} MB): the process could not even start"
            )

    def vector(self) -> np.ndarray:
        v = self._vector()
        v[R_SEMI] = self.semi_space_mb
        v[R_GROWTH] = self.growth_factor
        v[R_OLD_MIN_GROWTH] = self.old_min_growth_mb
        v[R_MAX_OLD] = self.max_old_space_mb
        v[R_SCAV_FIXED] = self.scavenge_fixed_s
        v[R_SCAV_S_PER_MB] = self.scavenge_s_per_mb
        v[R_MC_FIXED] = self.mark_compact_fixed_s
        v[R_MC_S_PER_MB] = self.mark_compact_s_per_mb
        v[R_MC_PAUSE_FRACTION] = self.mark_compact_pause_fraction
        v[R_OLD_SLACK] = self.old_slack
        return v


@dataclass(frozen=True)
class GoOptions(_Common):
    """Go runtime model options. Sizes in MB (1e6 bytes), times in seconds.

    Parameters
    ----------
    baseline_mb : float
        Non-heap resident memory: binary, runtime metadata, goroutine stacks (~8 MB).
    gogc : int, float or "off"
        ``GOGC``: heap goal = marked live x (1 + gogc/100). ``"off"`` disables the
        proportional goal (only ``memlimit_mb`` then triggers collections).
    memlimit_mb : float, optional
        ``GOMEMLIMIT`` (soft): total Go memory (heap + baseline) the pacer aims to stay under.
    min_heap_mb : float
        Minimum heap goal at GOGC=100 (Go's 4 MB, scaled by gogc/100).
    mark_s_per_mb, cycle_fixed_s : float
        CPU of one cycle: fixed plus per live MB marked.
    stw_pause_s : float
        Each of the two stop-the-world pauses per cycle.
    gomaxprocs : int
        Processors: background marking gets 25 % of them; work beyond that in a cycle is
        taken from the mutator as assists.
    gc_cpu_limit : float
        The GC CPU limiter's cap (share of ``gomaxprocs``): when collections driven by the
        memory limit would exceed it, the limit gives way.
    scavenger_retain : float
        Free heap kept mapped above the goal (Go retains ~10 %).
    scavenge_mb_per_s : float
        Rate at which the background scavenger returns excess memory to the OS.
    """

    baseline_mb: float = 8.0
    gogc: int | float | str = 100
    memlimit_mb: float | None = None
    min_heap_mb: float = 4.0
    mark_s_per_mb: float = 1e-3
    cycle_fixed_s: float = 1e-4
    stw_pause_s: float = 5e-5
    gomaxprocs: int = 2
    gc_cpu_limit: float = 0.5
    scavenger_retain: float = 0.1
    scavenge_mb_per_s: float = 64.0

    code: ClassVar[int] = 1

    def __post_init__(self) -> None:
        self._check_common()
        if isinstance(self.gogc, str):
            if self.gogc.strip().lower() != "off":
                raise ValueError(f"gogc must be a number >= 0 or 'off', got {self.gogc!r}")
            object.__setattr__(self, "gogc", "off")
        else:
            if isinstance(self.gogc, bool) or not isinstance(
                self.gogc, (int, float, np.integer, np.floating)
            ):
                raise TypeError(f"gogc must be a number or 'off', got {type(self.gogc).__name__}")
            if not math.isfinite(float(self.gogc)) or self.gogc < 0:
                raise ValueError(f"gogc must be >= 0 or 'off', got {self.gogc!r}")
        if self.memlimit_mb is not None:
            object.__setattr__(
                self, "memlimit_mb", _check_number("memlimit_mb", self.memlimit_mb, strict=True)
            )
        for name in (
            "min_heap_mb", "mark_s_per_mb", "cycle_fixed_s", "stw_pause_s", "scavenger_retain",
            "scavenge_mb_per_s",
        ):  # fmt: skip
            object.__setattr__(self, name, _check_number(name, getattr(self, name)))
        if isinstance(self.gomaxprocs, bool) or not isinstance(self.gomaxprocs, (int, np.integer)):
            raise TypeError(f"gomaxprocs must be an int, got {type(self.gomaxprocs).__name__}")
        if self.gomaxprocs < 1:
            raise ValueError(f"gomaxprocs must be >= 1, got {self.gomaxprocs!r}")
        limit = _check_number("gc_cpu_limit", self.gc_cpu_limit, strict=True)
        if limit > 1.0:
            raise ValueError(f"gc_cpu_limit must be in (0, 1], got {self.gc_cpu_limit!r}")

    def check_against(self, workload: Workload) -> None:
        if self.memlimit_mb is None:
            return
        need = self.baseline_mb + workload.live_set_mb * self.live_set_factor
        if self.memlimit_mb <= need:
            raise ValueError(
                f"memlimit_mb ({self.memlimit_mb:g}) must exceed baseline + live set "
                f"({self.baseline_mb:g} + {workload.live_set_mb * self.live_set_factor:g} MB)"
            )

    def vector(self) -> np.ndarray:
        v = self._vector()
        v[R_GOGC] = -1.0 if self.gogc == "off" else float(self.gogc)
        v[R_MEMLIMIT] = np.inf if self.memlimit_mb is None else self.memlimit_mb
        v[R_MIN_HEAP] = self.min_heap_mb
        v[R_MARK_S_PER_MB] = self.mark_s_per_mb
        v[R_CYCLE_FIXED] = self.cycle_fixed_s
        v[R_STW] = self.stw_pause_s
        v[R_PROCS] = float(self.gomaxprocs)
        v[R_CPU_LIMIT] = self.gc_cpu_limit
        v[R_RETAIN] = self.scavenger_retain
        v[R_SCAV_RATE] = self.scavenge_mb_per_s
        return v


@dataclass(frozen=True)
class RustOptions(_Common):
    """Deterministic-freeing (Rust) model options.

    Parameters
    ----------
    baseline_mb : float
        Resident memory of an idle process (binary, tokio runtime, thread stacks): ~3 MB.
    fragmentation : float
        Allocator overhead and fragmentation as a fraction of live bytes.
    retention_s : float
        Time constant with which freed memory is returned to the OS (jemalloc's dirty
        decay is 10 s; ``inf`` keeps the high-water mark, as glibc malloc often does).
    """

    baseline_mb: float = 3.0
    fragmentation: float = 0.15
    retention_s: float = 10.0

    code: ClassVar[int] = 2

    def __post_init__(self) -> None:
        self._check_common()
        object.__setattr__(
            self, "fragmentation", _check_number("fragmentation", self.fragmentation)
        )
        r = self.retention_s
        if isinstance(r, (int, float)) and not isinstance(r, bool) and r == math.inf:
            return
        object.__setattr__(self, "retention_s", _check_number("retention_s", r))

    def vector(self) -> np.ndarray:
        v = self._vector()
        v[R_FRAG] = self.fragmentation
        v[R_RETENTION] = self.retention_s
        return v


#: Runtime name -> options class (a registry, not an if-chain).
RUNTIMES: dict[str, type[_Common]] = {"v8": V8Options, "go": GoOptions, "rust": RustOptions}


def runtime_options(runtime: str, **options: Any) -> V8Options | GoOptions | RustOptions:
    """Build and validate the options of ``runtime``.

    Raises
    ------
    ValueError
        Unknown runtime name.
    TypeError
        An option the runtime does not have (the message lists the valid ones).

    Examples
    --------
    >>> runtime_options("go", gogc=50).gogc
    50
    """
    if not isinstance(runtime, str) or runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {sorted(RUNTIMES)}, got {runtime!r}")
    cls = RUNTIMES[runtime]
    valid = {f.name for f in fields(cls)}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise TypeError(
            f"unknown option(s) {unknown} for runtime {runtime!r}; valid: {sorted(valid)}"
        )
    return cls(**options)  # type: ignore[return-value]

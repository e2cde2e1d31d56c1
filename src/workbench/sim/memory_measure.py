"""Real RSS of the workbench's own services, to set beside the memory model.

``workbench serve`` writes ``.workbench/serve.json`` with one URL per service and (usually)
a ``pids`` map. When the services run, :func:`measure_service_rss` samples each process's
resident set size with psutil (by pid), or, when no pid is known, asks the service's
``GET /v1/memory`` endpoint (which reports its own RSS). When nothing runs it returns an
empty table and :func:`services_running` says so; nothing here starts a service.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import polars as pl

from workbench.config import state_dir

__all__ = ["MEASURE_SCHEMA", "measure_service_rss", "read_serve_state", "services_running"]

#: Columns of :func:`measure_service_rss`'s table.
MEASURE_SCHEMA = {
    "service": pl.String(),
    "pid": pl.Int64(),
    "source": pl.String(),
    "samples": pl.Int64(),
    "rss_mean_mb": pl.Float64(),
    "rss_max_mb": pl.Float64(),
    "error": pl.String(),
}
_NOT_SERVICES = {"api_key", "pids", "launcher_pid", "host", "started_at"}


def read_serve_state(path: str | Path | None = None) -> dict[str, Any] | None:
    """The contents of ``serve.json``, or ``None`` if it is absent or unreadable.

    Parameters
    ----------
    path : path, optional
        The file, or the folder holding it; default ``<state dir>/serve.json``.

    Examples
    --------
    >>> import tempfile
    >>> read_serve_state(tempfile.mkdtemp()) is None
    True
    """
    p = Path(path) if path is not None else state_dir() / "serve.json"
    if p.is_dir():
        p = p / "serve.json"
    try:
        state = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def services_running(state: dict[str, Any] | None) -> bool:
    """Whether ``state`` names at least one service URL."""
    return bool(state) and bool(_service_urls(state))


def _service_urls(state: dict[str, Any]) -> dict[str, str]:
    return {
        k: v
        for k, v in state.items()
        if k not in _NOT_SERVICES and isinstance(v, str) and v.startswith(("http://", "ws://"))
    }


def _rss_by_pid(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 1e6


def _rss_by_endpoint(url: str, timeout_s: float) -> float:
    import httpx

    base = "http://" + url.split("://", 1)[1] if url.startswith("ws://") else url
    r = httpx.get(base.rstrip("/") + "/v1/memory", timeout=timeout_s)
    r.raise_for_status()
    return float(r.json()["rss_bytes"]) / 1e6


def measure_service_rss(
    state: dict[str, Any] | None = None,
    *,
    samples: int = 5,
    interval_s: float = 0.2,
    timeout_s: float = 2.0,
) -> pl.DataFrame:
    """Sample the RSS of each running service.

    Parameters
    ----------
    state : dict, optional
        Parsed ``serve.json`` (default: :func:`read_serve_state`).
    samples : int
        Samples per service, ``interval_s`` apart (RSS under whatever load is running).
    timeout_s : float
        Timeout of one ``/v1/memory`` request.

    Returns
    -------
    polars.DataFrame
        One row per service (:data:`MEASURE_SCHEMA`): ``source`` is ``"psutil"`` (by pid) or
        ``"/v1/memory"``; a service that could not be measured has null figures and an
        ``error``. Empty when no services are running.

    Raises
    ------
    ValueError
        ``samples`` < 1 or negative ``interval_s``/``timeout_s``.

    Examples
    --------
    >>> measure_service_rss({}).height
    0
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be an int >= 1, got {samples!r}")
    if interval_s < 0 or timeout_s <= 0:
        raise ValueError("interval_s must be >= 0 and timeout_s > 0")
    if state is None:
        state = read_serve_state()
    if not state:
        return pl.DataFrame(schema=MEASURE_SCHEMA)
    pids = state.get("pids") if isinstance(state.get("pids"), dict) else {}
    urls = _service_urls(state)
    names = sorted(set(urls) | set(pids))
    values: dict[str, list[float]] = {n: [] for n in names}
    errors: dict[str, str] = {}
    sources = {n: "psutil" if isinstance(pids.get(n), int) else "/v1/memory" for n in names}
    for k in range(samples):
        for n in names:
            if n in errors:
                continue
            try:
                if sources[n] == "psutil":
                    values[n].append(_rss_by_pid(int(pids[n])))
                else:
                    values[n].append(_rss_by_endpoint(urls[n], timeout_s))
            except Exception as exc:  # a service that stopped or never answered
                errors[n] = f"{type(exc).__name__}: {exc}"
        if k + 1 < samples:
            time.sleep(interval_s)
    rows = []
    for n in names:
        v = values[n] if n not in errors else []
        rows.append(
            {
                "service": n,
                "pid": int(pids[n]) if isinstance(pids.get(n), int) else None,
                "source": sources[n],
                "samples": len(v),
                "rss_mean_mb": statistics.fmean(v) if v else None,
                "rss_max_mb": max(v) if v else None,
                "error": errors.get(n),
            }
        )
    return pl.DataFrame(rows, schema=MEASURE_SCHEMA)

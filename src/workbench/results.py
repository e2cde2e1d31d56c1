"""The one result schema, and the parquet store every figure goes through.

Every figure the workbench produces, measured, simulated or quoted from the plan, is one
row of the schema in ``DESIGN.md``::

    run_id, suite, notebook, case, implementation, metric, unit, value, n, min, median, max,
    params, provenance, started_at, machine, versions, git_commit

plus one optional column, ``samples`` (JSON list of the raw repeats), that the
statistical comparison between runs needs. Time is always in seconds in the store.

Layout on disk: each notebook (or benchmark, or load test) of a run writes its own part file,
``reports/<run-id>/results/<label>.parquet``, rewritten atomically after every figure so
an interrupted run keeps all that finished. :func:`merge_run` folds the parts into
``reports/<run-id>/results.parquet``; :func:`read_history` reads every run back.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from workbench.config import reports_dir
from workbench.errors import ResultError
from workbench.measure import Timing, git_commit, library_versions, machine_info

__all__ = [
    "COLUMNS",
    "PROVENANCES",
    "SCHEMA",
    "Recorder",
    "Result",
    "list_runs",
    "merge_run",
    "new_run_id",
    "read_history",
    "read_run",
    "run_dir_for",
    "safe_label",
    "samples_of",
    "write_results",
]

PROVENANCES = ("measured", "simulated", "seed")

SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "suite": pl.String(),
    "notebook": pl.String(),
    "case": pl.String(),
    "implementation": pl.String(),
    "metric": pl.String(),
    "unit": pl.String(),
    "value": pl.Float64(),
    "n": pl.Int64(),
    "min": pl.Float64(),
    "median": pl.Float64(),
    "max": pl.Float64(),
    "params": pl.String(),
    "provenance": pl.String(),
    "started_at": pl.String(),
    "machine": pl.String(),
    "versions": pl.String(),
    "git_commit": pl.String(),
    "samples": pl.String(),
}
COLUMNS = tuple(SCHEMA)

_UMASK = os.umask(0)
os.umask(_UMASK)
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=_json_default)


def _json_default(obj: Any) -> Any:
    # numpy scalars and arrays show up in params all the time.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


@dataclass(frozen=True)
class Result:
    """One figure. Construct through :class:`Recorder`; validated on creation.

    Raises
    ------
    ResultError
        Unknown provenance, empty unit/metric/case/implementation, NaN or infinite value,
        ``min <= median <= max`` violated, or ``n < 1``.
    """

    run_id: str
    suite: str
    notebook: str
    case: str
    implementation: str
    metric: str
    unit: str
    value: float
    n: int = 1
    min: float | None = None
    median: float | None = None
    max: float | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    provenance: str = "measured"
    started_at: str = field(default_factory=_now)
    machine: Mapping[str, Any] = field(default_factory=dict)
    versions: Mapping[str, Any] = field(default_factory=dict)
    git_commit: str = ""
    samples: Sequence[float] | None = None

    def __post_init__(self) -> None:
        where = f"result {self.case!r}/{self.implementation!r}/{self.metric!r}"
        if self.provenance not in PROVENANCES:
            raise ResultError(
                f"{where}: unknown provenance {self.provenance!r}; expected one of {PROVENANCES}"
            )
        for name in ("run_id", "case", "implementation", "metric", "unit"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ResultError(f"{where}: {name} must be a non-empty string, got {value!r}")
        if not _RUN_ID_RE.match(self.run_id):
            raise ResultError(f"{where}: run_id {self.run_id!r} has characters a folder cannot")
        try:
            value = float(self.value)
        except (TypeError, ValueError):
            raise ResultError(f"{where}: value must be a number, got {self.value!r}") from None
        if not math.isfinite(value):
            raise ResultError(f"{where}: value must be finite, got {self.value!r}")
        object.__setattr__(self, "value", value)
        if int(self.n) < 1:
            raise ResultError(f"{where}: n must be >= 1, got {self.n}")
        for name in ("min", "median", "max"):
            v = getattr(self, name)
            if v is not None:
                if not _finite(float(v)):
                    raise ResultError(f"{where}: {name} must be finite, got {v!r}")
                object.__setattr__(self, name, float(v))
        lo, mid, hi = self.min, self.median, self.max
        if lo is not None and hi is not None and lo > hi:
            raise ResultError(f"{where}: min {lo} > max {hi}")
        if mid is not None and ((lo is not None and mid < lo) or (hi is not None and mid > hi)):
            raise ResultError(f"{where}: median {mid} outside [min, max]")

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["n"] = int(self.n)
        for name in ("params", "machine", "versions"):
            row[name] = _json(dict(row[name]))
        row["samples"] = None if self.samples is None else _json([float(s) for s in self.samples])
        return row


def safe_label(label: str) -> str:
    """A file-name-safe form of an execution label (``graph[scale=16]`` -> ``graph[scale=16]``
    stays readable; other characters become ``_``). When anything had to be replaced, a short
    hash of the original is appended, so two labels never map to one file.

    Examples
    --------
    >>> safe_label("claims")
    'claims'
    >>> safe_label("a,b") != safe_label("a_b")
    True
    """
    import hashlib

    safe = re.sub(r"[^A-Za-z0-9_.=-]", "_", label) or "results"
    if safe != label:
        safe += "-" + hashlib.sha1(label.encode()).hexdigest()[:6]
    return safe


def samples_of(row: Mapping[str, Any]) -> list[float]:
    """The repeats behind a stored row (its ``samples``), or its single ``value``."""
    if row.get("samples"):
        values = [float(v) for v in json.loads(row["samples"])]
        if values:
            return values
    return [float(row["value"])]


def new_run_id(suite: str = "run") -> str:
    """A sortable, unique run id: ``20261130T093512Z-<suite>-<4 hex>``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", suite).strip("-") or "run"
    return f"{stamp}-{safe}-{secrets.token_hex(2)}"


def run_dir_for(run_id: str, root: Path | None = None) -> Path:
    """``reports/<run_id>`` (not created). Raises :class:`ResultError` on a bad id."""
    if not _RUN_ID_RE.match(run_id) or run_id in {"latest"}:
        raise ResultError(f"not a run id: {run_id!r}")
    return (root or reports_dir()) / run_id


def write_results(path: Path, rows: Iterable[Result | Mapping[str, Any]]) -> Path:
    """Write rows to ``path`` as parquet, atomically (temp file in the same folder + rename)."""
    records = [r.to_row() if isinstance(r, Result) else dict(r) for r in rows]
    frame = pl.DataFrame(records, schema=SCHEMA, orient="row") if records else _empty()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; results are meant to be shared
    try:
        frame.write_parquet(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=SCHEMA)


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:
        raise ResultError(f"{path}: cannot read results: {exc}") from exc
    for col, dtype in SCHEMA.items():  # files written before a column existed
        if col not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=dtype).alias(col))
    return frame.select(COLUMNS).cast(SCHEMA)


class Recorder:
    """Collects one notebook's (or benchmark's) results and keeps them on disk as it goes.

    Parameters
    ----------
    run_dir : path, optional
        The run's folder (``reports/<run-id>``). The runner passes it to each notebook as the
        ``run_dir`` parameter. ``None`` starts a new run of suite ``interactive``, so a
        notebook opened by hand in JupyterLab records too.
    suite, notebook : str
        Labels copied into every row.
    label : str, optional
        Name of this part file. Default: the runner's label for this execution (distinct per
        grid combination, from ``WORKBENCH_NOTEBOOK_LABEL``), else ``notebook``.

    Examples
    --------
    >>> import tempfile
    >>> rec = Recorder(tempfile.mkdtemp() + "/demo", suite="doc", notebook="example")
    >>> row = rec.record("sum/1k", "python", "time", 1.5e-5, "s")
    >>> rec.frame.height
    1
    """

    def __init__(
        self,
        run_dir: str | Path | None = None,
        *,
        suite: str | None = None,
        notebook: str = "",
        label: str | None = None,
    ) -> None:
        if run_dir is None:
            suite = suite or "interactive"
            run_dir = run_dir_for(new_run_id(suite))
        self.run_dir = Path(run_dir)
        self.run_id = self.run_dir.name
        meta = _read_meta(self.run_dir)
        self.suite = suite if suite is not None else meta.get("suite", "")
        self.notebook = notebook
        # The runner names each execution (a grid runs one notebook several times) through
        # WORKBENCH_NOTEBOOK_LABEL, so that executions never overwrite each other's part file.
        label = label or os.environ.get("WORKBENCH_NOTEBOOK_LABEL") or notebook or "results"
        self.label = safe_label(label)
        self.path = self.run_dir / "results" / f"{self.label}.parquet"
        self._rows: list[Result] = []
        self._lock = threading.Lock()

    @property
    def rows(self) -> list[Result]:
        return list(self._rows)

    @property
    def frame(self) -> pl.DataFrame:
        return pl.DataFrame([r.to_row() for r in self._rows], schema=SCHEMA, orient="row")

    def record(
        self,
        case: str,
        implementation: str,
        metric: str,
        value: float,
        unit: str,
        *,
        n: int = 1,
        min: float | None = None,
        median: float | None = None,
        max: float | None = None,
        params: Mapping[str, Any] | None = None,
        provenance: str = "measured",
        samples: Sequence[float] | None = None,
        flush: bool = True,
    ) -> Result:
        """Validate and add one figure; by default rewrite the part file straight away."""
        row = Result(
            run_id=self.run_id,
            suite=self.suite,
            notebook=self.notebook,
            case=case,
            implementation=implementation,
            metric=metric,
            unit=unit,
            value=value,
            n=n,
            min=min,
            median=median,
            max=max,
            params=dict(params or {}),
            provenance=provenance,
            machine=machine_info() if provenance != "seed" else {},
            versions=library_versions() if provenance != "seed" else {},
            git_commit=git_commit(),
            samples=samples,
        )
        with self._lock:
            self._rows.append(row)
            if flush:
                self.flush()
        return row

    def record_timing(
        self,
        case: str,
        implementation: str,
        timing: Timing,
        *,
        params: Mapping[str, Any] | None = None,
        metric: str = "time",
    ) -> list[Result]:
        """Record a :class:`~workbench.measure.Timing`: the steady-state median as ``metric``
        (with min/max and the repeats) and the first call as ``first_call_<metric>``."""
        rows = [
            self.record(
                case,
                implementation,
                metric,
                timing.median,
                "s",
                n=timing.n,
                min=timing.min,
                median=timing.median,
                max=timing.max,
                params=params,
                samples=timing.times_s,
                flush=False,
            ),
            self.record(
                case,
                implementation,
                f"first_call_{metric}",
                timing.first_call_s,
                "s",
                params=params,
                flush=False,
            ),
        ]
        if timing.peak_bytes is not None:
            rows.append(
                self.record(
                    case,
                    implementation,
                    "peak_memory",
                    float(timing.peak_bytes),
                    "bytes",
                    params=params,
                    flush=False,
                )
            )
        self.flush()
        return rows

    def flush(self) -> Path:
        """Rewrite this recorder's part file with every row so far (atomic)."""
        return write_results(self.path, self._rows)


def _read_meta(run_dir: Path) -> dict[str, Any]:
    meta = run_dir / "run.json"
    if meta.is_file():
        try:
            return json.loads(meta.read_text())
        except (OSError, json.JSONDecodeError):
            return {}
    return {}


def merge_run(run_dir: str | Path) -> Path:
    """Fold a run's part files into ``<run_dir>/results.parquet`` (atomic) and return its path."""
    run_dir = Path(run_dir)
    parts = sorted((run_dir / "results").glob("*.parquet"))
    frames = [_read_parquet(p) for p in parts]
    frame = pl.concat(frames, how="vertical") if frames else _empty()
    return write_results(run_dir / "results.parquet", frame.iter_rows(named=True))


def read_run(run: str | Path) -> pl.DataFrame:
    """One run's results: its merged file if present, else whatever part files it has."""
    run_dir = Path(run) if isinstance(run, Path) or "/" in str(run) else run_dir_for(str(run))
    if not run_dir.is_dir():
        raise ResultError(f"no such run: {run_dir}")
    merged = run_dir / "results.parquet"
    if merged.is_file():
        return _read_parquet(merged)
    parts = sorted((run_dir / "results").glob("*.parquet"))
    frames = [_read_parquet(p) for p in parts]
    return pl.concat(frames, how="vertical") if frames else _empty()


def list_runs(root: Path | None = None) -> list[str]:
    """Run ids under ``reports/``, oldest first (run ids sort by time)."""
    root = root or reports_dir()
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir()
        and not p.is_symlink()
        and _RUN_ID_RE.match(p.name)
        and ((p / "results.parquet").is_file() or (p / "results").is_dir())
    )


def read_history(root: Path | None = None) -> pl.DataFrame:
    """Every run's results as one polars DataFrame (the history), oldest run first.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> read_history(pathlib.Path(tempfile.mkdtemp())).height
    0
    """
    root = root or reports_dir()
    frames = [read_run(root / run_id) for run_id in list_runs(root)]
    return pl.concat(frames, how="vertical") if frames else _empty()

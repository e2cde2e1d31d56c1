"""Suites -> papermill -> executed notebooks + results.

A suite is a YAML file in ``data/suites/`` (or anywhere, given by path)::

    name: quick
    description: smoke run used by the tests
    notebooks:
      - notebook: claims          # notebooks/claims.ipynb
        parameters: {}            # names must exist in the notebook's parameters cell
        timeout_s: 300
      - notebook: graph_kernels
        parameters: {repeats: 3}
        grid: {scales: [[10], [12]]}   # one run per combination, labelled by its values

:func:`load_suite` validates the whole file before anything runs: an unknown notebook, a
parameter that the notebook's ``parameters`` cell does not define, or a value whose type
differs from the cell's default is rejected with the file, the key and the reason.

:func:`run_suite` executes each notebook through papermill in its own process (so a hung
notebook can be killed at its timeout without taking the run down), on the project's
``workbench`` Jupyter kernel, into ``reports/<run-id>/notebooks/``. A failing notebook
does not stop the others; every result that finished is kept; ``reports/latest`` points at
the newest run; the HTML report is built at the end.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from workbench.config import data_dir, project_root, reports_dir, setting
from workbench.errors import RunError, SuiteError
from workbench.measure import git_commit, library_versions, machine_info
from workbench.results import merge_run, new_run_id, run_dir_for, safe_label

__all__ = [
    "KERNEL_NAME",
    "RESERVED_PARAMETERS",
    "NotebookRun",
    "RunOutcome",
    "Suite",
    "ensure_kernel",
    "load_suite",
    "notebook_parameters",
    "notebooks_dir",
    "run_suite",
    "suites_dir",
]

#: The Jupyter kernel every notebook runs on: the project's own virtualenv, never the
#: system Python (registered inside the venv with ``--sys-prefix``).
KERNEL_NAME = "workbench"
#: Parameters the runner injects itself; a suite may not set them.
RESERVED_PARAMETERS = frozenset({"run_dir"})
_SUITE_KEYS = {"name", "description", "notebooks"}
_ENTRY_KEYS = {"notebook", "parameters", "timeout_s", "grid", "label"}
_DEFAULT_TIMEOUT_S = 600.0


def notebooks_dir() -> Path:
    """Where suites look for notebooks: ``notebooks/`` (``WORKBENCH_NOTEBOOKS_DIR``)."""
    return Path(setting("notebooks_dir", project_root() / "notebooks")).resolve()


def suites_dir() -> Path:
    """Where suite names resolve: ``data/suites/`` (``WORKBENCH_SUITES_DIR``)."""
    return Path(setting("suites_dir", data_dir() / "suites")).resolve()


# --------------------------------------------------------------------------- suites


@dataclass(frozen=True)
class NotebookRun:
    """One notebook execution of a suite: a notebook with concrete parameters."""

    notebook: str
    parameters: Mapping[str, Any]
    timeout_s: float
    label: str

    @property
    def path(self) -> Path:
        return notebooks_dir() / f"{self.notebook}.ipynb"


@dataclass(frozen=True)
class Suite:
    """A validated suite: every grid expanded into labelled :class:`NotebookRun` entries."""

    name: str
    description: str
    path: Path
    runs: tuple[NotebookRun, ...]


def notebook_parameters(path: str | Path) -> dict[str, Any]:
    """The names and default values defined in a notebook's ``parameters`` cell.

    Raises
    ------
    SuiteError
        The notebook has no cell tagged ``parameters``, or the cell is not plain
        ``name = literal`` assignments.
    """
    path = Path(path)
    try:
        nb = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SuiteError(path, "notebook", f"cannot read notebook: {exc}") from exc
    for cell in nb.get("cells", []):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            source = "".join(cell.get("source", []))
            break
    else:
        raise SuiteError(path, "parameters", "the notebook has no cell tagged 'parameters'")
    try:
        body = ast.parse(source).body
    except SyntaxError as exc:
        raise SuiteError(
            path,
            "parameters",
            f"the parameters cell is not plain Python ({exc.msg}, line {exc.lineno}); "
            "it may hold only assignments of literals",
        ) from None
    out: dict[str, Any] = {}
    for node in body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        # `a, b = 1, 2` defines two parameters
        if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
            pairs = list(zip(target.elts, value.elts, strict=False))
        else:
            pairs = [(target, value)]
        for name, val in pairs:
            if not isinstance(name, ast.Name):
                continue
            try:
                out[name.id] = ast.literal_eval(val)
            except ValueError:
                raise SuiteError(
                    path,
                    name.id,
                    "parameters-cell values must be literals (numbers, strings, lists, dicts, "
                    "None)",
                ) from None
    return out


def _type_name(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def _check_type(path: Path, key: str, value: Any, default: Any) -> None:
    """A suite value must have the type of the notebook's default (None accepts anything)."""
    if default is None or value is None:
        return
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(default, bool) and isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float)
    elif isinstance(default, int):
        ok = isinstance(value, int)
    elif isinstance(default, list | tuple):
        ok = isinstance(value, list | tuple)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise SuiteError(
            path,
            key,
            f"expected {_type_name(default)} like the notebook's default "
            f"{default!r}, got {_type_name(value)} {value!r}",
        )


def _label(notebook: str, combo: Mapping[str, Any]) -> str:
    if not combo:
        return notebook
    parts = [f"{k}={json.dumps(v, separators=(',', ''))}" for k, v in combo.items()]
    return notebook + "[" + ",".join(parts) + "]"


def _resolve_suite_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise SuiteError(p, "suite", "no such file")
        return p
    candidate = suites_dir() / f"{name_or_path}.yaml"
    if not candidate.is_file():
        known = sorted(s.stem for s in suites_dir().glob("*.yaml"))
        raise SuiteError(candidate, "suite", f"no suite named {name_or_path!r}; known: {known}")
    return candidate


def load_suite(name_or_path: str | Path) -> Suite:
    """Load and validate a suite by name (``data/suites/<name>.yaml``) or path.

    Raises
    ------
    SuiteError
        Naming the file, the key (e.g. ``notebooks[1].parameters.scales``) and the reason.

    Examples
    --------
    >>> suite = load_suite("quick")
    >>> suite.runs[0].notebook
    'claims'
    """
    path = _resolve_suite_path(name_or_path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SuiteError(path, "(file)", f"not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SuiteError(path, "(file)", "expected a mapping with 'name' and 'notebooks'")
    unknown = set(raw) - _SUITE_KEYS
    if unknown:
        raise SuiteError(path, sorted(unknown)[0], f"unknown key; allowed: {sorted(_SUITE_KEYS)}")
    entries = raw.get("notebooks")
    if not isinstance(entries, list) or not entries:
        raise SuiteError(path, "notebooks", "expected a non-empty list")
    runs: list[NotebookRun] = []
    for i, entry in enumerate(entries):
        where = f"notebooks[{i}]"
        if not isinstance(entry, dict) or "notebook" not in entry:
            raise SuiteError(path, where, "each entry needs a 'notebook' key")
        bad = set(entry) - _ENTRY_KEYS
        if bad:
            raise SuiteError(
                path, f"{where}.{sorted(bad)[0]}", f"unknown key; allowed: {sorted(_ENTRY_KEYS)}"
            )
        name = str(entry["notebook"]).removesuffix(".ipynb")
        nb_path = notebooks_dir() / f"{name}.ipynb"
        if not nb_path.is_file():
            known = sorted(p.stem for p in notebooks_dir().glob("*.ipynb"))
            raise SuiteError(path, f"{where}.notebook", f"no notebook {name!r}; known: {known}")
        defaults = notebook_parameters(nb_path)
        params = entry.get("parameters") or {}
        grid = entry.get("grid") or {}
        for section, mapping in (("parameters", params), ("grid", grid)):
            if not isinstance(mapping, dict):
                raise SuiteError(path, f"{where}.{section}", "expected a mapping")
            for key, value in mapping.items():
                k = f"{where}.{section}.{key}"
                if key in RESERVED_PARAMETERS:
                    raise SuiteError(path, k, "set by the runner; a suite may not set it")
                if key not in defaults:
                    raise SuiteError(
                        path,
                        k,
                        f"notebook {name!r} has no parameter {key!r}; "
                        f"its parameters are {sorted(defaults)}",
                    )
                values = value if section == "grid" else [value]
                if section == "grid" and (not isinstance(value, list) or not value):
                    raise SuiteError(path, k, "a grid axis is a non-empty list of values")
                for v in values:
                    _check_type(path, k, v, defaults[key])
        timeout = entry.get("timeout_s", _DEFAULT_TIMEOUT_S)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise SuiteError(path, f"{where}.timeout_s", f"expected seconds > 0, got {timeout!r}")
        axes = list(grid.items())
        for combo_values in itertools.product(*(v for _, v in axes)) if axes else [()]:
            combo = dict(zip((k for k, _ in axes), combo_values, strict=True))
            label = _label(str(entry.get("label", name)), combo)
            runs.append(NotebookRun(name, {**params, **combo}, float(timeout), label))
    labels = [r.label for r in runs]
    dupes = {lbl for lbl in labels if labels.count(lbl) > 1}
    if dupes:
        raise SuiteError(
            path,
            "notebooks",
            f"two entries produce the same label {sorted(dupes)}; give one a 'label'",
        )
    return Suite(
        name=str(raw.get("name", path.stem)),
        description=str(raw.get("description", "")),
        path=path.resolve(),
        runs=tuple(runs),
    )


# --------------------------------------------------------------------------- kernel


def ensure_kernel(name: str = KERNEL_NAME) -> str:
    """Make sure the Jupyter kernel ``name`` runs this interpreter, registering it inside
    this environment (``--sys-prefix``) when it is missing or points elsewhere.

    Returns the kernel name. Notebooks must never run on the system Python by accident.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(name)
        if spec.argv and Path(spec.argv[0]).resolve() == Path(sys.executable).resolve():
            return name
    except NoSuchKernel:
        pass
    from ipykernel.kernelspec import install

    install(kernel_name=name, display_name="Python (workbench)", prefix=sys.prefix)
    return name


# --------------------------------------------------------------------------- running


@dataclass
class RunOutcome:
    """What :func:`run_suite` did. ``ok`` is True when every notebook finished."""

    run_id: str
    run_dir: Path
    statuses: dict[str, str]
    report: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(s == "ok" for s in self.statuses.values())

    @property
    def failed(self) -> list[str]:
        return [label for label, s in self.statuses.items() if s != "ok"]


@contextlib.contextmanager
def _run_lock(run_dir: Path) -> Iterator[None]:
    run_dir.mkdir(parents=True, exist_ok=True)
    fh = (run_dir / ".lock").open("w")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise RunError(f"{run_dir} is being written by another run (lock held)") from None
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def _write_json_atomic(path: Path, obj: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.fchmod(fd, 0o644)
    with os.fdopen(fd, "w") as fh:
        json.dump(obj, fh, indent=2, default=str)
    os.replace(tmp, path)


def _notebook_error(output: Path) -> str:
    """The exception a failed notebook raised, from its executed copy."""
    try:
        nb = json.loads(output.read_text())
    except (OSError, json.JSONDecodeError):
        return ""
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"{out.get('ename')}: {out.get('evalue')}"
    return ""


def _execute(run: NotebookRun, run_dir: Path, kernel: str) -> dict[str, Any]:
    """Execute one notebook with papermill in a child process; kill it at the timeout."""
    out_dir = run_dir / "notebooks"
    log_dir = run_dir / "logs"
    out_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    name = safe_label(run.label)
    output = out_dir / f"{name}.ipynb"
    params_file = log_dir / f"{name}.parameters.yaml"
    params = {**run.parameters, "run_dir": str(run_dir)}
    params_file.write_text(yaml.safe_dump(params, sort_keys=True))
    cmd = [
        sys.executable,
        "-m",
        "papermill",
        str(run.path),
        str(output),
        "-k",
        kernel,
        "-f",
        str(params_file),
        "--cwd",
        str(notebooks_dir()),
        "--no-progress-bar",
        "--log-output",
    ]
    env = {
        **os.environ,
        "WORKBENCH_HOME": str(project_root()),
        "WORKBENCH_NOTEBOOK_LABEL": run.label,
        "MPLBACKEND": "Agg",
    }
    started = time.monotonic()
    status, error = "ok", ""
    with (log_dir / f"{name}.log").open("w") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            rc = proc.wait(timeout=run.timeout_s)
            if rc != 0:
                status = "failed"
                error = _notebook_error(output) or f"papermill exited with {rc}; see logs/"
        except subprocess.TimeoutExpired:
            status, error = "timeout", f"did not finish within timeout_s={run.timeout_s:g}"
            _kill_group(proc)
        except BaseException:  # KeyboardInterrupt: take the kernel down with us
            _kill_group(proc)
            raise
    return {
        "label": run.label,
        "notebook": run.notebook,
        "parameters": dict(run.parameters),
        "status": status,
        "error": error,
        "duration_s": round(time.monotonic() - started, 3),
        "output": str(output.relative_to(run_dir)),
    }


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _render_html(run_dir: Path, entry: dict[str, Any]) -> None:
    """Render an executed notebook to a standalone HTML page beside it."""
    from workbench.report import render_notebook_html

    ipynb = run_dir / entry["output"]
    if not ipynb.is_file():
        return
    try:
        html = render_notebook_html(ipynb)
    except Exception as exc:  # a broken render must not lose the run
        entry["html_error"] = str(exc)
        return
    target = ipynb.with_suffix(".html")
    target.write_text(html)
    entry["html"] = str(target.relative_to(run_dir))


def _update_latest(root: Path, run_id: str) -> None:
    link = root / "latest"
    tmp = root / f".latest.{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(run_id, tmp)
    os.replace(tmp, link)


def run_suite(
    suite: Suite | str | Path,
    *,
    run_id: str | None = None,
    resume: str | None = None,
    jobs: int = 1,
    progress: bool = True,
    report: bool = True,
    root: Path | None = None,
) -> RunOutcome:
    """Run every notebook of ``suite`` and build the run's report.

    Parameters
    ----------
    suite : Suite or str or path
        A loaded suite, a suite name, or a path to a suite file (validated first).
    run_id : str, optional
        Name of the new run (default: timestamp-suite-random).
    resume : str, optional
        An earlier run id: re-run only its notebooks that did not finish.
    jobs : int
        Notebooks run at once (they share numba's on-disk cache).
    progress : bool
        Show a progress bar on stderr.
    report : bool
        Build ``index.html`` at the end (also after failures).

    Returns
    -------
    RunOutcome
        Check ``.ok``; ``workbench run`` exits non-zero when it is False.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    root = root or reports_dir()
    previous: dict[str, dict[str, Any]] = {}
    if resume is not None:
        run_dir = run_dir_for(resume, root)
        meta_path = run_dir / "run.json"
        if not meta_path.is_file():
            raise RunError(f"cannot resume {resume!r}: {meta_path} does not exist")
        old = json.loads(meta_path.read_text())
        suite_obj = load_suite(run_dir / "suite.yaml")
        previous = {e["label"]: e for e in old.get("notebooks", [])}
        run_id = resume
    else:
        suite_obj = suite if isinstance(suite, Suite) else load_suite(suite)
        run_id = run_id or new_run_id(suite_obj.name)
        run_dir = run_dir_for(run_id, root)
        if (run_dir / "run.json").exists():
            raise RunError(f"run {run_id!r} already exists; use resume={run_id!r}")
    kernel = ensure_kernel(str(setting("kernel", KERNEL_NAME)))
    with _run_lock(run_dir):
        if resume is None:
            # the suite as it was, so that a resume runs exactly the same notebooks
            (run_dir / "suite.yaml").write_text(suite_obj.path.read_text())
        meta = {
            "run_id": run_id,
            "suite": suite_obj.name,
            "description": suite_obj.description,
            "suite_path": str(suite_obj.path),
            "status": "running",
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine_info(),
            "versions": library_versions(),
            "git_commit": git_commit(),
            "jobs": jobs,
            "kernel": kernel,
            "notebooks": [
                previous.get(r.label)
                if previous.get(r.label, {}).get("status") == "ok"
                else {
                    "label": r.label,
                    "notebook": r.notebook,
                    "parameters": dict(r.parameters),
                    "status": "pending",
                }
                for r in suite_obj.runs
            ],
        }
        if resume is not None:
            meta["resumed_at"] = meta.pop("started_at")
            meta["started_at"] = old.get("started_at", meta["resumed_at"])
        entries = {e["label"]: e for e in meta["notebooks"]}
        todo = [r for r in suite_obj.runs if entries[r.label]["status"] != "ok"]
        meta_path = run_dir / "run.json"
        _write_json_atomic(meta_path, meta)
        t0 = time.monotonic()
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(
                total=len(todo), desc=f"run {suite_obj.name}", unit="notebook", file=sys.stderr
            )
        interrupted = False
        try:
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                futures = {}
                for r in todo:
                    entries[r.label]["status"] = "running"
                    futures[pool.submit(_execute, r, run_dir, kernel)] = r
                _write_json_atomic(meta_path, meta)
                for fut in as_completed(futures):
                    r = futures[fut]
                    entry = fut.result()
                    _render_html(run_dir, entry)
                    entries[r.label].clear()
                    entries[r.label].update(entry)
                    meta["notebooks"] = [entries[x.label] for x in suite_obj.runs]
                    _write_json_atomic(meta_path, meta)
                    if bar is not None:
                        bar.set_postfix_str(f"{r.label}: {entry['status']}")
                        bar.update(1)
        except KeyboardInterrupt:
            interrupted = True
            for e in entries.values():
                if e["status"] in ("running", "pending"):
                    e["status"] = "interrupted"
        finally:
            if bar is not None:
                bar.close()
            meta["notebooks"] = [entries[x.label] for x in suite_obj.runs]
            earlier = float(old.get("duration_s", 0.0)) if resume is not None else 0.0
            meta["duration_s"] = round(time.monotonic() - t0 + earlier, 3)
            meta["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
            statuses = {e["label"]: e["status"] for e in meta["notebooks"]}
            meta["status"] = (
                "interrupted"
                if interrupted
                else "ok"
                if all(s == "ok" for s in statuses.values())
                else "failed"
            )
            _write_json_atomic(meta_path, meta)
            merge_run(run_dir)
        report_path = None
        if report:
            from workbench.report import build_report

            report_path = build_report(run_dir)
        _update_latest(root, run_id)
    if interrupted:
        raise KeyboardInterrupt
    return RunOutcome(run_id, run_dir, statuses, report_path, meta)

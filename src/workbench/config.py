"""Project paths and numerical switches, in one place.

Configuration is layered, lowest first: the defaults below, ``[tool.workbench]`` in the
project's ``pyproject.toml``, then ``WORKBENCH_*`` environment variables (for example
``WORKBENCH_REPORTS_DIR``). Command-line flags override all of these where a command has them.

Numerical switches (fastmath, parallel kernels, the numba cache) live here and nowhere
else, so that a kernel module never hard-codes ``fastmath=`` (STUMPY's rule).
"""

from __future__ import annotations

import os
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "FASTMATH",
    "NUMBA_CACHE",
    "PARALLEL",
    "data_dir",
    "project_root",
    "reports_dir",
    "setting",
    "state_dir",
]

#: numba ``fastmath``: off, because no kernel documents a tolerance that would cover it.
FASTMATH: bool = False
#: numba ``cache=True``: compiled kernels are written next to the source and reused.
NUMBA_CACHE: bool = True
#: numba ``parallel=True`` for kernels that use ``prange``.
PARALLEL: bool = os.environ.get("WORKBENCH_PARALLEL", "1") != "0"


def _find_root() -> Path:
    env = os.environ.get("WORKBENCH_HOME")
    if env:
        return Path(env).resolve()
    # The checkout that holds this package (src layout: <root>/src/workbench/config.py).
    here = Path(__file__).resolve().parents[2]
    if (here / "pyproject.toml").is_file():
        return here
    return Path.cwd().resolve()


@cache
def project_root() -> Path:
    """The workbench checkout: ``$WORKBENCH_HOME``, else the folder holding ``src/workbench``."""
    return _find_root()


@cache
def _pyproject_settings() -> dict[str, Any]:
    path = project_root() / "pyproject.toml"
    if not path.is_file():
        return {}
    with path.open("rb") as fh:
        return tomllib.load(fh).get("tool", {}).get("workbench", {})


def setting(name: str, default: Any = None) -> Any:
    """A setting: ``WORKBENCH_<NAME>`` env var, then ``[tool.workbench]``, then ``default``."""
    env = os.environ.get("WORKBENCH_" + name.upper())
    if env is not None:
        return env
    return _pyproject_settings().get(name, default)


def reports_dir() -> Path:
    """Where runs are written: ``reports/`` in the project unless configured otherwise."""
    return Path(setting("reports_dir", project_root() / "reports")).resolve()


def data_dir() -> Path:
    """The project's data folder (claims, suites, graphs)."""
    return Path(setting("data_dir", project_root() / "data")).resolve()


def state_dir() -> Path:
    """Runtime state such as ``serve.json``: ``.workbench/`` in the project."""
    return Path(setting("state_dir", project_root() / ".workbench")).resolve()

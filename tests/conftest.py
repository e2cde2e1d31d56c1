"""Shared fixtures. Area-specific fixtures live in each tests/<area>/conftest.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def write_notebook(path: Path, parameters: str, *cells: str) -> Path:
    """Write a minimal notebook: a ``parameters`` cell, then code cells."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(parameters)] + [
        nbformat.v4.new_code_cell(c) for c in cells
    ]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {
        "name": "workbench",
        "display_name": "Python (workbench)",
        "language": "python",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def make_notebook():
    """``make_notebook(path, parameters_source, *cell_sources)`` writes a small notebook."""
    return write_notebook


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Path:
    """An isolated place for reports, notebooks and suites (the env layer of the config)."""
    for name in ("reports", "notebooks", "suites"):
        (tmp_path / name).mkdir()
        monkeypatch.setenv(f"WORKBENCH_{name.upper()}_DIR", str(tmp_path / name))
    return tmp_path


@pytest.fixture
def write_suite(workspace):
    def write(name: str, body: dict | str) -> Path:
        import yaml

        path = workspace / "suites" / f"{name}.yaml"
        path.write_text(body if isinstance(body, str) else yaml.safe_dump(body, sort_keys=False))
        return path

    return write


def read_json(path: Path):
    return json.loads(Path(path).read_text())

"""Edge-list files (TSV, CSV, parquet) through polars, and the bundled SNAP graphs."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from workbench.config import data_dir
from workbench.graph.csr import CSRGraph

__all__ = ["SNAP_GRAPHS", "load_snap", "read_edgelist", "write_edgelist"]

#: The SNAP graphs copied into ``data/graphs`` (see its README for their origin).
SNAP_GRAPHS = ("facebook_combined", "oregon1_010331")

_SEPARATORS = {".tsv": "\t", ".txt": "\t", ".csv": ","}


def _format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in ("tsv", "csv", "parquet"):
            raise ValueError(f"fmt must be 'tsv', 'csv' or 'parquet', got {fmt!r}")
        return fmt
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return "parquet"
    if suffix in _SEPARATORS:
        return "csv" if suffix == ".csv" else "tsv"
    raise ValueError(f"path: cannot tell the format of {path.name!r}; pass fmt=")


def read_edgelist(
    path: str | Path,
    *,
    directed: bool = False,
    weighted: bool = False,
    n: int | None = None,
    fmt: str | None = None,
) -> CSRGraph:
    """Read an edge list: one edge per row, ``src``, ``dst`` and optionally ``weight``.

    Parameters
    ----------
    path : str or Path
        ``.tsv``/``.txt`` (tab-separated), ``.csv`` or ``.parquet``. Text files have no
        header; lines starting with ``#`` are comments (SNAP's format). Parquet files use
        their first two (three when weighted) columns.
    directed, weighted : bool
        Build a directed graph; read a third column as weights.
    n : int, optional
        Number of vertices (default: largest id + 1).
    fmt : {"tsv", "csv", "parquet"}, optional
        Override the format guessed from the suffix.

    Returns
    -------
    CSRGraph

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        Unknown format, too few columns, negative or non-integer ids.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "g.tsv"
    >>> _ = p.write_text("# comment\\n0\\t1\\n1\\t2\\n")
    >>> read_edgelist(p).num_edges
    2
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no such edge-list file: {path}")
    kind = _format(path, fmt)
    ncols = 3 if weighted else 2
    if kind == "parquet":
        frame = pl.read_parquet(path)
    else:
        try:
            frame = pl.read_csv(
                path,
                separator="\t" if kind == "tsv" else ",",
                has_header=False,
                comment_prefix="#",
                infer_schema_length=10000,
            )
        except pl.exceptions.NoDataError:
            return CSRGraph.from_edges([], [], n, directed=directed)
    if frame.width < ncols:
        raise ValueError(f"path: {path.name} has {frame.width} columns, need {ncols}")
    cols = frame.columns
    try:
        src = frame[cols[0]].cast(pl.Int64, strict=True).to_numpy()
        dst = frame[cols[1]].cast(pl.Int64, strict=True).to_numpy()
    except pl.exceptions.PolarsError as exc:
        raise ValueError(f"path: {path.name}: vertex ids must be integers ({exc})") from None
    weights = frame[cols[2]].cast(pl.Float64).to_numpy() if weighted else None
    return CSRGraph.from_edges(src, dst, n, directed=directed, weights=weights)


def write_edgelist(g: CSRGraph, path: str | Path, *, fmt: str | None = None) -> Path:
    """Write ``g``'s edges (an undirected edge once, ``src <= dst``) to TSV, CSV or parquet.

    Weights, when present, go to a third column. Text files get no header, so that
    :func:`read_edgelist` reads them back unchanged.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> g = CSRGraph.from_edges([0, 1], [1, 2], weights=[0.5, 2.0])
    >>> p = write_edgelist(g, pathlib.Path(tempfile.mkdtemp()) / "g.parquet")
    >>> read_edgelist(p, weighted=True) == g
    True
    """
    from workbench.graph._validate import check_graph

    check_graph(g)
    path = Path(path)
    kind = _format(path, fmt)
    src, dst = g.edges()
    data = {"src": src, "dst": dst}
    w = g.edge_weights()
    if w is not None:
        data["weight"] = w
    frame = pl.DataFrame(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "parquet":
        frame.write_parquet(path)
    else:
        frame.write_csv(path, separator="\t" if kind == "tsv" else ",", include_header=False)
    return path


def load_snap(name: str) -> CSRGraph:
    """One of the bundled SNAP graphs (undirected), from ``data/graphs/<name>.tsv``.

    Parameters
    ----------
    name : {"facebook_combined", "oregon1_010331"}

    Examples
    --------
    >>> g = load_snap("facebook_combined")
    >>> g.n, g.num_edges
    (4039, 88234)
    """
    if name not in SNAP_GRAPHS:
        raise ValueError(f"name must be one of {SNAP_GRAPHS}, got {name!r}")
    return read_edgelist(data_dir() / "graphs" / f"{name}.tsv")

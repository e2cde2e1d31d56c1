import json
import math

import polars as pl
import pytest

from workbench.errors import ResultError
from workbench.measure import time_call
from workbench.results import (
    COLUMNS,
    Recorder,
    Result,
    list_runs,
    merge_run,
    read_history,
    read_run,
    safe_label,
    samples_of,
    write_results,
)


def _result(**kw):
    base = dict(
        run_id="r1",
        suite="s",
        notebook="nb",
        case="c",
        implementation="i",
        metric="time",
        unit="s",
        value=1.0,
    )
    base.update(kw)
    return Result(**base)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"provenance": "guessed"}, "unknown provenance"),
        ({"unit": ""}, "unit must be a non-empty string"),
        ({"value": math.nan}, "value must be finite"),
        ({"value": math.inf}, "value must be finite"),
        ({"value": "fast"}, "value must be a number"),
        ({"n": 0}, "n must be >= 1"),
        ({"min": 2.0, "max": 1.0}, "min 2.0 > max 1.0"),
        ({"min": 1.0, "median": 3.0, "max": 2.0}, "outside"),
        ({"run_id": "../x"}, "characters a folder cannot"),
    ],
)
def test_result_rejects_invalid_rows(kw, match):
    with pytest.raises(ResultError, match=match):
        _result(**kw)


def test_store_round_trips_every_column(tmp_path):
    rows = [
        _result(
            params={"scale": 16, "impl": "numba"},
            n=3,
            min=0.5,
            median=1.0,
            max=2.0,
            samples=[0.5, 1.0, 2.0],
            machine={"cores": 2},
            versions={"numpy": "2"},
        ),
        _result(case="d", provenance="seed", value=223e-3),
    ]
    path = write_results(tmp_path / "r1" / "results.parquet", rows)
    frame = pl.read_parquet(path)
    assert tuple(frame.columns) == COLUMNS
    assert frame.height == 2
    first = frame.row(0, named=True)
    assert json.loads(first["params"]) == {"scale": 16, "impl": "numba"}
    assert json.loads(first["samples"]) == [0.5, 1.0, 2.0]
    assert first["n"] == 3 and first["median"] == 1.0
    assert frame.row(1, named=True)["provenance"] == "seed"
    assert frame.row(1, named=True)["value"] == pytest.approx(0.223)


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "results.parquet"
    write_results(path, [_result()])
    write_results(path, [_result(), _result(case="x")])
    assert pl.read_parquet(path).height == 2
    assert [p.name for p in tmp_path.iterdir()] == ["results.parquet"]


def test_recorder_keeps_results_on_disk_as_it_goes(tmp_path):
    rec = Recorder(tmp_path / "run-a", suite="s", notebook="nb")
    rec.record("c1", "numba", "time", 0.1, "s")
    # a notebook that dies after its first figure still leaves that figure behind
    assert read_run(tmp_path / "run-a").height == 1
    rec.record("c2", "numba", "time", 0.2, "s")
    assert read_run(tmp_path / "run-a")["case"].to_list() == ["c1", "c2"]


def test_record_timing_stores_median_first_call_and_samples(tmp_path):
    rec = Recorder(tmp_path / "run-t", notebook="nb")
    timing = time_call(sorted, list(range(1000)), repeat=5)
    rows = rec.record_timing("sort/1k", "python", timing, params={"n": 1000})
    assert [r.metric for r in rows] == ["time", "first_call_time"]
    assert rows[0].value == timing.median and rows[0].n == timing.n
    assert list(rows[0].samples) == list(timing.times_s)


def test_history_reads_every_run_oldest_first(tmp_path):
    for run_id in ("20260101T000000Z-a-0001", "20260102T000000Z-b-0002"):
        rec = Recorder(tmp_path / run_id, notebook="nb")
        rec.record("c", "i", "time", 1.0, "s")
        merge_run(tmp_path / run_id)
    (tmp_path / "not-a-run").mkdir()
    history = read_history(tmp_path)
    assert history.height == 2
    assert history["run_id"].to_list() == sorted(history["run_id"].to_list())
    assert list_runs(tmp_path) == ["20260101T000000Z-a-0001", "20260102T000000Z-b-0002"]


def test_unreadable_part_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "run-x" / "results" / "nb.parquet"
    bad.parent.mkdir(parents=True)
    bad.write_text("not parquet")
    with pytest.raises(ResultError, match="cannot read results"):
        read_run(tmp_path / "run-x")


def test_safe_label_is_readable_and_collision_free():
    assert safe_label("graph_kernels") == "graph_kernels"
    assert safe_label("g[scale=3]").startswith("g_scale=3_-")
    labels = ["a,b", "a_b", "a;b", "a b"]
    assert len({safe_label(x) for x in labels}) == len(labels)


def test_samples_of_prefers_repeats():
    assert samples_of({"samples": "[1.0, 2.0]", "value": 9.0}) == [1.0, 2.0]
    assert samples_of({"samples": "[]", "value": 9.0}) == [9.0]
    assert samples_of({"samples": None, "value": 9.0}) == [9.0]

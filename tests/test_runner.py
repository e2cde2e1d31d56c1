import json
import os

import polars as pl
import pytest
import yaml

from workbench.errors import RunError, SuiteError
from workbench.results import read_run, safe_label
from workbench.runner import load_suite, notebook_parameters, run_suite

RECORD = (
    "from workbench.results import Recorder\n"
    "rec = Recorder(run_dir, notebook='{name}')\n"
    "rec.record('case/{name}', 'python', 'time', float(scale) * 1e-3, 's',\n"
    "           params={{'scale': scale}})"
)


@pytest.fixture
def notebooks(workspace, make_notebook):
    write_notebook = make_notebook
    nb = workspace / "notebooks"
    write_notebook(
        nb / "good.ipynb",
        "run_dir = None\nscale = 10\nlabel = 'x'\nratio = 0.5",
        RECORD.format(name="good"),
    )
    write_notebook(
        nb / "boom.ipynb",
        "run_dir = None\nscale = 1",
        RECORD.format(name="boom"),
        "raise RuntimeError('deliberate failure')",
    )
    write_notebook(
        nb / "sleepy.ipynb", "run_dir = None\nseconds = 60", "import time\ntime.sleep(seconds)"
    )
    return nb


def test_notebook_parameters_reads_the_tagged_cell(notebooks):
    assert notebook_parameters(notebooks / "good.ipynb") == {
        "run_dir": None,
        "scale": 10,
        "label": "x",
        "ratio": 0.5,
    }


@pytest.mark.parametrize(
    ("entry", "key", "reason"),
    [
        (
            {"notebook": "good", "parameters": {"scael": 12}},
            "notebooks[0].parameters.scael",
            "has no parameter 'scael'",
        ),
        ({"notebook": "nope"}, "notebooks[0].notebook", "no notebook 'nope'"),
        (
            {"notebook": "good", "parameters": {"scale": "big"}},
            "notebooks[0].parameters.scale",
            "expected int",
        ),
        (
            {"notebook": "good", "parameters": {"ratio": True}},
            "notebooks[0].parameters.ratio",
            "expected float",
        ),
        (
            {"notebook": "good", "parameters": {"run_dir": "/tmp"}},
            "notebooks[0].parameters.run_dir",
            "set by the runner",
        ),
        ({"notebook": "good", "timeout_s": -5}, "notebooks[0].timeout_s", "seconds > 0"),
        ({"notebook": "good", "timeuot_s": 5}, "notebooks[0].timeuot_s", "unknown key"),
        ({"notebook": "good", "grid": {"scale": []}}, "notebooks[0].grid.scale", "non-empty"),
        (
            {"notebook": "good", "grid": {"scale": [1, "two"]}},
            "notebooks[0].grid.scale",
            "expected int",
        ),
    ],
)
def test_invalid_suites_fail_before_anything_runs(
    write_suite, workspace, notebooks, entry, key, reason
):
    path = write_suite("bad", {"name": "bad", "notebooks": [entry]})
    with pytest.raises(SuiteError) as info:
        run_suite("bad", progress=False)
    err = info.value
    assert err.path == str(path) and err.key == key and reason in err.reason
    assert str(path) in str(err)
    assert list((workspace / "reports").iterdir()) == []  # nothing ran, nothing written


def test_unknown_suite_lists_the_known_ones(write_suite):
    write_suite("mine", {"name": "mine", "notebooks": [{"notebook": "good"}]})
    with pytest.raises(SuiteError, match=r"known: \['mine'\]"):
        load_suite("other")


def test_grid_expands_into_labelled_runs(write_suite, notebooks):
    write_suite(
        "g",
        {
            "name": "g",
            "notebooks": [
                {
                    "notebook": "good",
                    "parameters": {"label": "y"},
                    "grid": {"scale": [1, 2], "ratio": [0.1, 0.2]},
                },
            ],
        },
    )
    suite = load_suite("g")
    assert [r.label for r in suite.runs] == [
        "good[scale=1,ratio=0.1]",
        "good[scale=1,ratio=0.2]",
        "good[scale=2,ratio=0.1]",
        "good[scale=2,ratio=0.2]",
    ]
    assert suite.runs[3].parameters == {"label": "y", "scale": 2, "ratio": 0.2}


def test_a_failing_notebook_does_not_stop_the_others(write_suite, notebooks, workspace):
    write_suite(
        "mixed",
        {
            "name": "mixed",
            "notebooks": [
                {"notebook": "boom"},
                {"notebook": "good", "parameters": {"scale": 7}},
            ],
        },
    )
    outcome = run_suite("mixed", progress=False)
    assert not outcome.ok
    assert outcome.statuses == {"boom": "failed", "good": "ok"}
    meta = json.loads((outcome.run_dir / "run.json").read_text())
    boom = next(e for e in meta["notebooks"] if e["label"] == "boom")
    assert "deliberate failure" in boom["error"]
    # both notebooks' figures are kept: the one that finished, and boom's before it raised
    frame = read_run(outcome.run_dir)
    assert sorted(frame["case"].to_list()) == ["case/boom", "case/good"]
    assert frame.filter(pl.col("case") == "case/good")["value"].item() == pytest.approx(7e-3)
    assert (outcome.run_dir / "results.parquet").is_file()
    assert (outcome.run_dir / "index.html").is_file()
    assert (outcome.run_dir / "notebooks" / "good.html").is_file()
    latest = workspace / "reports" / "latest"
    assert latest.is_symlink() and os.readlink(latest) == outcome.run_id


def test_resume_reruns_only_what_did_not_finish(write_suite, notebooks, make_notebook):
    write_suite("r", {"name": "r", "notebooks": [{"notebook": "boom"}, {"notebook": "good"}]})
    first = run_suite("r", progress=False)
    assert first.statuses["boom"] == "failed"
    mtime = (first.run_dir / "results" / "good.parquet").stat().st_mtime_ns
    # fix the broken notebook, then resume: only boom runs again
    make_notebook(notebooks / "boom.ipynb", "run_dir = None\nscale = 1", RECORD.format(name="boom"))
    second = run_suite(None, resume=first.run_id, progress=False)
    assert second.ok and second.run_id == first.run_id
    assert (first.run_dir / "results" / "good.parquet").stat().st_mtime_ns == mtime
    assert sorted(read_run(first.run_dir)["case"].to_list()) == ["case/boom", "case/good"]


def test_timeout_kills_the_notebook(write_suite, notebooks):
    write_suite("t", {"name": "t", "notebooks": [{"notebook": "sleepy", "timeout_s": 2}]})
    outcome = run_suite("t", progress=False)
    assert outcome.statuses == {"sleepy": "timeout"}


def test_two_runs_never_share_a_run_directory(write_suite, notebooks, workspace):
    write_suite("q", {"name": "q", "notebooks": [{"notebook": "good"}]})
    outcome = run_suite("q", progress=False)
    with pytest.raises(RunError, match="already exists"):
        run_suite("q", run_id=outcome.run_id, progress=False)
    import fcntl

    with (outcome.run_dir / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        with pytest.raises(RunError, match="lock held"):
            run_suite(None, resume=outcome.run_id, progress=False)


def test_shipped_suites_are_valid():
    for name in ("quick", "default", "full"):
        suite = load_suite(name)
        assert suite.runs, name
        raw = yaml.safe_load(suite.path.read_text())
        assert raw["name"] == name


def test_a_grid_runs_once_per_combination_in_parallel(write_suite, notebooks):
    write_suite("grid", {"name": "grid", "notebooks": [
        {"notebook": "good", "grid": {"scale": [3, 5]}},
    ]})  # fmt: skip
    outcome = run_suite("grid", jobs=2, progress=False)
    assert outcome.ok
    assert sorted(outcome.statuses) == ["good[scale=3]", "good[scale=5]"]
    frame = read_run(outcome.run_dir)
    assert sorted(frame["value"].to_list()) == pytest.approx([3e-3, 5e-3])
    assert sorted(json.loads(p)["scale"] for p in frame["params"]) == [3, 5]
    assert (outcome.run_dir / "notebooks" / f"{safe_label('good[scale=3]')}.ipynb").is_file()


def test_parameters_cell_with_magic_or_tuples(tmp_path, make_notebook):
    nb = make_notebook(tmp_path / "t.ipynb", "run_dir = None\na, b = 1, 'x'")
    assert notebook_parameters(nb) == {"run_dir": None, "a": 1, "b": "x"}
    nb = make_notebook(tmp_path / "m.ipynb", "%matplotlib inline\nrun_dir = None")
    with pytest.raises(SuiteError, match="not plain Python"):
        notebook_parameters(nb)

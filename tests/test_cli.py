import subprocess
import sys

import pytest

from workbench.cli import main


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "report", "serve", "load", "compare"):
        assert command in out


def test_console_script_is_installed():
    proc = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and "run" in proc.stdout


def test_bad_suite_exits_2_with_file_key_and_reason(workspace, write_suite, capsys):
    path = write_suite("bad", {"name": "bad", "notebooks": [{"notebook": "missing"}]})
    assert main(["run", "--suite", "bad"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "notebooks[0].notebook" in err and "no notebook" in err


def test_dry_run_validates_without_running(workspace, capsys):
    assert main(["run", "--suite", "quick", "--dry-run"]) == 2  # no notebooks in the workspace
    capsys.readouterr()


def test_dry_run_on_the_shipped_suite(capsys):
    assert main(["run", "--suite", "quick", "--dry-run"]) == 0
    assert "claims" in capsys.readouterr().out


def test_claims_prints_the_audit(capsys):
    assert main(["claims"]) == 0
    out = capsys.readouterr().out
    assert "[inconsistent]" in out and "2100" in out


def test_report_of_unknown_run_is_a_clear_error(workspace, capsys):
    assert main(["report", "20990101T000000Z-nope-0000"]) == 2
    assert "no such run" in capsys.readouterr().err

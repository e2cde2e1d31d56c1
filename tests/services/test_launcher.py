"""The launcher: layered configuration, serve.json, clean stop with no orphans, clear errors."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import psutil
import pytest

from workbench.errors import ServiceError
from workbench.services.launcher import (
    SERVICES,
    add_serve_arguments,
    available_services,
    free_port,
    hash_api_key,
    plan_services,
    run_serve,
    running_services,
)


def test_registry_defaults():
    ports = {name: spec.port for name, spec in SERVICES.items()}
    assert ports == {"gateway": 8700, "ai-core": 8701, "graphrag": 8702, "llm-stub": 8703,
                     "realtime": 8704, "datatier": 8705}  # fmt: skip
    assert {"gateway", "ai-core", "graphrag", "llm-stub"} <= set(available_services())


def test_state_file_is_private_despite_a_loose_leftover_temp_file(tmp_path):
    from workbench.services.launcher import _write_state

    leftover = tmp_path / "serve.json.tmp"
    leftover.write_text("old")
    os.chmod(leftover, 0o644)
    _write_state(tmp_path / "serve.json", {"api_key": "k"})
    assert oct(os.stat(tmp_path / "serve.json").st_mode & 0o777) == "0o600"
    assert json.loads((tmp_path / "serve.json").read_text()) == {"api_key": "k"}
    assert not leftover.exists()


def test_layered_settings(tmp_path):
    cfg = tmp_path / "serve.toml"
    cfg.write_text(
        textwrap.dedent("""
        host = "127.0.0.1"
        [ports]
        gateway = 9100
        [llm-stub]
        ttft_ms = 80
        tokens_per_s = 10
        jitter = 0.3
    """)
    )
    env = {"WORKBENCH_LLM_STUB_TTFT_MS": "5", "WORKBENCH_LLM_STUB_TOKENS_PER_S": "20",
           "WORKBENCH_AI_CORE_PORT": "9101"}  # fmt: skip
    svc = plan_services(
        ["llm-stub", "ai-core", "gateway"],
        config=cfg,
        environ=env,
        settings={"llm-stub": {"tokens_per_s": 30}},
        api_key="k-123",
        state_dir=tmp_path,
    )
    stub = svc.children["llm-stub"].settings
    assert (stub["ttft_ms"], stub["tokens_per_s"], stub["jitter"]) == (5, 30, 0.3)
    assert svc.ports["gateway"] == 9100 and svc.ports["ai-core"] == 9101
    assert svc.ports["llm-stub"] == 8703
    gw = svc.children["gateway"].settings
    assert gw["api_key_hashes"] == [hash_api_key("k-123")]
    assert "k-123" not in json.dumps(gw)  # the child never sees the key
    assert stub["urls"]["ai-core"] == "http://127.0.0.1:9101"
    assert stub["services"] == ["llm-stub", "ai-core", "gateway"]


def test_port_base_and_bad_arguments(tmp_path):
    svc = plan_services("gateway", port_base=9200, environ={}, state_dir=tmp_path)
    assert svc.ports["gateway"] == 9200 and svc.ports["datatier"] == 9205
    with pytest.raises(ValueError, match="unknown service 'nope'"):
        plan_services("nope", environ={})
    with pytest.raises(ValueError, match="out of range"):
        plan_services("gateway", ports={"gateway": 70000}, environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[ports\n")
    with pytest.raises(ServiceError, match="cannot parse"):
        plan_services("gateway", config=bad, environ={})


def test_port_taken_is_a_clear_error(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        expected = rf"already in use for llm-stub \(127.0.0.1:{port}\)"
        with (
            pytest.raises(ServiceError, match=expected),
            running_services("llm-stub", ports={"llm-stub": port}, state_dir=tmp_path),
        ):
            pass  # pragma: no cover


@pytest.mark.services
def test_startup_failure_shows_the_log(tmp_path):
    with (
        pytest.raises(ServiceError, match=r"(?s)llm-stub exited.*tokens_per_s > 0"),
        running_services(
            "llm-stub", ports="free", state_dir=tmp_path, settings={"llm-stub": {"tokens_per_s": 0}}
        ),
    ):
        pass  # pragma: no cover


@pytest.mark.services
def test_run_serve_reports_errors_with_exit_code_2(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        args = parser.parse_args(
            ["--only", "llm-stub", "--port", f"llm-stub={port}", "--state-dir", str(tmp_path)]
        )
        assert run_serve(args) == 2
    assert "already in use" in capsys.readouterr().err
    args = parser.parse_args(["--only", "llm-stub", "--set", "nodot=1"])
    assert run_serve(args) == 2


def _start_serve(tmp_path, cli=False):
    ports = {"llm-stub": free_port(), "gateway": free_port()}
    if cli:  # the `workbench serve` command itself
        exe = Path(sys.executable).with_name("workbench")
        cmd = [str(exe), "serve", "--only", "llm-stub,gateway", "--state-dir", str(tmp_path)]
        cmd += [f"--port={name}={port}" for name, port in ports.items()]
    else:
        code = (
            "import sys\n"
            "from workbench.services.launcher import serve\n"
            f"sys.exit(serve(['llm-stub', 'gateway'], ports={ports!r}, "
            f"state_dir={str(tmp_path)!r}))\n"
        )
        cmd = [sys.executable, "-c", code]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    state = tmp_path / "serve.json"
    deadline = time.monotonic() + 60
    while not state.exists():
        assert proc.poll() is None, "serve exited early"
        assert time.monotonic() < deadline, "serve.json never appeared"
        time.sleep(0.1)
    return proc, json.loads(state.read_text()), ports


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.services
@pytest.mark.parametrize(("sig", "cli"), [(signal.SIGTERM, True), (signal.SIGINT, False)])
def test_serve_writes_state_and_leaves_no_process(tmp_path, sig, cli):
    proc, info, ports = _start_serve(tmp_path, cli=cli)
    try:
        assert info["gateway"] == f"http://127.0.0.1:{ports['gateway']}"
        assert info["llm-stub"] == f"http://127.0.0.1:{ports['llm-stub']}"
        assert info["api_key"] and info["launcher_pid"] == proc.pid
        assert oct(os.stat(tmp_path / "serve.json").st_mode & 0o777) == "0o600"
        pids = info["pids"]
        assert set(pids) == {"llm-stub", "gateway"}
        r = httpx.post(
            info["gateway"] + "/v1/chat",
            json={"messages": [{"role": "user", "content": "x"}]},
            headers={"Authorization": f"Bearer {info['api_key']}"},
        )
        assert r.status_code == 503  # authenticated; ai-core is not part of this set
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:  # pragma: no cover - only when the test already failed
            proc.kill()
    assert all(_gone(pid) for pid in pids.values())
    assert not (tmp_path / "serve.json").exists()


@pytest.mark.services
def test_children_die_with_a_killed_launcher(tmp_path):
    proc, info, _ = _start_serve(tmp_path)
    proc.kill()  # SIGKILL: no chance to clean up; PR_SET_PDEATHSIG must do it
    proc.wait()
    deadline = time.monotonic() + 15
    while not all(_gone(p) for p in info["pids"].values()):
        assert time.monotonic() < deadline, "children outlived the launcher"
        time.sleep(0.1)


@pytest.mark.services
def test_serve_stops_everything_when_a_service_dies(tmp_path):
    proc, info, _ = _start_serve(tmp_path)
    try:
        os.kill(info["pids"]["llm-stub"], signal.SIGKILL)
        assert proc.wait(timeout=30) == 1
    finally:
        if proc.poll() is None:  # pragma: no cover - only when the test already failed
            proc.kill()
    assert _gone(info["pids"]["gateway"])

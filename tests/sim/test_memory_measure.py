"""Measuring the real services' RSS: serve.json, psutil by pid, /v1/memory fallback."""

from __future__ import annotations

import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import psutil
import pytest

from workbench.sim.memory_measure import measure_service_rss, read_serve_state, services_running


class _MemoryHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/v1/memory":
            self.send_response(404)
            self.end_headers()
            return
        body = json.dumps({"rss_bytes": 123_000_000, "pid": 1}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def memory_server():
    server = HTTPServer(("127.0.0.1", 0), _MemoryHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_read_serve_state(tmp_path):
    assert read_serve_state(tmp_path) is None
    (tmp_path / "serve.json").write_text("{not json")
    assert read_serve_state(tmp_path) is None
    state = {"gateway": "http://127.0.0.1:8700", "api_key": "k", "pids": {"gateway": 1}}
    (tmp_path / "serve.json").write_text(json.dumps(state))
    assert read_serve_state(tmp_path) == state
    assert read_serve_state(tmp_path / "serve.json") == state
    assert services_running(state) and not services_running({}) and not services_running(None)


def test_rss_by_pid_matches_psutil():
    state = {"gateway": "http://127.0.0.1:1", "api_key": "x", "pids": {"gateway": os.getpid()}}
    t = measure_service_rss(state, samples=2, interval_s=0.0)
    row = t.row(0, named=True)
    assert row["source"] == "psutil" and row["error"] is None and row["samples"] == 2
    own = psutil.Process().memory_info().rss / 1e6
    assert row["rss_mean_mb"] == pytest.approx(own, rel=0.2)


def test_rss_by_endpoint_without_pids(memory_server):
    closed = f"http://127.0.0.1:{_closed_port()}"
    state = {"gateway": memory_server, "graphrag": closed, "api_key": "x", "host": "127.0.0.1"}
    t = measure_service_rss(state, samples=2, interval_s=0.0, timeout_s=1.0)
    rows = {r["service"]: r for r in t.iter_rows(named=True)}
    assert set(rows) == {"gateway", "graphrag"}
    assert rows["gateway"]["source"] == "/v1/memory"
    assert rows["gateway"]["rss_mean_mb"] == pytest.approx(123.0)
    assert rows["graphrag"]["rss_mean_mb"] is None and rows["graphrag"]["error"]


def test_dead_pid_reports_error():
    proc = psutil.Popen(["true"])
    proc.wait()
    t = measure_service_rss({"pids": {"llm": proc.pid}}, samples=1)
    assert t.row(0, named=True)["error"] is not None


def test_nothing_running_gives_empty_table():
    assert measure_service_rss({}).height == 0
    with pytest.raises(ValueError, match="samples"):
        measure_service_rss({}, samples=0)

"""Load tests against real processes: the CLI run, SLO exit codes, distributed mode, and the
open model's coordinated-omission correction against a server that stalls."""

from __future__ import annotations

import json

import httpx
import polars as pl
import pytest

from workbench.claims import load_claims
from workbench.cli import main
from workbench.load import SLO, run_load_test
from workbench.load.tables import NOT_MEASURED, throughput_table
from workbench.results import read_run

pytestmark = pytest.mark.services


def test_cli_mixed_run_writes_results(load_services, workspace, monkeypatch, capsys):
    """The acceptance run: 20 users for 10 s of the mixed scenario, no failures, results in
    the store and Locust's report beside them."""
    monkeypatch.setenv("WORKBENCH_API_KEY", load_services.api_key)
    code = main(["load", "--scenario", "mixed", "--users", "20", "--duration", "10s",
                 "--host", load_services.gateway, "--implementation", "python-gateway",
                 "--no-progress"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    runs = sorted((workspace / "reports").iterdir())
    assert len(runs) == 1
    run = runs[0]
    load = run / "load"
    for name in ("report.html", "locust_stats.csv", "summary.json", "master.json"):
        assert (load / name).is_file(), name
    summary = json.loads((load / "summary.json").read_text())
    assert summary["total"]["failures"] == 0
    assert summary["total"]["requests"] > 0
    names = {e["name"] for e in summary["endpoints"]}
    assert {"health", "routing", "chat", "graph_query", "vector_search"} <= names
    # Our HDR book saw every request Locust counted (the book may see more: the requests
    # that finished during the stop grace, after Locust's last CSV write).
    assert summary["total"]["requests"] >= summary["locust_requests"] > 0

    frame = read_run(run)
    assert set(frame["provenance"]) == {"measured"}
    cases = set(frame["case"])
    assert {"throughput/requests_per_second", "response_time/api_routing",
            "throughput/concurrent_connections", "load/mixed/all", "load/mixed/chat",
            "load/mixed/generator"} <= cases  # fmt: skip
    p = frame.filter(pl.col("case") == "load/mixed/all")
    metrics = set(p["metric"])
    assert {"latency_p50", "latency_p90", "latency_p95", "latency_p99", "latency_p99.9"} <= metrics
    q = dict(zip(p["metric"], p["value"], strict=True))
    assert q["latency_p50"] <= q["latency_p90"] <= q["latency_p99"] <= q["latency_p99.9"]
    assert set(p.filter(pl.col("metric").str.starts_with("latency"))["unit"]) == {"s"}
    rps = frame.filter(pl.col("case") == "throughput/requests_per_second")
    assert rps["unit"].to_list() == ["req/s"] and rps["implementation"][0] == "python-gateway"
    sat = frame.filter(pl.col("metric") == "generator_cpu_saturated")["value"].to_list()
    assert sat in ([0.0], [1.0])


def test_impossible_slo_fails_the_run(load_services, workspace, monkeypatch, capsys):
    monkeypatch.setenv("WORKBENCH_API_KEY", load_services.api_key)
    code = main(["load", "--scenario", "health", "--users", "2", "--duration", "3s",
                 "--host", load_services.gateway, "--max-p99-ms", "0.001",
                 "--no-progress"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    assert "SLO FAILED: p99" in out
    code = main(["load", "--scenario", "health", "--users", "2", "--duration", "3s",
                 "--host", load_services.gateway, "--min-rps", "1e9", "--no-progress"])  # fmt: skip
    assert code == 1
    assert "SLO FAILED: throughput" in capsys.readouterr().out


def test_step_load_finds_a_knee(load_services, workspace):
    r = run_load_test(
        "gateway", users=[1, 4], duration_s=6, warmup_s=1, host=load_services.gateway,
        api_key=load_services.api_key, slo=SLO(max_p99_s=60.0), progress=False,
    )  # fmt: skip
    assert [p["users"] for p in r.phases] == [1, 4]
    assert r.knee is not None and r.knee["users"] in (1, 4)
    assert r.ok  # a step load passes when a knee exists (and carries min_rps, unset here)
    frame = read_run(r.run_dir)
    assert {"load/gateway/step/1-users", "load/gateway/step/4-users"} <= set(frame["case"])
    knee_rows = frame.filter(pl.col("case") == "throughput/requests_per_second")
    assert knee_rows["value"][0] == pytest.approx(r.knee["rps"])
    # The notebook's table 3: measured knee beside the plan, Go/Rust "not measured here".
    table = throughput_table(load_claims(), r, 123.0)
    assert table["measured (Go/Rust)"].to_list() == [NOT_MEASURED] * 3
    assert "req/s (knee)" in table["measured (python reference)"][1]
    assert table["plan current"][1] == "500 req/s"


@pytest.mark.slow
def test_distributed_mode_aggregates_every_worker(load_services, workspace):
    r = run_load_test(
        "health", users=10, duration_s=5, host=load_services.gateway,
        api_key=load_services.api_key, workers=2, progress=False,
    )  # fmt: skip
    assert r.total["failures"] == 0
    files = sorted(r.out_dir.glob("worker-*.json"))
    assert len(files) == 2
    per_worker = [sum(e["requests"] for e in json.loads(f.read_text())["book"]) for f in files]
    assert all(n > 0 for n in per_worker), per_worker
    assert r.total["requests"] == sum(per_worker)
    # What reached the master through Locust's reports is the same set of requests.
    master = json.loads((r.out_dir / "master.json").read_text())
    assert sum(e["requests"] for e in master["book"]) == sum(per_worker)
    assert set(r.generator["processes"]) == {"master", "worker-1", "worker-2"}


@pytest.mark.slow
def test_open_model_sees_the_stall_the_closed_model_hides(stall_server, workspace):
    """One second of stall: closed-loop users simply wait (a handful of slow samples, p99
    barely moves); the open model keeps its arrival schedule, so every request due during
    the stall is late by up to a second, and its p99 shows it."""
    url = stall_server["url"]
    common = dict(host=url, api_key="unused", progress=False, record=False,
                  slo=SLO(max_error_ratio=1.0))  # fmt: skip
    closed = run_load_test("health", users=4, duration_s=5, **common)
    httpx.post(url + "/reset")
    opened = run_load_test("health", rate=100, duration_s=5, **common)
    assert closed.total["failures"] == 0 and opened.total["failures"] == 0
    # The stall happened in both runs: each saw a request wait most of a second.
    assert closed.total["max"] > 0.5 and opened.total["max"] > 0.5
    assert opened.total["p99"] > 0.5  # a fifth of the arrivals fall in the stall
    assert opened.total["p99"] > 5 * closed.total["p99"]
    # Service time (from the actual send) does not carry the correction.
    assert opened.total["service_p99"] <= opened.total["p99"]


def test_spike_has_three_phases(load_services, workspace):
    r = run_load_test(
        "health", users=2, shape="spike", spike_users=12, duration_s=4.5,
        host=load_services.gateway, api_key=load_services.api_key, progress=False,
        record=False,
    )  # fmt: skip
    assert [p["label"] for p in r.phases] == ["baseline", "spike", "recovery"]
    assert [p["users"] for p in r.phases] == [2, 12, 2]
    assert r.total["failures"] == 0

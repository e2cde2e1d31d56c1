"""The measuring helpers behind notebooks/data_tier.ipynb: they measure and record honestly."""

from __future__ import annotations

import polars as pl
import pytest

from workbench.results import Recorder
from workbench.services import datatier, realtime


def test_percentiles_nearest_rank() -> None:
    assert datatier.percentiles([3.0]) == {"p50": 3.0, "p95": 3.0, "p99": 3.0}
    xs = [float(i) for i in range(1, 11)]
    assert datatier.percentiles(xs, (10, 50, 100)) == {"p10": 1.0, "p50": 5.0, "p100": 10.0}
    with pytest.raises(ValueError, match="empty"):
        datatier.percentiles([])


def _fake_db_row(impl: str, backend: str, cache: bool) -> dict:
    samples = {"get": [0.001, 0.002, 0.003], "list": [0.004], "update": []}
    report = datatier.LatencyReport(
        samples=samples, all=[0.001, 0.002, 0.003, 0.004], errors={}, requests=4,
        duration_s=1.0, cache_hits=2 if cache else 0,
        server={"all": {"n": 4, "p50": 0.0005, "p95": 0.0009, "p99": 0.001}},
    )  # fmt: skip
    return {"implementation": impl, "backend": backend, "cache": cache, "status": "measured",
            "report": report, "summary": report.summary()}  # fmt: skip


def test_query_latency_rows_use_the_claim_case(tmp_path) -> None:
    rows = [
        _fake_db_row("python-sqlite", "sqlite", False),
        {"implementation": "python-postgres", "backend": "postgres", "cache": False,
         "status": "not measured here: no binaries"},
    ]  # fmt: skip
    rec = Recorder(tmp_path / "run", notebook="data_tier")
    assert datatier.record_query_latency(rec, rows, {"clients": 2}) == 3 + 3 + 3 + 3
    df = pl.read_parquet(rec.path)
    main = df.filter(pl.col("case") == datatier.DATABASE_OPS_CASE)
    assert sorted(main["metric"]) == ["latency_p50", "latency_p95", "latency_p99"]
    assert set(main["unit"]) == {"s"} and set(main["implementation"]) == {"python-sqlite"}
    p99 = main.filter(pl.col("metric") == "latency_p99")["value"][0]
    assert p99 == 0.004
    assert set(df["case"]) == {
        datatier.DATABASE_OPS_CASE, datatier.DATA_ACCESS_CASE, "data_tier/get", "data_tier/list",
    }  # fmt: skip
    access = df.filter(pl.col("case") == datatier.DATA_ACCESS_CASE)
    assert dict(zip(access["metric"], access["value"], strict=True))["latency_p99"] == 0.001
    frame = datatier.query_latency_frame(rows)
    assert list(frame["status"]) == ["measured", "not measured here: no binaries"]
    assert frame.loc[0, "p50_ms"] == pytest.approx(2.0)
    assert frame.loc[0, "access_p99_ms"] == pytest.approx(1.0)


def test_hub_rows_use_the_claim_cases(tmp_path) -> None:
    rows = [
        {"implementation": "python-realtime", "backend": "memory", "status": "measured",
         "latency": {"samples": [0.001, 0.002, 0.010], "received": 3, "lost": 0,
                     "out_of_order": 0},
         "held": {"attempted": 5, "received": 4}},
        {"implementation": "python-realtime+redis", "backend": "redis",
         "status": "not measured here: no redis-server"},
    ]  # fmt: skip
    rec = Recorder(tmp_path / "run", notebook="data_tier")
    assert realtime.record_hub(rec, rows) == 4
    df = pl.read_parquet(rec.path)
    lat = df.filter(pl.col("case") == realtime.WEBSOCKET_LATENCY_CASE)
    assert dict(zip(lat["metric"], lat["value"], strict=True)) == {
        "latency_p50": 0.002, "latency_p95": 0.010, "latency_p99": 0.010,
    }  # fmt: skip
    held = df.filter(pl.col("case") == realtime.CONNECTIONS_CASE)
    assert held["metric"][0] == "connections_held" and held["value"][0] == 4.0
    assert held["unit"][0] == "connections"
    frame = realtime.hub_frame(rows)
    assert frame.loc[0, "connections_held"] == 4 and frame.loc[1, "status"].startswith("not")


@pytest.mark.services
def test_benchmark_helpers_start_measure_and_stop(tmp_path) -> None:
    rows = datatier.benchmark_backends(
        ("sqlite",), (False,), clients=1, duration_s=0.3, n_agents=10, work_dir=tmp_path
    )
    assert [r["status"] for r in rows] == ["measured"]
    assert rows[0]["report"]["requests"] > 0 and rows[0]["report"]["errors"] == {}
    hub = realtime.benchmark_hub(("memory",), messages=20, connections=10, work_dir=tmp_path)
    assert hub[0]["status"] == "measured" and hub[0]["held"]["received"] == 10
    assert hub[0]["latency"]["lost"] == 0
    with pytest.raises(ValueError, match="unknown backend"):
        datatier.benchmark_backends(("mysql",))

"""The load package's pure parts: durations, targets, schedules, arrivals, histograms, SLOs."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from workbench.cli import build_parser, main
from workbench.errors import ServiceError
from workbench.load import (
    SLO,
    LatencyBook,
    constant_schedule,
    is_loopback,
    knee,
    open_schedule,
    parse_duration,
    spike_schedule,
    step_schedule,
    weights_for,
)
from workbench.load import runner as load_runner
from workbench.load.openmodel import ArrivalClock
from workbench.load.shapes import Schedule


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10.0), ("2m", 120.0), ("1m30s", 90.0), ("1h", 3600.0), ("250ms", 0.25),
     ("7", 7.0), (3, 3.0)],
)  # fmt: skip
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "ten", "10x", "-5s", "0", 0, "10s5"])
def test_parse_duration_rejects(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_is_loopback():
    assert is_loopback("http://127.0.0.1:8700")
    assert is_loopback("http://127.8.9.10")
    assert is_loopback("http://[::1]:80")
    assert is_loopback("http://localhost:1")
    assert not is_loopback("http://192.0.2.1:8700")
    assert not is_loopback("http://10.0.0.1")


def test_schedules_are_contiguous_and_round_trip():
    for s in (
        constant_schedule(20, 10),
        step_schedule([1, 2, 4], 3),
        spike_schedule(5, 50, 12),
        open_schedule([10, 20], 2),
    ):
        assert s.phases[0].start_s == 0
        assert all(a.end_s == b.start_s for a, b in zip(s.phases, s.phases[1:], strict=False))
        assert Schedule.from_json(s.to_json()) == s
    assert spike_schedule(5, 50, 12).phases[1].users == 50
    with pytest.raises(ValueError):
        spike_schedule(5, 50, 12, spike_at_s=11, spike_s=5)
    with pytest.raises(ValueError):
        constant_schedule(0, 10)


@pytest.mark.parametrize("arrivals", ["uniform", "poisson"])
@pytest.mark.parametrize("procs", [1, 3])
def test_arrival_clock_offers_the_schedule(arrivals, procs):
    """Over all generator processes the clock issues rate x duration arrivals per phase,
    each inside its phase, in increasing order per process."""
    sched = open_schedule([50.0, 200.0], 2.0, arrivals=arrivals, seed=4)
    per_phase = [0, 0]
    for i in range(procs):
        clock = ArrivalClock(sched, i, procs)
        clock.start(1000.0)
        times = list(iter(clock.next, None))
        assert times == sorted(times)
        for t in times:
            per_phase[clock.phase_of(t)] += 1
        assert clock.issued == len(times)
    expected = [100, 400]
    if arrivals == "uniform":
        assert per_phase == expected
    else:  # Poisson counts: within 5 standard deviations
        for got, want in zip(per_phase, expected, strict=True):
            assert abs(got - want) < 5 * math.sqrt(want)


def test_uniform_arrivals_of_several_processes_interleave():
    sched = open_schedule(30.0, 1.0)
    merged = []
    for i in range(3):
        clock = ArrivalClock(sched, i, 3)
        clock.start(0.0)
        merged += list(iter(clock.next, None))
    gaps = np.diff(sorted(merged))
    np.testing.assert_allclose(gaps, 1 / 30.0, rtol=1e-9)


def test_latency_book_matches_numpy_and_merges():
    rng = random.Random(1)
    xs = [rng.lognormvariate(-4, 1) for _ in range(5000)]
    whole, a, b = LatencyBook(), LatencyBook(), LatencyBook()
    for i, x in enumerate(xs):
        for book in (whole, a if i % 2 else b):
            book.record(i % 3, "ep", x, x / 2, failed=i % 100 == 0, start=i, end=i + x)
    a.merge(b.take_delta())
    assert b.total_requests() == 0
    sa, sw = a.summary(), whole.summary()
    assert sa == sw
    assert sw["requests"] == 5000 and sw["failures"] == 50
    for p in (50, 90, 99, 99.9):
        ref = np.percentile(xs, p)
        # HDR histograms keep 3 significant digits: within 0.1 % plus a microsecond.
        assert abs(sw[f"p{p:g}"] - ref) <= 2e-3 * ref + 2e-6
    assert whole.summary(which="service")["p50"] == pytest.approx(np.percentile(xs, 50) / 2,
                                                                  rel=3e-3)  # fmt: skip
    assert LatencyBook.from_json(whole.to_json()).summary(phase=1) == whole.summary(phase=1)


def test_slo_checks_and_knee():
    slo = SLO(max_p99_s=0.1, max_error_ratio=0.01, min_rps=50)
    assert slo.check(p99_s=0.05, error_ratio=0.0, rps=60) == []
    got = {v.check for v in slo.check(p99_s=0.2, error_ratio=0.5, rps=10)}
    assert got == {"p99", "error_ratio", "rps"}
    assert {v.check for v in slo.check(p99_s=math.nan, error_ratio=math.nan, rps=0)} == got
    steps = [
        {"users": 1, "rps": 100, "p99": 0.01, "error_ratio": 0},
        {"users": 2, "rps": 190, "p99": 0.02, "error_ratio": 0},
        {"users": 4, "rps": 250, "p99": 0.30, "error_ratio": 0},
        {"users": 8, "rps": 260, "p99": 0.05, "error_ratio": 0.2},
    ]
    assert knee(steps, slo)["users"] == 2
    assert knee(steps, SLO(max_p99_s=1.0))["users"] == 4
    assert knee(steps[2:], slo) is None


def test_weights():
    assert weights_for("gateway") == {"health": 1, "routing": 3}
    assert weights_for("mixed", "chat=0")["chat"] == 0
    for bad in ("nope=1", "chat=-1", "chat"):
        with pytest.raises(ValueError):
            weights_for("mixed", bad)
    with pytest.raises(ValueError):
        weights_for("health", "health=0")
    with pytest.raises(ValueError):
        weights_for("no-such-scenario")


def test_cli_refuses_to_run_without_duration(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["load", "--scenario", "mixed", "--users", "5"])
    assert exc.value.code == 2
    assert "--duration" in capsys.readouterr().err


def test_cli_needs_users_or_rate(capsys):
    assert main(["load", "--duration", "5s"]) == 2
    assert "--users" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["load", "--duration", "5s", "--users", "5", "--rate", "9"])


def test_implicit_target_must_be_loopback(monkeypatch):
    """A serve.json pointing elsewhere is never used implicitly (only an explicit --host)."""
    monkeypatch.setattr(
        load_runner, "_read_state", lambda: {"gateway": "http://192.0.2.7:8700", "api_key": "k"}
    )
    monkeypatch.setattr(load_runner, "_health_ok", lambda url, timeout=2.0: True)
    with pytest.raises(ServiceError, match="not loopback"), load_runner.resolve_target(None):
        pass


def test_off_host_serve_json_gets_no_request_before_the_refusal(monkeypatch):
    monkeypatch.setattr(
        load_runner, "_read_state", lambda: {"gateway": "http://192.0.2.7:8700", "api_key": "k"}
    )
    probed = []

    def health_ok(url, timeout=2.0):
        probed.append(url)
        return True

    monkeypatch.setattr(load_runner, "_health_ok", health_ok)
    with pytest.raises(ServiceError, match="not loopback"), load_runner.resolve_target(None):
        pass
    assert probed == []  # refused before any request left for the other host

"""Router engine behaviour: determinism, Little's law, retries, breaker, rate limits, policies."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from workbench.sim.distributions import Dist
from workbench.sim.policies import RoutingPolicy
from workbench.sim.providers import Provider
from workbench.sim.queueing import md1_wait
from workbench.sim.router import STATUSES, simulate, simulate_mmc
from workbench.sim.workload import Workload

SUMMARY_KEYS = {
    "mean_wait_s", "p50_latency_s", "p95_latency_s", "p99_latency_s", "p999_latency_s",
    "throughput_rps", "error_rate", "cost_total", "mean_attempts",
}  # fmt: skip


def _busy_scenario(seed=3, **kw):
    a = Provider(
        "remote", slots=4, rtt=Dist.det(0.02), ttft=Dist.lognormal(0.3, 0.5),
        tokens_per_s=Dist.det(80.0), error_prob=0.05, rpm=300, cost_per_1k=0.5,
    )  # fmt: skip
    b = Provider(
        "ollama", slots=2, ttft=Dist.exp(0.1), tokens_per_s=Dist.lognormal(40.0, 0.3),
        timeout_prob=0.01,
    )  # fmt: skip
    w = Workload.poisson(
        4.0, 3000, prompt_tokens=Dist.det(200), completion_tokens=Dist.lognormal(60, 1.0)
    )
    policy = RoutingPolicy(
        "p2c", max_attempts=3, attempt_timeout_s=10.0, breaker_failures=5, breaker_open_s=5.0,
        cooldown_after=3,
    )  # fmt: skip
    return simulate([a, b], w, policy, seed=seed, overhead_s=0.002, record_attempts=True, **kw)


def test_same_seed_identical_records_and_other_seed_differs():
    a = _busy_scenario(seed=3)
    b = _busy_scenario(seed=3)
    c = _busy_scenario(seed=4)
    assert a.requests.equals(b.requests)
    assert a.attempts.equals(b.attempts)
    assert a.breaker_events.equals(b.breaker_events)
    assert not a.requests.equals(c.requests)


def test_records_schema_and_consistency():
    res = _busy_scenario()
    f = res.requests
    for col in ("arrival_s", "start_s", "first_token_s", "end_s", "provider", "status",
                "attempts", "cost"):  # fmt: skip
        assert col in f.columns
    assert set(f["status"].cast(pl.String).unique()) <= set(STATUSES)
    assert f["end_s"].null_count() == 0 and not f["end_s"].is_nan().any()
    ok = f.filter(pl.col("status") == "ok")
    assert ok.height > 0.9 * f.height
    assert (ok["arrival_s"] <= ok["start_s"]).all()
    assert (ok["start_s"] <= ok["first_token_s"]).all()
    assert (ok["first_token_s"] <= ok["end_s"]).all()
    # cost is the provider's price per 1k tokens of a successful request
    price = ok["provider"].cast(pl.String).replace_strict({"remote": 0.5, "ollama": 0.0})
    tokens = ok["prompt_tokens"] + ok["completion_tokens"]
    np.testing.assert_allclose(ok["cost"].to_numpy(), (tokens * price / 1000).to_numpy())
    assert set(res.summary()) >= SUMMARY_KEYS
    # every request's attempts are in the attempt log
    per_req = res.attempts.group_by("request").len().sort("request")
    routed = f.with_row_index("request").filter(pl.col("provider").is_not_null())
    assert per_req["len"].sum() <= f["attempts"].sum()
    assert per_req.height == routed.height


def test_littles_law_holds_on_a_messy_run():
    s = _busy_scenario().summary()
    assert s["littles_L"] == pytest.approx(s["littles_lambda_W"], rel=1e-9)
    assert s["littles_Lq"] == pytest.approx(s["littles_lambda_Wq"], rel=1e-9)


def test_rate_limited_provider_never_exceeds_its_limits():
    limited = Provider("limited", slots=8, ttft=Dist.exp(0.2), rpm=60, tpm=9000)
    spare = Provider("spare", slots=8, ttft=Dist.exp(0.5))
    w = Workload.poisson(3.0, 3000, prompt_tokens=Dist.exp(100), completion_tokens=Dist.det(20))
    policy = RoutingPolicy("least_outstanding", max_attempts=4, backoff_base_s=0.05)
    res = simulate([limited, spare], w, policy, seed=1, record_attempts=True)
    att = res.attempts.filter(pl.col("provider") == "limited")
    assert (att["outcome"] == "rate_limited").sum() > 100  # the limit was actually hit
    accepted = att.filter(pl.col("outcome") != "rate_limited").with_columns(
        (pl.col("send_s") // 60).alias("window")
    )
    per_window = accepted.group_by("window").agg(pl.len(), pl.col("tokens").sum())
    assert per_window["len"].max() <= 60
    assert per_window["tokens"].max() <= 9000
    assert per_window["len"].max() >= 50  # and it was used up to near the limit
    assert res.summary()["error_rate"] < 0.01  # 429s were retried on the spare provider


def test_breaker_opens_during_an_error_burst_and_closes_after_recovery():
    p = Provider("p", slots=4, ttft=Dist.exp(0.1), outages=[(100.0, 130.0)])
    w = Workload.poisson(10.0, 3000)
    policy = RoutingPolicy("round_robin", breaker_failures=5, breaker_open_s=5.0)
    res = simulate([p], w, policy, seed=0)
    ev = res.breaker_events
    opens = ev.filter(pl.col("state") == "open")["time_s"]
    closes = ev.filter(pl.col("state") == "closed")["time_s"]
    assert opens.len() >= 1 and 100.0 <= opens.min() < 102.0
    assert opens.max() < 135.0  # no opening after the outage ended
    assert closes.len() == 1 and 130.0 <= closes[0] < 140.0
    assert ev["state"][-1] == "closed"
    f = res.requests
    during = f.filter((pl.col("arrival_s") > 101) & (pl.col("arrival_s") < 129))
    assert (during["status"] == "no_provider").mean() > 0.5  # the breaker shed the load
    after = f.filter(pl.col("arrival_s") > 140)
    assert (after["status"] == "ok").all()


def test_retries_reduce_errors_geometrically():
    p = Provider("p", slots=64, ttft=Dist.exp(0.1), error_prob=0.3)
    w = Workload.poisson(20.0, 20_000)
    res = simulate([p], w, RoutingPolicy("round_robin", max_attempts=3), seed=0)
    s = res.summary()
    # P(all 3 fail) = 0.027, sd of the estimate ~0.0011
    assert s["error_rate"] == pytest.approx(0.3**3, abs=0.005)
    assert s["mean_attempts"] == pytest.approx(1 + 0.3 + 0.09, abs=0.02)


def test_fallback_moves_retries_to_another_provider():
    broken = Provider("broken", slots=4, ttft=Dist.det(0.01), error_prob=1.0)
    good = Provider("good", slots=4, ttft=Dist.det(0.01))
    w = Workload.poisson(5.0, 500)
    on = RoutingPolicy("round_robin", max_attempts=2, fallback=True)
    res = simulate([broken, good], w, on, seed=0)
    assert (res.requests["status"] == "ok").all()
    off = RoutingPolicy("round_robin", max_attempts=2, fallback=False)
    res_off = simulate([broken, good], w, off, seed=0)
    assert (res_off.requests["status"] == "error").sum() > 0


def test_timeouts_end_at_the_attempt_timeout():
    p = Provider("p", slots=8, ttft=Dist.det(0.1), timeout_prob=0.2)
    policy = RoutingPolicy("round_robin", attempt_timeout_s=2.0)
    res = simulate([p], Workload.poisson(2.0, 2000), policy, seed=0)
    to = res.requests.filter(pl.col("status") == "timeout")
    assert to.height == pytest.approx(400, abs=80)
    np.testing.assert_allclose((to["end_s"] - to["start_s"]).to_numpy(), 2.0)
    slow = Provider("slow", slots=8, ttft=Dist.det(3.0))
    res = simulate([slow], Workload.poisson(1.0, 50), policy, seed=0)
    assert (res.requests["status"] == "timeout").all()


def test_router_overhead_stage_is_an_md1_queue():
    # providers answer instantly, so the only delay is the single-worker router:
    # deterministic service d with Poisson arrivals, an M/D/1 queue
    p = Provider("instant", slots=1000)
    lam, d = 50.0, 0.01
    res = simulate([p], Workload.poisson(lam, 300_000), "round_robin", seed=0, overhead_s=d)
    lat = res.requests["latency_s"].to_numpy()
    assert lat.mean() - d == pytest.approx(md1_wait(lam, 1 / d), rel=0.03)
    # with enough router workers the overhead is a pure delay
    res4 = simulate(
        [p], Workload.poisson(lam, 2000), "round_robin", seed=0, overhead_s=d, router_workers=64
    )
    np.testing.assert_allclose(res4.requests["latency_s"].to_numpy(), d)


def test_round_robin_and_weighted_random_split_load():
    a = Provider("a", slots=100, ttft=Dist.det(0.01), weight=1.0)
    b = Provider("b", slots=100, ttft=Dist.det(0.01), weight=3.0)
    w = Workload.poisson(10.0, 4000)
    rr = simulate([a, b], w, "round_robin", seed=0).requests
    assert (rr["provider"] == "a").sum() == 2000
    wr = simulate([a, b], w, "weighted_random", seed=0).requests
    assert (wr["provider"] == "b").mean() == pytest.approx(0.75, abs=0.03)


def test_least_outstanding_beats_round_robin_on_unequal_providers():
    # a fast and a slow provider: load-aware routing sends more to the fast one
    fast = Provider("fast", slots=2, ttft=Dist.exp(0.1))
    slow = Provider("slow", slots=2, ttft=Dist.exp(0.5))
    w = Workload.poisson(6.0, 20_000)
    rr = simulate([fast, slow], w, "round_robin", seed=0).summary()
    lo = simulate([fast, slow], w, "least_outstanding", seed=0).summary()
    assert lo["mean_latency_s"] < rr["mean_latency_s"]


def test_cost_slo_prefers_the_cheap_provider_when_it_meets_the_slo():
    cheap = Provider("cheap", slots=8, ttft=Dist.det(0.3), cost_per_1k=0.1)
    dear = Provider("dear", slots=8, ttft=Dist.det(0.1), cost_per_1k=1.0)
    w = Workload.poisson(2.0, 500, prompt_tokens=Dist.det(1000))
    loose = simulate([cheap, dear], w, RoutingPolicy("cost_slo", slo_s=1.0), seed=0)
    tight = simulate([cheap, dear], w, RoutingPolicy("cost_slo", slo_s=0.2), seed=0)
    assert (loose.requests["provider"] == "cheap").mean() > 0.95
    assert (tight.requests["provider"] == "dear").mean() > 0.95
    assert loose.summary()["cost_total"] < tight.summary()["cost_total"]


def test_warmup_excludes_early_requests():
    res = simulate_mmc(1, 0.5, 1.0, 10_000, seed=0, warmup_fraction=0.2)
    s = res.summary()
    assert s["n_measured"] == pytest.approx(8000, abs=1)
    assert res.warmup_s == res.requests["arrival_s"][2000]


def test_unstable_queue_is_simulated_not_rejected():
    s = simulate_mmc(1, 2.0, 1.0, 2000, seed=0).summary()
    assert s["throughput_rps"] == pytest.approx(1.0, rel=0.1)


def test_workload_kinds_run_end_to_end(tmp_path):
    trace = pl.DataFrame(
        {
            "arrival_s": [0.5, 0.1, 2.0],
            "prompt_tokens": [10, 20, 30],
            "completion_tokens": [5, 6, 7],
            "model": ["a", "b", "a"],
        }
    )
    path = tmp_path / "trace.csv"
    trace.write_csv(path)
    p = Provider("p", slots=2, ttft=Dist.det(0.1), tokens_per_s=Dist.det(10.0))
    res = simulate([p], Workload.replay(path), "round_robin")
    f = res.requests
    assert f["arrival_s"].to_list() == pytest.approx([0.0, 0.4, 1.9])
    assert f["model"].to_list() == ["b", "a", "a"]
    assert (f["latency_s"] - 0.1 - f["completion_tokens"] / 10.0).abs().max() < 1e-12
    for w in (Workload.bursty(1.0, 20.0, 1.0, 5.0, 500), Workload.diurnal(5.0, 500, 0.9, 60.0)):
        assert simulate([p], w, "p2c").requests.height == 500


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: simulate([], Workload.poisson(1.0, 10)), ValueError, "providers"),
        (lambda: simulate(Provider("a"), Workload.poisson(1.0, 10)), TypeError, "providers"),
        (lambda: simulate([Provider("a"), Provider("a")], Workload.poisson(1.0, 10)),
         ValueError, "unique"),
        (lambda: simulate([Provider("a")], [1, 2]), TypeError, "workload"),
        (lambda: simulate([Provider("a")], Workload.poisson(1.0, 10), "fastest"),
         ValueError, "policy"),
        (lambda: simulate([Provider("a")], Workload.poisson(1.0, 10), seed=-1), ValueError, "seed"),
        (lambda: simulate([Provider("a")], Workload.poisson(1.0, 10), overhead_s=-1),
         ValueError, "overhead_s"),
        (lambda: simulate([Provider("a")], Workload.poisson(1.0, 10), router_workers=0),
         ValueError, "router_workers"),
        (lambda: simulate([Provider("a", timeout_prob=0.1)], Workload.poisson(1.0, 10)),
         ValueError, "attempt_timeout_s"),
        (lambda: simulate_mmc(0, 1.0, 1.0, 10), ValueError, "c must"),
        (lambda: simulate_mmc(1, -1.0, 1.0, 10), ValueError, "arrival_rate"),
        (lambda: simulate_mmc(1, 1.0, math.inf, 10), ValueError, "service_rate"),
        (lambda: simulate_mmc(1, 1.0, 1.0, 0), ValueError, "n_requests"),
        (lambda: simulate_mmc(1, 1.0, 1.0, 10, service="gamma"), ValueError, "service"),
        (lambda: Provider("a", slots=0), ValueError, "slots"),
        (lambda: Provider("a", error_prob=1.5), ValueError, "error_prob"),
        (lambda: Provider("a", tokens_per_s=Dist.exp(10.0)), ValueError, "tokens_per_s"),
        (lambda: Provider("a", outages=[(5.0, 1.0)]), ValueError, "outage"),
        (lambda: Provider("a", ttft=0.1), TypeError, "ttft"),
        (lambda: Workload.poisson(0.0, 10), ValueError, "rate_rps"),
        (lambda: Workload.poisson(1.0, 0), ValueError, "n_requests"),
        (lambda: Workload.diurnal(1.0, 10, amplitude=2.0), ValueError, "amplitude"),
        (lambda: Workload.replay(pl.DataFrame({"arrival_s": [1.0]})), ValueError, "missing"),
        (lambda: Dist.lognormal(-1.0, 1.0), ValueError, "mean"),
        (lambda: Dist.empirical([]), ValueError, "samples"),
    ],
)  # fmt: skip
def test_validation_errors_name_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()

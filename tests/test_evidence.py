import pytest

from workbench.claims import load_claims
from workbench.errors import ClaimsError
from workbench.evidence import EvidenceRule, evaluate, load_rules
from workbench.results import Recorder


@pytest.fixture(scope="module")
def claims():
    return load_claims()


GRAPH = EvidenceRule(
    claim="tables.response_time.graph_queries.improvement",
    kind="improvement",
    metric="time",
    case="local_search/*",
    baseline="networkx",
    candidate="numba",
    what="local search",
)
REALTIME = EvidenceRule(
    claim="services.realtime-hub.websocket_latency",
    kind="target",
    metric="latency_p99",
    case="realtime/websocket_latency",
    candidate="python-hub",
    claim_unit="ms",
    what="ws latency",
)
RPS = EvidenceRule(
    claim="tables.throughput.requests_per_second.target",
    kind="target",
    metric="rps",
    case="throughput/requests_per_second",
    candidate="python-gateway",
    what="gateway req/s",
)


def _frame(tmp_path, rows):
    rec = Recorder(tmp_path / "run", notebook="nb")
    for case, impl, metric, unit, samples in rows:
        rec.record(
            case,
            impl,
            metric,
            sorted(samples)[len(samples) // 2],
            unit,
            n=len(samples),
            samples=samples,
            flush=False,
        )
    return rec.frame


def _times(centre, n=9):
    return [centre * (1 + 0.01 * (i - n // 2)) for i in range(n)]


def test_improvement_supported_contradicted_and_inconclusive(claims, tmp_path):
    # the plan claims 67% less time (120 -> 40 ms) for graph queries
    frame = _frame(
        tmp_path,
        [
            ("local_search/big", "networkx", "time", "s", _times(1.0)),
            ("local_search/big", "numba", "time", "s", _times(0.01)),  # 99% less: supported
            ("local_search/tiny", "networkx", "time", "s", _times(1.0)),
            ("local_search/tiny", "numba", "time", "s", _times(0.8)),  # 20% less: contradicted
            ("local_search/mid", "networkx", "time", "s", [1.0, 0.5, 1.5, 0.4, 1.6]),
            ("local_search/mid", "numba", "time", "s", [0.33, 0.2, 0.6, 0.15, 0.5]),  # straddles
        ],
    )
    verdicts = {v.case: v for v in evaluate(claims, frame, [GRAPH])}
    assert verdicts["local_search/big"].verdict == "supported"
    assert verdicts["local_search/big"].measured == pytest.approx(99, abs=0.1)
    assert verdicts["local_search/tiny"].verdict == "contradicted"
    assert verdicts["local_search/mid"].verdict == "inconclusive"
    assert verdicts["local_search/mid"].low < 67 < verdicts["local_search/mid"].high


def test_target_rules_convert_units_and_respect_the_bound(claims, tmp_path):
    frame = _frame(
        tmp_path,
        [
            ("realtime/websocket_latency", "python-hub", "latency_p99", "s", [0.004]),
            ("throughput/requests_per_second", "python-gateway", "rps", "req/s", [1800.0]),
        ],
    )
    by_rule = {v.rule.what: v for v in evaluate(claims, frame, [REALTIME, RPS])}
    ws = by_rule["ws latency"]
    assert ws.verdict == "supported" and ws.claimed == pytest.approx(0.010)
    assert "point estimate" in ws.explanation
    assert by_rule["gateway req/s"].verdict == "contradicted"  # 1,800 < 2,500+


def test_no_evidence_is_not_measurable_here(claims, tmp_path):
    frame = _frame(tmp_path, [("unrelated", "numba", "time", "s", [1.0])])
    (v,) = evaluate(claims, frame, [GRAPH])
    assert v.verdict == "not measurable here"


def test_seed_rows_are_never_evidence(claims, tmp_path):
    rec = Recorder(tmp_path / "run", notebook="nb")
    rec.record(
        "realtime/websocket_latency", "python-hub", "latency_p99", 0.001, "s", provenance="seed"
    )
    (v,) = evaluate(claims, rec.frame, [REALTIME])
    assert v.verdict == "not measurable here"


def test_shipped_rules_are_valid(claims):
    rules = load_rules(claims)
    assert all(r.kind in ("improvement", "target") for r in rules)


def test_bad_rule_is_a_clear_error(claims):
    from dataclasses import replace

    bad = replace(
        claims,
        evidence=(
            {
                "claim": "tables.nope.x.y",
                "kind": "target",
                "metric": "m",
                "case": "c",
                "candidate": "i",
                "what": "w",
            },
        ),
    )
    with pytest.raises(ClaimsError, match="does not name a figure"):
        load_rules(bad)
    bad = replace(
        claims,
        evidence=(
            {
                "claim": GRAPH.claim,
                "kind": "improvement",
                "metric": "m",
                "case": "c",
                "candidate": "i",
                "what": "w",
            },
        ),
    )
    with pytest.raises(ClaimsError, match="needs a baseline"):
        load_rules(bad)


def test_a_lower_bound_that_falls_short_is_inconclusive_not_contradicted(claims, tmp_path):
    held = EvidenceRule(
        claim="tables.throughput.concurrent_connections.target",
        kind="target",
        metric="connections_held",
        case="throughput/concurrent_connections",
        candidate="python-hub",
        lower_bound=True,
        what="held",
    )
    frame = _frame(
        tmp_path,
        [
            (
                "throughput/concurrent_connections",
                "python-hub",
                "connections_held",
                "connections",
                [200.0],
            )
        ],
    )
    (v,) = evaluate(claims, frame, [held])
    assert v.verdict == "inconclusive" and "lower bound" in v.explanation
    frame = _frame(
        tmp_path,
        [
            (
                "throughput/concurrent_connections",
                "python-hub",
                "connections_held",
                "connections",
                [12000.0],
            )
        ],
    )
    (v,) = evaluate(claims, frame, [held])
    assert v.verdict == "supported"


def test_memory_targets_compare_bytes_with_megabytes(claims, tmp_path):
    rss = EvidenceRule(
        claim="kpis.memory",
        kind="target",
        claim_unit="MB",
        metric="rss_peak",
        case="throughput/memory_efficiency",
        candidate="python-services",
        what="rss",
    )
    over = _frame(
        tmp_path,
        [("throughput/memory_efficiency", "python-services", "rss_peak", "bytes", [800 * 2.0**20])],
    )
    under = _frame(
        tmp_path,
        [("throughput/memory_efficiency", "python-services", "rss_peak", "bytes", [600 * 2.0**20])],
    )
    assert evaluate(claims, over, [rss])[0].verdict == "contradicted"  # 800 MB > 700 MB
    assert evaluate(claims, under, [rss])[0].verdict == "supported"


def test_improvement_pairs_a_lone_baseline_despite_different_parameters(claims, tmp_path):
    mem = EvidenceRule(
        claim="tables.memory.api_gateway.improvement",
        kind="improvement",
        metric="memory",
        case="memory/api_gateway",
        baseline="v8-model",
        candidate="go-model",
        what="mem",
    )
    rec = Recorder(tmp_path / "run", notebook="nb")
    rec.record(
        "memory/api_gateway",
        "v8-model",
        "memory",
        150.0,
        "MB",
        params={"gc": "v8"},
        provenance="simulated",
    )
    rec.record(
        "memory/api_gateway",
        "go-model",
        "memory",
        75.0,
        "MB",
        params={"gogc": 100},
        provenance="simulated",
    )
    (v,) = evaluate(claims, rec.frame, [mem])
    assert v.measured == pytest.approx(50.0) and v.verdict == "supported"
    assert v.provenance == "simulated"


def test_zero_meets_a_target_and_units_must_match(claims, tmp_path):
    errors = EvidenceRule(
        claim="kpis.error_rate",
        kind="target",
        metric="error_ratio",
        case="load/mixed",
        candidate="python-gateway",
        what="errors",
    )
    frame = _frame(tmp_path, [("load/mixed", "python-gateway", "error_ratio", "%", [0.0])])
    assert evaluate(claims, frame, [errors])[0].verdict == "supported"  # 0% <= 0.1%
    wrong = EvidenceRule(
        claim="kpis.memory",
        kind="target",
        claim_unit="MB",
        metric="rss",
        case="load/mixed",
        candidate="python-gateway",
        what="rss",
    )
    frame = _frame(tmp_path, [("load/mixed", "python-gateway", "rss", "s", [1.0])])
    (v,) = evaluate(claims, frame, [wrong])
    assert v.verdict == "not measurable here" and "units do not match" in v.explanation


def test_a_faster_responses_headline_is_judged_as_less_time(claims, tmp_path):
    headline = EvidenceRule(
        claim="headlines.faster_responses",
        kind="improvement",
        metric="time",
        case="overall",
        baseline="ts",
        candidate="go",
        what="overall",
    )
    # 223 -> 130 ms is 42% less time: short of "61% faster", whatever the wording
    frame = _frame(
        tmp_path, [("overall", "ts", "time", "s", [0.223]), ("overall", "go", "time", "s", [0.130])]
    )
    (v,) = evaluate(claims, frame, [headline])
    assert v.verdict == "contradicted" and v.measured == pytest.approx(41.7, abs=0.1)


def test_rules_with_unknown_units_are_rejected(claims):
    from dataclasses import replace

    bad = replace(
        claims,
        evidence=(
            {
                "claim": "kpis.memory",
                "kind": "target",
                "metric": "m",
                "case": "c",
                "candidate": "i",
                "what": "w",
                "claim_unit": "furlongs",
            },
        ),
    )
    with pytest.raises(ClaimsError, match="unknown unit"):
        load_rules(bad)

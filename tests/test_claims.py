from pathlib import Path

import pytest
import yaml

from workbench.claims import audit, findings_frame, load_claims, resolve, seed_rows, table_frame
from workbench.config import data_dir
from workbench.errors import ClaimsError


@pytest.fixture(scope="module")
def claims():
    return load_claims()


def _messages(findings, severity="inconsistent"):
    return [f for f in findings if f.severity == severity]


def test_every_seed_table_is_held(claims):
    assert set(claims.tables) == {"memory", "response_time", "throughput"}
    mem = claims.tables["memory"]
    assert [r.current for r in mem.rows] == [150, 200, 400, 300, 1050]
    assert mem.row("total").targets == {"go": 175, "rust": 210}
    rt = claims.tables["response_time"]
    assert rt.row("overall").current == 223 and rt.row("overall").values["go"] == 87
    assert rt.row("graph_queries").values["rust"] == 40
    tp = claims.tables["throughput"]
    assert tp.row("requests_per_second").target == 2500
    assert tp.row("concurrent_connections").at_least
    assert len(claims.services) == 6 and len(claims.phases) == 4 and len(claims.kpis) == 7


def test_audit_finds_the_seeds_real_inconsistencies(claims):
    bad = _messages(audit(claims))
    text = "\n".join(f.message for f in bad)
    # the Overall row cannot be derived from the rows above it
    overall = next(f for f in bad if f.check == "aggregate" and "223" in f.message)
    assert overall.numbers["sum"] == 395 and overall.numbers["mean"] == pytest.approx(98.75)
    # three totals of "memory today" / "after": 1,050 vs 2,100 MB, 385 vs 650 MB
    assert any(set(f.numbers.values()) == {1050, 2100} for f in bad)
    assert any(set(f.numbers.values()) == {385, 650} for f in bad)
    # 63% (table 1) against 69% (table 3) for the memory reduction
    assert any(set(f.numbers.values()) == {63, 69} for f in bad)
    # 10x concurrent connections in table 3, 5x in the headline
    assert any(set(f.numbers.values()) == {10, 5} for f in bad)
    assert "neither the sum" in text
    for f in bad:
        assert f.size is not None and f.size > 0.01


def test_audit_verifies_what_is_consistent(claims):
    ok = [f for f in audit(claims, include_ok=True) if f.severity == "ok"]
    # every row's stated improvement recomputes (e.g. 120 -> 40 ms is 66.7% ~ "67%"):
    # 5 + 5 + 3 rows in the three tables
    improvements = [f for f in ok if f.check == "improvement"]
    assert len(improvements) == 13
    # the memory Total row is the sum of its components in all three columns
    assert sum(1 for f in ok if f.check == "total") == 3
    # db-coordinator's "15 ms (70% better)" is exactly Table 2's Database Ops row
    assert any(f.check == "service_baseline" and "database_ops" in f.message for f in ok)


def test_headline_wording_is_flagged(claims):
    notes = _messages(audit(claims), "note")
    assert any("2.56x the speed" in f.message for f in notes)


def _mutated(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load((data_dir() / "claims.yaml").read_text())
    mutate(raw)
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_audit_catches_a_wrong_total(tmp_path):
    def mutate(raw):
        raw["tables"]["memory"]["rows"][4]["current"] = 1000

    findings = audit(load_claims(_mutated(tmp_path, mutate)))
    total = [f for f in findings if f.check == "total" and f.severity == "inconsistent"]
    assert total and total[0].numbers == {"stated": 1000, "sum": 1050}


def test_audit_catches_a_wrong_improvement(tmp_path):
    def mutate(raw):
        raw["tables"]["response_time"]["rows"][2]["improvement"]["value"] = 40

    findings = audit(load_claims(_mutated(tmp_path, mutate)))
    assert any(f.check == "improvement" and f.numbers["stated"] == 40 for f in findings)


def test_consistent_claims_have_no_row_findings(tmp_path):
    def mutate(raw):
        raw["same_quantity"] = []
        raw["services"] = []
        raw["headlines"] = []
        rows = raw["tables"]["response_time"]["rows"]
        rows[4].update(current=395, go=160)  # the sum of the rows above
        rows[4]["improvement"]["value"] = 59  # (395 - 160) / 395 = 59.5%

    findings = audit(load_claims(_mutated(tmp_path, mutate)))
    assert findings == []


def test_malformed_claims_are_a_clear_error(tmp_path):
    def mutate(raw):
        raw["tables"]["memory"]["rows"][0]["current"] = "a lot"

    with pytest.raises(ClaimsError, match=r"rows\[0\]\.current: expected a number"):
        load_claims(_mutated(tmp_path, mutate))
    with pytest.raises(ClaimsError, match="cannot read"):
        load_claims(tmp_path / "missing.yaml")


def test_resolve_and_bad_reference(claims):
    assert resolve(claims, "tables.response_time.graph_queries.speedup").value == 3
    assert resolve(claims, "kpis.memory").bound == "upper"
    with pytest.raises(ClaimsError, match="does not name a figure"):
        resolve(claims, "tables.memory.nope.current")


def test_seed_rows_store_seconds_and_cover_every_cell(claims):
    rows = seed_rows(claims)
    cells = sum(v is not None for r in claims.rows() for v in r.values.values())
    assert len(rows) == cells
    assert all(r["provenance"] == "seed" for r in rows)
    api = next(
        r
        for r in rows
        if r["case"] == "response_time/api_routing" and r["implementation"] == "go-target"
    )
    assert api["unit"] == "s" and api["value"] == pytest.approx(0.015)


def test_frames(claims):
    assert table_frame(claims.tables["memory"]).height == 5
    assert findings_frame(audit(claims)).height == len(audit(claims))

import re
from html.parser import HTMLParser

import polars as pl
import pytest

from workbench.claims import load_claims
from workbench.report import build_report
from workbench.report.page import format_value
from workbench.runner import run_suite


class _Collect(HTMLParser):
    """Every URL the page would fetch, and the text of its tables."""

    def __init__(self):
        super().__init__()
        self.fetches: list[str] = []
        self.tables = 0
        self.svgs = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables += 1
        if tag == "svg":
            self.svgs += 1
        for key in ("src", "href"):
            if attrs.get(key):
                self.fetches.append(attrs[key])
        if tag == "link" and attrs.get("rel") == "stylesheet":
            self.fetches.append(attrs.get("href", ""))


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("WORKBENCH_REPORTS_DIR", str(tmp_path_factory.mktemp("reports")))
    try:
        yield run_suite("quick", progress=False)
    finally:
        mp.undo()


def test_quick_suite_writes_a_report_with_the_three_tables_and_the_audit(quick_run):
    assert quick_run.ok, quick_run.meta
    html = (quick_run.run_dir / "index.html").read_text()
    for table in load_claims().tables.values():
        assert table.title in html
    assert "Audit of the plan" in html
    assert "neither the sum (395) nor the mean (98.75)" in html
    parser = _Collect()
    parser.feed(html)
    assert parser.tables >= 5 and parser.svgs >= 3
    # the executed notebook is rendered and linked
    assert "notebooks/claims.html" in parser.fetches
    assert (quick_run.run_dir / "notebooks" / "claims.html").is_file()


def test_report_opens_with_no_network(quick_run):
    html = (quick_run.run_dir / "index.html").read_text()
    parser = _Collect()
    parser.feed(html)
    remote = [u for u in parser.fetches if re.match(r"^(https?:)?//", u)]
    assert remote == []
    assert not re.search(r"@import|url\(\s*['\"]?https?:", html)
    nb_html = (quick_run.run_dir / "notebooks" / "claims.html").read_text()
    nb_parser = _Collect()
    nb_parser.feed(nb_html)
    assert [u for u in nb_parser.fetches if re.match(r"^(https?:)?//", u)] == []


def test_seed_figures_are_recorded_with_provenance(quick_run):
    from workbench.results import read_run

    frame = read_run(quick_run.run_dir).filter(pl.col("notebook") == "claims")
    assert set(frame["provenance"]) == {"seed"}
    # every number of the three tables: 11 (memory) + 10 (response time) + 6 (throughput)
    assert frame.height == 27


def test_report_can_be_rebuilt(quick_run):
    path = build_report(quick_run.run_dir)
    assert path.read_text().count("<svg") >= 3


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (0.0123, "s", "12.3 ms"),
        (2.5e-6, "s", "2.5 µs"),
        (1.5, "s", "1.5 s"),
        (2500, "req/s", "2,500 req/s"),
        (None, "s", "—"),
    ],
)
def test_format_value(value, unit, text):
    assert format_value(value, unit) == text


def test_report_renders_in_a_real_browser(quick_run):
    import os

    from workbench.report.browser import check_in_browser, find_chromium

    if find_chromium() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium must be installed in CI (scripts/install-system-deps.sh)")
        pytest.skip("chromium is not installed (scripts/install-system-deps.sh installs it)")
    shot = quick_run.run_dir / "screenshot.png"
    check = check_in_browser(quick_run.run_dir / "index.html", shot)
    assert check.console_errors == []
    assert check.external_requests == []
    assert check.tables >= 5 and check.svgs >= 3 and check.broken_images == 0
    assert check.ok
    # a real, non-blank picture of the page is kept in the run directory
    from PIL import Image

    with Image.open(shot) as img:
        assert img.width == 1280 and img.height > 1000
        assert len(img.convert("L").getcolors(maxcolors=1 << 16) or []) > 10


def test_browser_check_catches_console_errors(tmp_path):
    from workbench.report.browser import check_in_browser, find_chromium

    if find_chromium() is None:
        pytest.skip("chromium is not installed")
    page = tmp_path / "bad.html"
    page.write_text(
        "<table><tr><td>x</td></tr></table><img src='missing.png'>"
        "<script>console.error('boom'); nope();</script>"
    )
    check = check_in_browser(page)
    assert any("boom" in e for e in check.console_errors)
    assert any("nope" in e for e in check.console_errors)
    assert check.broken_images == 1 and not check.ok


def test_report_warns_when_the_load_generator_was_saturated(tmp_path):
    from workbench.results import Recorder

    saturated = tmp_path / "20260101T000000Z-load-0001"
    Recorder(saturated, notebook="load_test").record(
        "load/mixed", "locust", "generator_cpu_saturated", 1.0, "bool"
    )
    assert "CPU was saturated</strong> during load/mixed" in build_report(saturated).read_text()
    fine = tmp_path / "20260102T000000Z-load-0002"
    Recorder(fine, notebook="load_test").record(
        "load/mixed", "locust", "generator_cpu_saturated", 0.0, "bool"
    )
    assert "CPU was saturated" not in build_report(fine).read_text()

"""The Locust users of the data tier and the realtime hub, run headless against real services.

Locust monkey-patches the standard library with gevent when imported, so it runs in a
subprocess (as ``workbench load`` runs it), never inside the test process.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.services.launcher import running_services

pytestmark = pytest.mark.services
ROOT = Path(__file__).resolve().parents[2]


def _locust(locustfile: str, users: int, host: str, env: dict, out: Path) -> dict[str, dict]:
    locust = Path(sys.executable).with_name("locust")
    r = subprocess.run(
        [str(locust), "-f", str(ROOT / "loadtests" / locustfile), "--headless", "-u", str(users),
         "-r", str(users), "-t", "4s", "--stop-timeout", "3", "--host", host,
         "--csv", str(out), "--only-summary", "--loglevel", "WARNING"],
        env=env, capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    with open(f"{out}_stats.csv", newline="") as fh:
        return {f"{row['Type']} {row['Name']}": row for row in csv.DictReader(fh)}


def test_locust_users_run_without_failures(tmp_path: Path) -> None:
    with running_services(
        ["datatier", "realtime", "gateway"],
        ports="free",
        state_dir=tmp_path / "state",
        settings={"datatier": {"database_url": f"sqlite:///{tmp_path / 'load.db'}"}},
    ) as svc:
        env = dict(
            os.environ,
            WORKBENCH_API_KEY=svc.api_key,
            WORKBENCH_REALTIME_URL=svc.urls["realtime"],
            WORKBENCH_STATE_DIR=str(tmp_path / "state"),
        )
        crud = _locust("users_datatier.py", 3, svc.gateway, env, tmp_path / "crud")
        for name in ("POST /v1/agents", "GET /v1/agents/[id]", "GET /v1/agents?kind"):
            assert int(crud[name]["Request Count"]) > 0, name
        assert int(crud[" Aggregated"]["Failure Count"]) == 0

        ws = _locust("users_realtime.py", 4, svc.gateway, env, tmp_path / "ws")
        assert int(ws["WS connect"]["Request Count"]) == 4
        assert int(ws["WS publish->receive"]["Request Count"]) > 0
        assert int(ws[" Aggregated"]["Failure Count"]) == 0

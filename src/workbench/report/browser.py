"""Check a report the way a reader sees it: in headless Chromium, over the DevTools protocol.

:func:`check_in_browser` opens a page, waits for it to load, and reports what a person would
notice: how many tables and images are actually rendered (non-zero size), every console
error or uncaught exception, every request that left the machine, and a full-page PNG
screenshot. It drives Debian's ``chromium`` (``scripts/install-system-deps.sh`` installs it)
with the flags this sandbox needs: no sandbox as root, no background networking.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from workbench.errors import WorkbenchError

__all__ = ["BrowserCheck", "check_in_browser", "find_chromium"]

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
)
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")
# What the page shows, measured in the page itself: only elements with a rendered size count.
_PROBE = """(() => {
  const shown = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const all = sel => [...document.querySelectorAll(sel)];
  return JSON.stringify({
    tables: all('table').filter(shown).length,
    svgs: all('svg').filter(shown).length,
    images: [...document.images].filter(i => i.complete && i.naturalWidth > 0).length,
    broken_images: [...document.images].filter(i => i.complete && i.naturalWidth === 0).length,
    title: document.title,
    height: document.documentElement.scrollHeight,
  });
})()"""


@dataclass
class BrowserCheck:
    """What Chromium saw. ``ok`` when nothing went wrong and something was rendered."""

    url: str
    tables: int = 0
    svgs: int = 0
    images: int = 0
    broken_images: int = 0
    title: str = ""
    console_errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    screenshot: Path | None = None

    @property
    def ok(self) -> bool:
        return (
            not self.console_errors
            and not self.external_requests
            and not self.broken_images
            and self.tables > 0
        )


def find_chromium() -> str | None:
    """Path of a Chromium binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class _Session:
    """A tiny CDP client over one WebSocket, with flattened target sessions."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def send(
        self,
        method: str,
        params: dict | None = None,
        session: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        msg_id = next(self.ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while True:
            reply = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise WorkbenchError(f"chromium: {method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30.0) -> None:
        if any(e.get("method") == method for e in self.events):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            event = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            self.events.append(event)
            if event.get("method") == method:
                return
        raise WorkbenchError(f"chromium: no {method} within {timeout:g} s")


def _console_errors(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for e in events:
        method, p = e.get("method"), e.get("params", {})
        if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            out.append(d.get("exception", {}).get("description") or d.get("text", "exception"))
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            out.append(p["entry"].get("text", "error"))
    return out


def check_in_browser(
    page: str | Path,
    screenshot: str | Path | None = None,
    *,
    width: int = 1280,
    timeout: float = 60.0,
) -> BrowserCheck:
    """Render ``page`` (an HTML file) in headless Chromium and report what it shows.

    Parameters
    ----------
    page : path
        The HTML file to open (as a ``file://`` URL).
    screenshot : path, optional
        Where to write a full-page PNG screenshot.
    width : int
        Viewport width in CSS pixels.
    timeout : float
        Seconds for Chromium to start and the page to load.

    Raises
    ------
    WorkbenchError
        Chromium is missing or did not start.
    """
    binary = find_chromium()
    if binary is None:
        raise WorkbenchError(
            "chromium is not installed: run scripts/install-system-deps.sh "
            "(Debian package 'chromium')"
        )
    url = Path(page).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="wb-chromium-") as profile:
        proc = subprocess.Popen(
            [
                binary,
                *_FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            ws_url = _wait_listening(proc, timeout)
            with connect(ws_url, max_size=None, open_timeout=30) as ws:
                return _inspect(_Session(ws), url, screenshot, width, timeout)
        finally:
            _stop(proc)


def _inspect(
    session: _Session, url: str, screenshot: str | Path | None, width: int, timeout: float
) -> BrowserCheck:
    try:
        target = session.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = session.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Runtime", "Log", "Page", "Network"):
            session.send(f"{domain}.enable", session=sid)
        session.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            session=sid,
        )
        session.send("Page.navigate", {"url": url}, session=sid)
        session.wait_for("Page.loadEventFired", timeout)
        probe = session.send(
            "Runtime.evaluate", {"expression": _PROBE, "returnByValue": True}, session=sid
        )
        seen = json.loads(probe["result"]["value"])
        check = BrowserCheck(
            url=url,
            tables=seen["tables"],
            svgs=seen["svgs"],
            images=seen["images"],
            broken_images=seen["broken_images"],
            title=seen["title"],
        )
        if screenshot is not None:
            height = min(int(seen["height"]), 16000)
            shot = session.send(
                "Page.captureScreenshot",
                {
                    "format": "png",
                    "captureBeyondViewport": True,
                    "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
                },
                session=sid,
                timeout=timeout,
            )
            out = Path(screenshot)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(base64.b64decode(shot["data"]))
            check.screenshot = out
        check.console_errors = _console_errors(session.events)
        check.external_requests = [
            e["params"]["request"]["url"]
            for e in session.events
            if e.get("method") == "Network.requestWillBeSent"
            and not e["params"]["request"]["url"].startswith(("file:", "data:", "about:"))
        ]
        return check
    finally:
        with contextlib.suppress(Exception):
            session.send("Browser.close", timeout=5)


def _wait_listening(proc: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        lines.append(line)
        m = _LISTENING.search(line)
        if m:
            return m.group(1)
    raise WorkbenchError("chromium did not start: " + "".join(lines[-5:]).strip())


def _stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, 15)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        proc.wait()
    if proc.stderr:
        proc.stderr.close()

"""Measure what the gateway costs: throughput against bare Starlette, and added proxy latency.

Two figures decide whether the Python gateway is a fair stand-in for the plan's Go/Rust one:

* **Throughput ratio**: requests/s of the gateway's ``GET /health`` over those of a bare
  Starlette app (:func:`bare_app`) on the same uvicorn settings, one worker each, measured
  with ``wrk`` (closed loop). Target: at least 0.8.
* **Added latency**: p50 of client -> gateway -> backend minus p50 of client -> backend for
  the same request, both at a fixed arrival rate (open loop, 500 req/s by default) from
  :func:`paced_latencies`, a minimal keep-alive HTTP/1.1 client (so the client's own cost is
  small and the same on both paths). Target: p50 at most 1 ms.

Run ``python -m workbench.services.overhead`` for both (it starts and stops its own processes
on free ports); figures can be written to the result store through
:class:`workbench.results.Recorder` by the caller. The machine's other load shows in these
numbers: compare runs made side by side only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from workbench.errors import ServiceError

__all__ = ["bare_app", "measure", "paced_latencies", "record", "start_bare", "wrk_rps"]


def bare_app() -> Starlette:
    """The baseline: a Starlette app with only a ``/health`` like the services' one."""
    body = json.dumps({"status": "ok", "service": "bare"}).encode()

    async def health(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route("/health", health)])


def start_bare(
    port: int, host: str = "127.0.0.1", timeout_s: float = 30.0
) -> subprocess.Popen[bytes]:
    """Serve :func:`bare_app` with the same uvicorn options as the services; wait for it.

    Raises
    ------
    ServiceError
        The server exited (port taken, say) or did not answer within ``timeout_s``; the
        child is then killed if needed and always reaped (no zombie left behind).
    """
    import httpx

    code = (
        "import uvicorn; from workbench.services.overhead import bare_app; "
        f"uvicorn.run(bare_app(), host={host!r}, port={port}, log_level='warning', "
        "access_log=False, server_header=False, proxy_headers=False)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ServiceError(
                    f"bare Starlette app exited with code {proc.returncode} (port {port} taken?)"
                )
            try:
                if httpx.get(f"http://{host}:{port}/health", timeout=1).status_code == 200:
                    return proc
            except httpx.TransportError:
                time.sleep(0.05)
        raise ServiceError(f"bare Starlette app did not answer within {timeout_s:g} s")
    except BaseException:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        raise


def wrk_rps(url: str, duration_s: float = 5.0, connections: int = 32, threads: int = 1) -> float:
    """Requests/s of ``GET url`` measured by ``wrk`` (closed loop).

    Raises
    ------
    ServiceError
        ``wrk`` is not installed (``apt-get install wrk``) or its output has no rate.
    """
    exe = shutil.which("wrk")
    if exe is None:
        raise ServiceError("wrk is not installed (apt-get install wrk)")
    out = subprocess.run(
        [
            exe,
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(duration_s))}s",
            url,
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise ServiceError(f"wrk output without a rate:\n{out}")
    return float(m.group(1))


async def _paced(
    url: str,
    rate: float,
    duration_s: float,
    method: str,
    body: bytes,
    headers: Mapping[str, str],
    connections: int,
) -> list[float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = f"{method} {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    for k, v in headers.items():
        head += f"{k}: {v}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    request = head.encode() + b"\r\n" + body
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection(host, port))
    latencies: list[float] = []
    errors = 0

    async def one(scheduled: float) -> None:
        nonlocal errors
        reader, writer = await pool.get()
        try:
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            # Open loop: latency counts from the scheduled send time (no coordinated omission).
            latencies.append(time.perf_counter() - scheduled)
            if not status_line.startswith(b"HTTP/1.1 2"):
                errors += 1
        finally:
            pool.put_nowait((reader, writer))

    n = int(rate * duration_s)
    t0 = time.perf_counter() + 0.05
    tasks = []
    for i in range(n):
        at = t0 + i / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(at)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        _, w = pool.get_nowait()
        w.close()
    if errors:
        raise ServiceError(f"{errors} of {n} paced requests to {url} failed")
    return latencies


def paced_latencies(
    url: str,
    rate: float = 500.0,
    duration_s: float = 5.0,
    *,
    method: str = "GET",
    json_body: Any = None,
    headers: Mapping[str, str] | None = None,
    connections: int = 16,
) -> np.ndarray:
    """Latencies (seconds) of requests sent at a fixed ``rate`` for ``duration_s``.

    A minimal HTTP/1.1 keep-alive client over ``connections`` sockets, so that the client's
    own overhead is small and identical on the paths being compared.

    Raises
    ------
    ServiceError
        Any request got a non-2xx answer.
    """
    if rate <= 0 or duration_s <= 0:
        raise ValueError("rate and duration_s must be > 0")
    body = b"" if json_body is None else json.dumps(json_body).encode()
    lat = asyncio.run(_paced(url, rate, duration_s, method, body, dict(headers or {}), connections))
    return np.asarray(lat)


def measure(
    *,
    rounds: int = 3,
    duration_s: float = 5.0,
    rate: float = 500.0,
    state_dir: str | None = None,
) -> dict[str, Any]:
    """Start bare Starlette, graphrag and the gateway on free ports and measure both figures.

    Rounds alternate A/B so that background load hits both sides alike; the medians over
    rounds are reported with every round's value.
    """
    import tempfile

    if state_dir is not None:
        return _measure(rounds, duration_s, rate, state_dir)
    # The services' logs go to a temporary directory that is removed afterwards.
    with tempfile.TemporaryDirectory(prefix="wb-overhead-") as sdir:
        return _measure(rounds, duration_s, rate, sdir)


def _measure(rounds: int, duration_s: float, rate: float, sdir: str) -> dict[str, Any]:
    from workbench.services.launcher import free_port, running_services

    bare_port = free_port()
    bare = start_bare(bare_port)
    query = {"kind": "khop", "seeds": [0], "k": 1, "top": 1}
    out: dict[str, Any] = {"bare_rps": [], "gateway_rps": [], "direct_p50_s": [],
                           "proxied_p50_s": [], "rate": rate, "duration_s": duration_s}  # fmt: skip
    try:
        with running_services(
            ["graphrag", "gateway"],
            ports="free",
            state_dir=sdir,
            settings={
                "graphrag": {"graph": {"scale": 10}, "vectors": {"n": 1000, "dim": 16}},
                "gateway": {"rate_limit": {"rate_per_s": 1e9, "burst": 10**9}},
            },
            write_state=False,
        ) as svc:
            direct = svc.urls["graphrag"] + "/v1/graph/query"
            proxied = svc.gateway + "/v1/graph/query"
            hdr = {"Authorization": f"Bearer {svc.api_key}"}
            for _ in range(rounds):
                out["bare_rps"].append(wrk_rps(f"http://127.0.0.1:{bare_port}/health", duration_s))
                out["gateway_rps"].append(wrk_rps(svc.gateway + "/health", duration_s))
                d = paced_latencies(direct, rate, duration_s, method="POST", json_body=query)
                p = paced_latencies(
                    proxied, rate, duration_s, method="POST", json_body=query, headers=hdr
                )
                out["direct_p50_s"].append(float(np.median(d)))
                out["proxied_p50_s"].append(float(np.median(p)))
                out.setdefault("direct_p99_s", []).append(float(np.quantile(d, 0.99)))
                out.setdefault("proxied_p99_s", []).append(float(np.quantile(p, 0.99)))
    finally:
        bare.terminate()
        try:
            bare.wait(10)
        except subprocess.TimeoutExpired:
            bare.kill()
            bare.wait()
    ratios = [g / b for g, b in zip(out["gateway_rps"], out["bare_rps"], strict=True)]
    added = [p - d for p, d in zip(out["proxied_p50_s"], out["direct_p50_s"], strict=True)]
    out["rps_ratio"] = ratios
    out["added_p50_s"] = added
    out["median_rps_ratio"] = statistics.median(ratios)
    out["median_added_p50_s"] = statistics.median(added)
    return out


def record(recorder: Any, figures: Mapping[str, Any]) -> list[Any]:
    """Write :func:`measure`'s figures to a :class:`workbench.results.Recorder`.

    Rows: ``gateway/health`` x ``python-gateway``: ``rps_ratio_vs_bare_starlette`` (ratio) and
    the two rates (req/s); ``gateway/proxy`` x ``python-gateway``: ``added_latency_p50`` (s),
    each the median over rounds with min/max and every round as samples.
    """
    params = {"rate": figures["rate"], "duration_s": figures["duration_s"],
              "rounds": len(figures["rps_ratio"]), "workers": 1}  # fmt: skip
    rows = []

    def add(case: str, impl: str, metric: str, values: Sequence[float], unit: str) -> None:
        v = [float(x) for x in values]
        rows.append(
            recorder.record(
                case,
                impl,
                metric,
                statistics.median(v),
                unit,
                n=len(v),
                min=min(v),
                median=statistics.median(v),
                max=max(v),
                params=params,
                samples=v,
            )
        )

    add("gateway/health", "python-gateway", "rps_ratio_vs_bare_starlette", figures["rps_ratio"],
        "ratio")  # fmt: skip
    add("gateway/health", "python-gateway", "throughput", figures["gateway_rps"], "req/s")
    add("gateway/health", "bare-starlette", "throughput", figures["bare_rps"], "req/s")
    add("gateway/proxy", "python-gateway", "added_latency_p50", figures["added_p50_s"], "s")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Print the overhead figures as JSON."""
    parser = argparse.ArgumentParser(prog="python -m workbench.services.overhead")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--run-dir", help="also record the figures into this run's results")
    args = parser.parse_args(argv)
    figures = measure(rounds=args.rounds, duration_s=args.duration, rate=args.rate)
    if args.run_dir:
        from workbench.results import Recorder

        record(Recorder(args.run_dir, suite="services", notebook="gateway_overhead"), figures)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

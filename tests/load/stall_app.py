"""A server that stalls for a moment: the test of coordinated-omission correction.

``GET /health`` answers at once, except between ``STALL_AT`` and ``STALL_AT + STALL_S``
seconds after the first ``/health`` request of a run: a request arriving then waits until
the stall ends (as a GC pause or a lock would make it). ``POST /reset`` re-arms it for the
next run. Run as ``python stall_app.py PORT``.
"""

from __future__ import annotations

import asyncio
import sys
import time

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

STALL_AT = 2.0
STALL_S = 1.0
_first: list[float] = []


async def health(request):
    now = time.monotonic()
    if not _first:
        _first.append(now)
    start = _first[0] + STALL_AT
    if start <= now < start + STALL_S:
        await asyncio.sleep(start + STALL_S - now)
    return JSONResponse({"status": "ok"})


async def ready(request):
    return JSONResponse({"status": "ok"})


async def reset(request):
    _first.clear()
    return JSONResponse({"status": "reset"})


app = Starlette(
    routes=[
        Route("/health", health),
        Route("/ready", ready),
        Route("/reset", reset, methods=["POST"]),
    ]
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")

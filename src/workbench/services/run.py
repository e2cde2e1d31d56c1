"""Run one service in this process: ``python -m workbench.services.run NAME --port P``.

The launcher starts every service this way; settings arrive as JSON in the
``WORKBENCH_SERVICE_SETTINGS`` environment variable (so they never show in ``ps``). Running
it by hand is handy for debugging one service::

    WORKBENCH_SERVICE_SETTINGS='{"ttft_ms": 0}' python -m workbench.services.run llm-stub
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, build the service's app and serve it with uvicorn until stopped."""
    import uvicorn

    from workbench.services.common import configure_logging
    from workbench.services.launcher import SERVICES, SETTINGS_ENV

    parser = argparse.ArgumentParser(prog="python -m workbench.services.run")
    parser.add_argument("name", choices=sorted(SERVICES))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    spec = SERVICES[args.name]
    try:
        settings = json.loads(os.environ.get(SETTINGS_ENV, "{}"))
    except ValueError as exc:
        print(f"{SETTINGS_ENV} is not valid JSON: {exc}", file=sys.stderr)
        return 2
    port = args.port or int(settings.get("port", spec.port))
    settings.setdefault("name", args.name)
    settings.update(host=args.host, port=port)
    configure_logging(args.name, settings.get("log_level", "INFO"))
    module = importlib.import_module(spec.module)
    app = module.create_app(settings)
    # A service may tune its server (the realtime hub bounds WebSocket frames).
    options = getattr(module, "uvicorn_options", None)
    extra = dict(options(settings)) if options is not None else {}
    uvicorn.run(
        app,
        host=args.host,
        port=port,
        log_level=str(settings.get("log_level", "info")).lower(),
        access_log=bool(settings.get("access_log", False)),
        log_config=None,
        # Streams (chat tokens, websockets) must not hold a shutdown for long.
        timeout_graceful_shutdown=float(settings.get("graceful_shutdown_s", 3.0)),
        server_header=False,
        # No proxy sits in front of these services: uvicorn's default would trust
        # X-Forwarded-For from any loopback client (every client here) and rewrite the peer
        # address with it, so the gateway would forward a spoofed client address; it is
        # also per-request work on the hot path.
        proxy_headers=False,
        # Longer than the gateway's pool keeps idle connections (30 s), so the gateway, not
        # the backend, closes them: no request is ever written into a closing socket.
        timeout_keep_alive=int(settings.get("keep_alive_s", 75)),
        **extra,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

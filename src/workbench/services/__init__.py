"""The reference services: gateway, ai-core, graphrag, llm stub, data tier, realtime.

Each service is a Starlette app built by its module's ``create_app(settings)`` (conventions in
:mod:`workbench.services.common`) and run as its own process by
:mod:`workbench.services.launcher`, which ``workbench serve``, the tests, the notebooks and the
load tests use to start and stop them.

Service modules are imported lazily (they pull in numba, httpx, ollama, ...): importing this
package is cheap.
"""

from workbench.services.common import (
    ApiError,
    ServiceMetrics,
    build_app,
    error_response,
    memory_snapshot,
    read_json,
)
from workbench.services.launcher import (
    SERVICES,
    ServiceSet,
    ServiceSpec,
    add_serve_arguments,
    available_services,
    plan_services,
    read_serve_state,
    run_serve,
    running_services,
    serve,
)

__all__ = [
    "SERVICES",
    "ApiError",
    "ServiceMetrics",
    "ServiceSet",
    "ServiceSpec",
    "add_serve_arguments",
    "available_services",
    "build_app",
    "error_response",
    "memory_snapshot",
    "plan_services",
    "read_json",
    "read_serve_state",
    "run_serve",
    "running_services",
    "serve",
]

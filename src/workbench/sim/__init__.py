"""Simulators: LLM router (router.py) and memory/GC (memory.py), plus queueing closed forms.

Nothing is imported eagerly (the numba kernels load on first use). The router's public
names resolve lazily from this package: ``from workbench.sim import simulate`` is
``workbench.sim.router.simulate``.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Dist",
    "Provider",
    "RoutingPolicy",
    "SimResult",
    "Workload",
    "erlang_c_wait",
    "mg1_wait",
    "simulate",
    "simulate_mmc",
]

_LAZY = {
    "Dist": "workbench.sim.distributions",
    "Provider": "workbench.sim.providers",
    "RoutingPolicy": "workbench.sim.policies",
    "SimResult": "workbench.sim.router",
    "Workload": "workbench.sim.workload",
    "erlang_c_wait": "workbench.sim.queueing",
    "mg1_wait": "workbench.sim.queueing",
    "simulate": "workbench.sim.router",
    "simulate_mmc": "workbench.sim.router",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'workbench.sim' has no attribute {name!r}")

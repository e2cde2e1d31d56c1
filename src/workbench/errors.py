"""One exception hierarchy for the workbench, rooted at :class:`WorkbenchError`.

Catch ``WorkbenchError`` to handle anything the workbench raises on purpose; the
subclasses say which part went wrong. Input validation in public functions raises the
built-in ``ValueError``/``TypeError`` (as numpy and networkx do); these classes are
for the workbench's own machinery: suites, runs, stores, services.
"""

from __future__ import annotations

__all__ = [
    "ClaimsError",
    "MissingExtraError",
    "ResultError",
    "RunError",
    "ServiceError",
    "SuiteError",
    "WorkbenchError",
]


class WorkbenchError(Exception):
    """Base class of every error the workbench raises on purpose."""


class SuiteError(WorkbenchError, ValueError):
    """A suite file is invalid. The message names the file, the key and the reason."""

    def __init__(self, path: object, key: str, reason: str) -> None:
        self.path = str(path)
        self.key = key
        self.reason = reason
        super().__init__(f"{self.path}: {key}: {reason}")


class ResultError(WorkbenchError, ValueError):
    """A result row does not fit the result schema, or the store cannot be read."""


class ClaimsError(WorkbenchError, ValueError):
    """The claims file is malformed."""


class RunError(WorkbenchError):
    """A benchmark run could not be started or finished (lock held, unknown run id, ...)."""


class ServiceError(WorkbenchError):
    """A reference service could not be started, reached or stopped."""


class MissingExtraError(WorkbenchError, ImportError):
    """An optional dependency is missing; the message names the extra that provides it."""

    def __init__(self, module: str, extra: str, purpose: str, install: str | None = None) -> None:
        self.module = module
        self.extra = extra
        install = install or f"pip install -e '.[{extra}]'"
        super().__init__(
            f"{purpose} needs the optional package {module!r}. Install it with: {install}"
        )


def require(module: str, extra: str, purpose: str, install: str | None = None):
    """Import an optional module or raise :class:`MissingExtraError` saying how to install it
    (``install``, or by default the extra that provides it).

    Examples
    --------
    >>> math = require("math", "none", "this example")
    >>> math.sqrt(4.0)
    2.0
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError(module, extra, purpose, install) from exc

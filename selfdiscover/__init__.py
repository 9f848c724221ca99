"""selfdiscover: which ECS task am I?

``import selfdiscover`` does no I/O and imports no HTTP client; the names
below that need one (``discover``, ``AgentClient``) load it on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._containerid import container_id
from ._errors import (
    AgentResponseError,
    AgentUnavailableError,
    AmbiguousIDError,
    DiscoveryError,
    EnvFileError,
    NotInECSError,
    SelfdiscoverError,
    SourceConflictError,
    TaskNotFoundError,
)
from ._model import TaskInfo
from ._version import __version__
from .sources._timing import Retry, Timeout

if TYPE_CHECKING:
    from ._discover import discover
    from .sources._agent import AgentClient

__all__ = [
    "AgentClient",
    "AgentResponseError",
    "AgentUnavailableError",
    "AmbiguousIDError",
    "DiscoveryError",
    "EnvFileError",
    "NotInECSError",
    "Retry",
    "SelfdiscoverError",
    "SourceConflictError",
    "TaskInfo",
    "TaskNotFoundError",
    "Timeout",
    "__version__",
    "container_id",
    "discover",
]

_LAZY = {"discover": "._discover", "AgentClient": ".sources._agent"}


def __dir__() -> list[str]:
    return sorted(__all__)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'selfdiscover' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value

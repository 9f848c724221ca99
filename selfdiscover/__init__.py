"""selfdiscover: which ECS task am I?

``import selfdiscover`` does no I/O and imports nothing, not even ``typing``:
each name below is loaded on first use.
"""

from ._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._containerid import container_id
    from ._discover import discover
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
    from .sources._agent import AgentClient
    from .sources._timing import Retry, Timeout

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

# Where each name lives; loaded on first use, so that ``import selfdiscover``
# costs a program that only imports it (a logging setup, a plugin scan) nothing.
_LAZY = {
    "container_id": "._containerid",
    "discover": "._discover",
    "TaskInfo": "._model",
    "AgentClient": ".sources._agent",
    "Retry": ".sources._timing",
    "Timeout": ".sources._timing",
    **{name: "._errors" for name in __all__ if name.endswith("Error")},
}


def __dir__() -> list[str]:
    return sorted(__all__)


def __getattr__(name: str) -> "Any":
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'selfdiscover' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value

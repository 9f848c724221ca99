"""selfdiscover: which ECS task am I?

``import selfdiscover`` does no I/O and imports nothing, not even ``typing``:
each name below is loaded on first use.
"""

from ._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:  # "import X as X": a re-export, to type checkers
    from typing import Any

    from ._containerid import container_id as container_id
    from ._discover import discover as discover
    from ._errors import AgentResponseError as AgentResponseError
    from ._errors import AgentUnavailableError as AgentUnavailableError
    from ._errors import AmbiguousIDError as AmbiguousIDError
    from ._errors import DiscoveryError as DiscoveryError
    from ._errors import EnvFileError as EnvFileError
    from ._errors import NotInECSError as NotInECSError
    from ._errors import SelfdiscoverError as SelfdiscoverError
    from ._errors import SourceConflictError as SourceConflictError
    from ._errors import TaskNotFoundError as TaskNotFoundError
    from ._errors import TaskProtectionError as TaskProtectionError
    from ._limits import EffectiveLimits as EffectiveLimits
    from ._limits import effective_limits as effective_limits
    from ._model import TaskInfo as TaskInfo
    from ._protection import TaskProtection as TaskProtection
    from ._protection import get_task_protection as get_task_protection
    from ._protection import set_task_protection as set_task_protection
    from ._protection import task_protection as task_protection
    from .sources._agent import AgentClient as AgentClient
    from .sources._timing import Retry as Retry
    from .sources._timing import Timeout as Timeout

# The public names and where each lives: the one list. ``__all__`` and
# ``dir()`` follow it; the imports above say the same to type checkers, which
# cannot see through ``__getattr__`` (a test holds the two equal). Each name is
# loaded on first use, so that ``import selfdiscover`` costs a program that
# only imports it (a logging setup, a plugin scan) nothing.
_LAZY = {
    "container_id": "._containerid",
    "discover": "._discover",
    "effective_limits": "._limits",
    "EffectiveLimits": "._limits",
    "get_task_protection": "._protection",
    "set_task_protection": "._protection",
    "task_protection": "._protection",
    "TaskProtection": "._protection",
    "TaskInfo": "._model",
    "AgentClient": ".sources._agent",
    "Retry": ".sources._timing",
    "Timeout": ".sources._timing",
    **dict.fromkeys(
        (
            "AgentResponseError",
            "AgentUnavailableError",
            "AmbiguousIDError",
            "DiscoveryError",
            "EnvFileError",
            "NotInECSError",
            "SelfdiscoverError",
            "SourceConflictError",
            "TaskNotFoundError",
            "TaskProtectionError",
        ),
        "._errors",
    ),
}
__all__ = ["__version__", *_LAZY]


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

"""One exception tree, so callers catch what they mean and nothing else.

``SelfdiscoverError`` is the root. Discovery failures split in two on purpose:
``NotInECSError`` (nothing says this is an ECS container: a laptop, CI) and
``AgentUnavailableError`` / ``AgentResponseError`` (this *is* ECS, but the agent
could not answer or answered nonsense). The shim's failure policy depends on
telling those apart.
"""

from __future__ import annotations


class SelfdiscoverError(Exception):
    """Root of every error this library raises on purpose."""


class DiscoveryError(SelfdiscoverError):
    """The task this process belongs to could not be determined."""


class NotInECSError(DiscoveryError):
    """No sign of ECS: no container ID, no ECS variables, no agent."""


class AgentUnavailableError(DiscoveryError):
    """In ECS (or told where the agent is), but no answer before the deadline.

    Raised after retries: connection refused or reset, timeouts, 5xx, 429 and the
    404 start-up race all end here when the deadline passes.
    """


class AgentResponseError(DiscoveryError):
    """The agent answered, but not with what the contract promises.

    Not retried: malformed JSON, a 200 that is not a task, a wrong shape.
    """


class AmbiguousIDError(AgentResponseError):
    """The agent answered 400: a short ID matched several containers, or both
    ``dockerid`` and ``taskarn`` were sent."""


class TaskNotFoundError(AgentResponseError):
    """The agent does not know the task or container asked for (404 after the
    deadline for retries passed, or a lookup that is not retried)."""


class SourceConflictError(DiscoveryError):
    """Two metadata sources named different tasks (``verify=True`` / ``SELFDISCOVER_VERIFY=1``)."""


class EnvFileError(SelfdiscoverError, ValueError):
    """A value cannot be written in the chosen env-file dialect, or the write failed.

    ``variable`` names the offending variable when there is one, so the message
    can say which value was refused instead of writing it mangled. ``reason``
    is the cause alone (without the path), for a message that lists several
    locations and must not repeat itself.
    """

    def __init__(self, message: str, *, variable: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable
        self.reason = reason or message


class TaskProtectionError(SelfdiscoverError):
    """A task scale-in protection call failed in ECS: the agent or ECS refused
    it, or no answer came before the deadline.

    ``code`` is the agent's or ECS's (``TASK_NOT_VALID``, ``DEPLOYMENT_BLOCKED``,
    ``AccessDeniedException``, ``ThrottlingException``, ``RequestCanceled``, ...),
    or one of selfdiscover's where the answer has none: ``AgentUnavailable`` (no
    answer before the deadline), ``TooManyRequests`` (the task metadata
    endpoint's limiter), ``NotSupported`` (no such route: an agent before 1.65),
    ``InvalidResponse`` (an answer that breaks the contract) and
    ``InvalidAgentURI``. ``status`` is the HTTP status of the answer, if one came.
    """

    def __init__(self, message: str, *, code: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class RetryableError(AgentUnavailableError):
    """A failure worth another try while the deadline allows: refused, reset,
    timed out, 5xx, 429, the 404 start-up race. Private: callers see it as
    ``AgentUnavailableError`` (or ``TaskNotFoundError`` for a 404 that lasted)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

"""Task scale-in protection from inside the task (ECS agent 1.65+).

A task protects itself from scale-in and deployments with
``PUT $ECS_AGENT_URI/task-protection/v1/state`` (``{"ProtectionEnabled": true,
"ExpiresInMinutes": N}``) and reads the state with ``GET``. Each call here is
the guarded request of discovery (``sources._http``: caps, watchdog) in the one
retry loop (``sources._retry``) under one deadline (``SELFDISCOVER_TIMEOUT``,
default 10 s): 429, 5xx, ``ThrottlingException``, ``RequestCanceled``, refused
and reset are retried with backoff; the other 4xx answers and ECS's failures
are not. The read timeout is 5 s, above the agent's own 4 s limit on its ECS
call, so a slow but healthy answer is not cut and retried for ever. Every
failure in ECS, a deadline that runs out included, is a ``TaskProtectionError``
with the agent's or ECS's ``code`` and one line that says what to do; without
``ECS_AGENT_URI`` there is no task to protect (``NotInECSError``).

``task_protection()`` is for jobs. The process has one protection, reference
counted across threads: the agent is asked when the first job starts (on), when
the last one ends (off), and, while any job is held, each time half of the
protection's time has passed (a renewal, from a daemon thread), so a 1-minute
protection held for 5 minutes stays on, and a crashed worker's protection ends
within its expiry. Overlapping jobs share the first one's expiry. A failed
enable lets the job run with one warning (unless ``required=True``) and is
retried on the renewal schedule, sooner at first; a failure is never a reason
to stop trying for the life of the worker.

``run_protect`` and ``show_protection`` are ``selfdiscover protect`` and
``selfdiscover protection``; ``doctor_lines`` is what ``doctor`` reports.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from . import _settings
from ._errors import AgentResponseError, NotInECSError, RetryableError, TaskProtectionError
from ._model._fields import text_field
from .sources import _http, _retry
from .sources._timing import Retry, Timeout

if TYPE_CHECKING:
    import subprocess

    from ._outputs._shim import Diag
    from ._settings import Settings

__all__ = [
    "TaskProtection",
    "doctor_lines",
    "get_task_protection",
    "set_task_protection",
    "task_protection",
]

AGENT_URI = "ECS_AGENT_URI"
PATH = "/task-protection/v1/state"
MIN_MINUTES = 1
MAX_MINUTES = 2880  # ECS's bounds for ExpiresInMinutes (ECS's default when none is sent: 120)
DEFAULT_MINUTES = 60
BODY_CAP = 64 * 1024  # an answer is a few hundred bytes
READ_TIMEOUT = 5.0  # above the agent's 4 s limit on its own call to ECS
# Seconds in a minute of protection: the renewal schedule reads it when it waits, so
# tests shorten it instead of waiting for minutes.
MINUTE = 60.0
# After a failed enable or renewal the next try comes sooner than the next renewal:
# after this many minutes, doubling up to the renewal period.
FIRST_RETRY_MINUTES = 0.5
# Answers retried even when their status is a 4xx (ECS's throttling arrives as 400).
_RETRIED_CODES = frozenset({"ThrottlingException", "RequestCanceled", "ServerException"})
_CODE_RE = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)

_log = logging.getLogger("selfdiscover.protection")


@dataclass(frozen=True, slots=True)
class TaskProtection:
    """The task's scale-in protection as ECS reports it. ``expires_at`` is an
    aware UTC ``datetime``, None when protection is off."""

    enabled: bool
    expires_at: datetime | None
    task_arn: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``expires_at`` as RFC 3339 in UTC (``2026-12-05T18:46:45Z``) or None."""
        when = None
        if self.expires_at is not None:
            when = self.expires_at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
        return {"enabled": self.enabled, "expires_at": when, "task_arn": self.task_arn}


# --- pure: minutes, times, answers, messages ----------------------------------------------


def check_minutes(value: object, what: str = "expires_in_minutes") -> int:
    """``value`` if it is a whole number of minutes ECS accepts (1..2880), else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_MINUTES <= value <= MAX_MINUTES:
        raise ValueError(
            f"{what} must be a whole number of minutes from {MIN_MINUTES} to {MAX_MINUTES} "
            f"(ECS's bounds), got {value!r}"
        )
    return value


def parse_time(text: str) -> datetime:
    """RFC 3339 as Go prints a ``time.Time`` (fraction up to nanoseconds, ``Z``
    or an offset), as an aware UTC ``datetime``; ``ValueError`` otherwise."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise ValueError(f"not an RFC 3339 time: {text[:60]!r}")
    year, month, day, hour, minute, second, frac, z, sign, off_h, off_m = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    offset = timedelta(0)
    if not z:
        offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (1 if sign == "+" else -1)
    try:
        when = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, timezone(offset)
        )
        return when.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise ValueError(f"not a valid time: {text[:60]!r}") from None


def _one_line(value: object, limit: int = 400) -> str:
    """A message from the agent, made one bounded line (it is untrusted text)."""
    text = value if isinstance(value, str) else ""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text[: limit * 2]).split())
    return text[:limit]


def _advice(code: str, detail: str, status: int | None) -> str:
    """What to do about a failure, in one clause."""
    if code == "TASK_NOT_VALID":
        return (
            "only tasks that belong to an ECS service can be protected: run this task in a service "
            "(a standalone or scheduled task has no scale-in to be protected from)"
        )
    if code == "DEPLOYMENT_BLOCKED":
        return (
            "more of the service's tasks would be protected than its deployment allows: protect only "
            "while a job runs, with a shorter expiry, or raise the service's desired count"
        )
    if code == "AccessDeniedException":
        if status == 403 or "no task IAM role" in detail:
            return (
                "the task has no task role: set taskRoleArn in the task definition to a role that allows "
                "ecs:UpdateTaskProtection (and ecs:GetTaskProtection to read the state)"
            )
        return (
            "the task role lacks the permission: allow ecs:UpdateTaskProtection and "
            "ecs:GetTaskProtection (on this task's ARN) in the task role's policy"
        )
    if code == "ThrottlingException":
        return (
            "ECS rate-limits UpdateTaskProtection per account and Region: turn protection on when a "
            "worker goes from idle to busy and off when it goes back (task_protection() does), not "
            "per message; SELFDISCOVER_TIMEOUT leaves more time for retries"
        )
    if code == "TooManyRequests":
        return (
            "the task metadata endpoint allows 40 requests/s (burst 60), shared with the metadata "
            "endpoint: something in this task polls it hard"
        )
    if code == "RequestCanceled":
        return (
            "ECS did not answer the agent within the agent's 4 s: ECS is slow or unreachable from "
            "the instance (routes, VPC endpoints); try again later"
        )
    if code == "ResourceNotFoundException":
        return "the agent knows no task at this ECS_AGENT_URI: use the value the agent injected, unchanged"
    if code == "InvalidParameterException":
        return "expires_in_minutes must be 1 to 2880; any other refusal is a selfdiscover bug: report it"
    if code == "NotSupported":
        return (
            "the agent serves no task protection here: it needs ECS agent 1.65 or later, and "
            "ECS_AGENT_URI as the agent injected it"
        )
    if code == "AgentUnavailable":
        return "the agent did not answer in time; SELFDISCOVER_TIMEOUT sets the deadline"
    if code == "InvalidResponse":
        return "the agent's answer breaks its contract: run 'selfdiscover doctor' and report what it says"
    if code == "InvalidAgentURI":
        return "ECS_AGENT_URI must be the http:// URL the agent injects (http://169.254.170.2/api/<id>)"
    if code == "ServerException":
        return "the agent failed; see its log on the instance"
    return "see ECS's UpdateTaskProtection reference for this code"


def _explain(code: str, detail: str, status: int | None, attempts: int = 1) -> str:
    """The one line of a ``TaskProtectionError``: what happened, then what to do."""
    what = f"{code}: {detail}" if detail else code
    tried = f" (after {attempts} attempts)" if attempts > 1 else ""
    return f"task protection failed: {what}{tried}; {_advice(code, detail, status)}"


def _error(code: str, detail: str, status: int | None, attempts: int = 1) -> TaskProtectionError:
    return TaskProtectionError(_explain(code, detail, status, attempts), code=code, status=status)


class _Again(RetryableError):
    """An answer worth another try (429, 5xx, ThrottlingException, ...); what it said is kept
    for the error that ends the retries."""

    def __init__(self, code: str, detail: str, status: int) -> None:
        super().__init__(f"{code}: {detail}", status=status)
        self.code = code
        self.detail = detail


# What _http says of a request that never left: it cannot have changed anything.
_UNSENT = ("connection refused", "before the request was sent")


@dataclass(slots=True)
class _Outcome:
    """Whether a failed call may still have changed the protection: a request went out
    and got no answer, or an answer from a server that failed (5xx, the agent's timeout
    on ECS). A refused connection or a refusal by ECS changed nothing."""

    maybe_applied: bool = False


def parse_protection(obj: Mapping[str, Any]) -> TaskProtection:
    """The ``protection`` object of a 200 answer; ``AgentResponseError`` for a wrong shape."""
    enabled = obj.get("ProtectionEnabled")
    if not isinstance(enabled, bool):
        raise AgentResponseError(f"protection ProtectionEnabled is {type(enabled).__name__}, not a boolean")
    raw = obj.get("ExpirationDate")
    expires = None
    if raw is not None:
        if not isinstance(raw, str):
            raise AgentResponseError(f"protection ExpirationDate is {type(raw).__name__}, not a string")
        try:
            expires = parse_time(raw)
        except ValueError as e:
            raise AgentResponseError(f"protection ExpirationDate: {e}") from None
    arn = text_field(obj, "TaskArn", where="protection")
    if arn is not None and not arn.startswith("arn:"):
        raise AgentResponseError(f"protection TaskArn {arn[:80]!r} is not an ARN")
    return TaskProtection(enabled, expires, arn)


def interpret(status: int, body: bytes) -> TaskProtection:
    """One answer of the agent: the protection, or the error to raise (``_Again``
    for one worth retrying, else ``TaskProtectionError``)."""
    obj: Any = None
    why = ""
    try:
        obj = _http.Response(status, body, {}).json()
    except AgentResponseError as e:
        why = str(e)
    if isinstance(obj, dict):
        error, failure, protection = obj.get("error"), obj.get("failure"), obj.get("protection")
        code = error.get("Code") if isinstance(error, dict) else None
        if isinstance(error, dict) and isinstance(code, str) and _CODE_RE.fullmatch(code):
            detail = _one_line(error.get("Message"))
            if status == 429 or status >= 500 or code in _RETRIED_CODES:
                raise _Again(code, detail, status)
            raise _error(code, detail, status)
        if isinstance(failure, dict):
            reason = failure.get("Reason")
            code = reason if isinstance(reason, str) and _CODE_RE.fullmatch(reason) else "Failure"
            raise _error(code, _one_line(failure.get("Detail")), status)
        if status == 200 and isinstance(protection, dict):
            try:
                return parse_protection(protection)
            except AgentResponseError as e:
                raise _error("InvalidResponse", str(e), status) from None
        why = why or "JSON without protection, failure or error"
    if status == 429:
        raise _Again("TooManyRequests", f"HTTP 429 {_one_line(body.decode('utf-8', 'replace'), 80)}", 429)
    if status >= 500:
        raise _Again("AgentUnavailable", f"HTTP {status}", status)
    if status == 404:
        raise _error("NotSupported", f"HTTP 404 {_one_line(body.decode('utf-8', 'replace'), 80)}", 404)
    raise _error("InvalidResponse", f"HTTP {status}: {why}", status)


# --- one call -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Client:
    """The agent's task-protection route at ``uri`` (``ECS_AGENT_URI``)."""

    uri: str
    timeout: Timeout
    retry: Retry

    def call(
        self,
        enabled: bool | None,
        minutes: int | None = None,
        *,
        deadline: float | None = None,
        outcome: _Outcome | None = None,
    ) -> TaskProtection:
        """``GET`` (``enabled`` None) or ``PUT``, retried until ``deadline``
        (default: ``timeout.total`` from now). ``outcome`` learns whether a failed
        call may have changed the protection all the same."""
        seen = outcome if outcome is not None else _Outcome()
        end = deadline if deadline is not None else time.monotonic() + self.timeout.total
        method, body, headers = "GET", None, None
        if enabled is not None:
            request: dict[str, object] = {"ProtectionEnabled": enabled}
            if minutes is not None:
                request["ExpiresInMinutes"] = minutes
            method, body = "PUT", json.dumps(request).encode()
            headers = {"Content-Type": "application/json"}
        answered: dict[int, _Again] = {}  # status -> the last retryable answer with it
        attempts = 0

        def once() -> TaskProtection:
            nonlocal attempts
            attempts += 1
            try:
                resp = _http.get(
                    self.uri,
                    PATH,
                    timeout=self.timeout,
                    deadline=end,
                    body_cap=BODY_CAP,
                    method=method,
                    headers=headers,
                    body=body,
                )
            except RetryableError as e:
                seen.maybe_applied |= not str(e).endswith(_UNSENT)
                raise
            seen.maybe_applied |= resp.status >= 500
            try:
                return interpret(resp.status, resp.body)
            except _Again as e:
                answered[resp.status] = e
                raise

        try:
            return _retry.call(once, deadline=end, retry=self.retry)
        except RetryableError as e:  # the deadline ended the retries
            last = answered.get(e.status) if e.status is not None else None
            if last is not None:
                raise _error(last.code, last.detail, e.status, attempts) from None
            raise _error("AgentUnavailable", str(e), None) from None
        except AgentResponseError as e:  # over the cap, an encoding never asked for
            raise _error("InvalidResponse", str(e), None) from None


def _timeout(total: float | None) -> Timeout:
    return Timeout(read=READ_TIMEOUT) if total is None else Timeout(read=READ_TIMEOUT, total=total)


def _client(
    environ: Mapping[str, str] | None,
    timeout: Timeout | None = None,
    retry: Retry | None = None,
    settings: Settings | None = None,
) -> _Client | None:
    """The client ``ECS_AGENT_URI`` names, or None without one. The deadline and
    retries are ``timeout``/``retry`` when given, else the settings'
    (``SELFDISCOVER_TIMEOUT``, ``SELFDISCOVER_RETRIES``): a malformed one is a
    ``ValueError`` before any request."""
    env = os.environ if environ is None else environ
    if timeout is None or retry is None:
        settings = settings or _settings.read(env)
        timeout = timeout or _timeout(settings.timeout)
        retry = retry or Retry(enabled=settings.retries)
    uri = env.get(AGENT_URI, "").strip().rstrip("/")
    if not uri:
        return None
    try:
        _http.split_base(uri)
    except ValueError as e:
        raise _error("InvalidAgentURI", str(e), None) from None
    return _Client(uri, timeout, retry)


def _not_in_ecs() -> NotInECSError:
    return NotInECSError(
        f"no {AGENT_URI} in the environment: not an ECS task (or an ECS agent before 1.65), "
        "so there is no task to protect"
    )


def get_task_protection(
    *, timeout: Timeout | None = None, retry: Retry | None = None, environ: Mapping[str, str] | None = None
) -> TaskProtection:
    """The task's scale-in protection now. ``TaskProtectionError`` when the agent
    or ECS refuses or does not answer in time; ``NotInECSError`` outside ECS."""
    client = _client(environ, timeout, retry)
    if client is None:
        raise _not_in_ecs()
    return client.call(None)


def set_task_protection(
    enabled: bool,
    expires_in_minutes: int | None = None,
    *,
    timeout: Timeout | None = None,
    retry: Retry | None = None,
    environ: Mapping[str, str] | None = None,
) -> TaskProtection:
    """Turn the task's scale-in protection on (for ``expires_in_minutes``, 1..2880;
    ECS's default 120 when None) or off; each call resets the expiry. Returns the
    state ECS reports. ``ValueError`` for minutes out of bounds, before any request."""
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be True or False, got {enabled!r}")
    minutes = None if expires_in_minutes is None else check_minutes(expires_in_minutes)
    client = _client(environ, timeout, retry)
    if client is None:
        raise _not_in_ecs()
    return client.call(enabled, minutes)


# --- the process's one protection, shared by its jobs ---------------------------------------


class _Cycle:
    """One protection, from the first job's start to the last one's end, and its renewals."""

    def __init__(self, client: _Client, minutes: int) -> None:
        self.client = client
        self.minutes = minutes
        self.stop = threading.Event()
        self.retry_minutes = FIRST_RETRY_MINUTES

    def half(self) -> float:
        return self.minutes * MINUTE / 2

    def next_retry(self) -> float:
        """Seconds until the next try after a failure: sooner at first, never later than a renewal."""
        wait = min(self.retry_minutes * MINUTE, self.half())
        self.retry_minutes *= 2
        return wait

    def run(self, guard: _Guard) -> None:
        wait = self.half() if guard.state is not None else self.next_retry()
        while not self.stop.wait(wait):
            with guard.lock:
                if self.stop.is_set() or guard.cycle is not self:
                    return
                wait = guard.renew(self)


class _Guard:
    """The process's protection: how many jobs hold it, the cycle, what ECS last said."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # held across agent calls: transitions never interleave
        self.held = 0
        self.cycle: _Cycle | None = None
        self.state: TaskProtection | None = None  # None: not (known to be) on
        self.maybe_on = False  # the agent may have protection on: release it at the end
        self.warned_outside = False

    def acquire(self, client: _Client, minutes: int, required: bool) -> TaskProtection | None:
        with self.lock:
            self.held += 1
            try:
                if self.held == 1:
                    cycle = self.cycle = _Cycle(client, minutes)
                    self._turn_on(cycle, required)
                    thread = threading.Thread(
                        target=cycle.run, args=(self,), name="selfdiscover-protection", daemon=True
                    )
                    thread.start()
                elif self.state is None and required and self.cycle is not None:
                    self._turn_on(self.cycle, required)  # on failure, this job needs it on now
                return self.state
            except BaseException:
                self._release_locked()
                raise

    def _turn_on(self, cycle: _Cycle, required: bool) -> None:
        outcome = _Outcome()
        try:
            self.state = cycle.client.call(True, cycle.minutes, outcome=outcome)
            self.maybe_on = True
        except TaskProtectionError as e:
            self.maybe_on = self.maybe_on or outcome.maybe_applied
            if required:
                raise
            _log.warning("selfdiscover: %s; the job runs without scale-in protection", e)

    def renew(self, cycle: _Cycle) -> float:
        """One renewal (or a retry of a failed enable); the seconds until the next. Lock held."""
        outcome = _Outcome()
        try:
            self.state = cycle.client.call(True, cycle.minutes, outcome=outcome)
        except TaskProtectionError as e:
            self.maybe_on = self.maybe_on or outcome.maybe_applied
            wait = cycle.next_retry()
            state = "not renewed" if self.state is not None else "still off"
            _log.warning("selfdiscover: %s; scale-in protection %s, next try in %.0f s", e, state, wait)
            return wait
        self.maybe_on = True
        cycle.retry_minutes = FIRST_RETRY_MINUTES
        return cycle.half()

    def release(self) -> None:
        with self.lock:
            self._release_locked()

    def _release_locked(self) -> None:
        self.held -= 1
        if self.held > 0:
            return
        cycle, self.cycle = self.cycle, None
        maybe_on, self.maybe_on, self.state = self.maybe_on, False, None
        if cycle is None:
            return
        cycle.stop.set()
        if not maybe_on:
            return
        try:
            cycle.client.call(False)
        except TaskProtectionError as e:
            _log.warning(
                "selfdiscover: %s; scale-in protection stays on until it expires (within %d minutes)",
                e,
                cycle.minutes,
            )

    def warn_outside(self) -> None:
        with _WARN_LOCK:
            if self.warned_outside:
                return
            self.warned_outside = True
        _log.warning("selfdiscover: no %s (not an ECS task): task_protection() does nothing here", AGENT_URI)


_WARN_LOCK = threading.Lock()
_GUARD = _Guard()


def _reset_after_fork() -> None:
    """A forked child holds no job and runs no renewal thread: it starts afresh."""
    global _GUARD
    _GUARD = _Guard()


os.register_at_fork(after_in_child=_reset_after_fork)


class ProtectedJob:
    """What ``task_protection()`` returns: ``with`` or ``async with`` it around one
    job. Entering gives the protection ECS reported (None outside ECS, or when
    enabling failed and the job runs anyway); it can be entered again, from any
    thread, for each job."""

    __slots__ = ("_client", "_minutes", "_required")

    def __init__(self, client: _Client | None, minutes: int, required: bool) -> None:
        self._client = client
        self._minutes = minutes
        self._required = required

    def __enter__(self) -> TaskProtection | None:
        if self._client is None:
            if self._required:
                raise _not_in_ecs()
            _GUARD.warn_outside()
            return None
        return _GUARD.acquire(self._client, self._minutes, self._required)

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._client is not None:
            _GUARD.release()

    async def __aenter__(self) -> TaskProtection | None:
        """The agent calls run in a worker thread. A cancelled enter whose enable
        completes anyway is released, by whichever side learns of the other last."""
        if self._client is None:
            return self.__enter__()
        import asyncio

        lock = threading.Lock()
        entered = abandoned = False

        def enter() -> TaskProtection | None:
            nonlocal entered
            state = self.__enter__()
            with lock:
                entered = not abandoned
            if not entered:  # the coroutine was cancelled meanwhile: nobody will exit
                self.__exit__(None, None, None)
            return state

        try:
            return await asyncio.to_thread(enter)
        except asyncio.CancelledError:
            with lock:
                abandoned = True
                undo = entered
            if undo:  # entered, but the answer never reached the job: release (not a daemon: it finishes)
                threading.Thread(
                    target=self.__exit__, args=(None, None, None), name="selfdiscover-protection"
                ).start()
            raise

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        """The release runs in a worker thread; it completes even when this is cancelled."""
        if self._client is None:
            return
        import asyncio

        await asyncio.to_thread(self.__exit__, None, None, None)


def task_protection(expires_in_minutes: int = DEFAULT_MINUTES, required: bool = False) -> ProtectedJob:
    """Protect the task from scale-in while a job runs::

        with selfdiscover.task_protection():
            handle(message)

    Reference-counted across threads: the agent is asked when the first job
    starts and when the last one ends, plus a renewal each time half of
    ``expires_in_minutes`` has passed while any job is held. On exit protection
    is released, also when the job raised. When enabling fails the job runs
    with one warning (logger ``selfdiscover.protection``), unless
    ``required=True``: then ``TaskProtectionError`` before the job starts
    (``NotInECSError`` outside ECS). Outside ECS (no ``ECS_AGENT_URI``) it does
    nothing, with one warning per process. ``ValueError`` for minutes outside
    1..2880 or a malformed ``SELFDISCOVER_TIMEOUT``, before any request."""
    minutes = check_minutes(expires_in_minutes)
    return ProtectedJob(_client(None), minutes, bool(required))


# --- the command line and doctor ------------------------------------------------------------


class _DiagHandler(logging.Handler):
    """The library's warnings, as the command line prints its own (``-q`` silences them)."""

    def __init__(self, diag: Diag) -> None:
        super().__init__(logging.WARNING)
        self.diag = diag

    def emit(self, record: logging.LogRecord) -> None:
        self.diag.warn(record.getMessage().removeprefix("selfdiscover: "))


def _to_diag(diag: Diag) -> None:
    _log.handlers[:] = [_DiagHandler(diag)]
    _log.propagate = False


PID1_WARNING = (
    "protect is PID 1, the container's main process: a protection renewed for the life of a "
    "service's task blocks scale-in and deployments indefinitely; run 'selfdiscover protect' "
    "per job (from a worker loop or a scheduled script), not as the ENTRYPOINT"
)


def run_protect(
    command: Sequence[str], *, minutes: int, required: bool, settings: Settings, diag: Diag
) -> int:
    """``selfdiscover protect``: protection on, CMD as a child (not exec: the
    protection must be released after it), renewed while it runs, released when
    it ends; CMD's exit code (128+N when a signal N ended it). SIGTERM, SIGINT
    and SIGHUP are forwarded to CMD (one inherited as ignored stays ignored);
    one that arrives before CMD starts means CMD never starts (exit 128+N)."""
    import signal
    import subprocess

    from ._outputs._shim import EX_NOTECS, EX_UNAVAILABLE, EX_USAGE, STOP_SIGNALS, cannot_start

    command = list(command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        diag.error("protect needs a command: selfdiscover protect [--minutes N] [--required] -- CMD [ARG...]")
        return EX_USAGE
    _to_diag(diag)
    if os.getpid() == 1:
        diag.warn(PID1_WARNING)
    try:
        client = _client(os.environ, settings=settings)
    except TaskProtectionError as e:  # a malformed ECS_AGENT_URI: as a bad URL anywhere else
        diag.error(str(e))
        return EX_USAGE
    child: subprocess.Popen[bytes] | None = None
    pending: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        if child is None:
            pending.append(signum)  # CMD not started yet: it never will be
        else:
            child.send_signal(signum)  # a no-op once it has been waited for

    previous: dict[int, Any] = {}
    for sig in STOP_SIGNALS:
        if signal.getsignal(sig) != signal.SIG_IGN:  # nohup, a background job: stays ignored
            previous[sig] = signal.signal(sig, forward)
    held = False
    try:
        if client is None:
            if required:
                diag.error(str(_not_in_ecs()))
                return EX_NOTECS
            diag.warn(f"no {AGENT_URI} (not an ECS task): running {command[0]} without scale-in protection")
        else:
            try:
                _GUARD.acquire(client, minutes, required)
            except TaskProtectionError as e:
                diag.error(f"{e}; {command[0]} not started")
                return EX_UNAVAILABLE
            held = True
        if pending:
            return 128 + pending[0]
        try:
            started = subprocess.Popen(command)
        except (OSError, ValueError) as e:
            return cannot_start(command, e, diag)
        child = started
        for signum in pending:  # arrived while CMD was being started
            started.send_signal(signum)
        code = started.wait()
    finally:
        if held:
            _GUARD.release()
        for number, handler in previous.items():
            signal.signal(number, handler)
    return code if code >= 0 else 128 - code


def show_protection(on: bool, off: bool, minutes: int | None, *, settings: Settings, diag: Diag) -> int:
    """``selfdiscover protection [--on [--minutes N] | --off]``: the state as JSON on stdout."""
    from ._outputs._shim import EX_NOTECS, EX_UNAVAILABLE, EX_USAGE

    if minutes is not None and not on:
        diag.error("--minutes goes with --on")
        return EX_USAGE
    try:
        client = _client(os.environ, settings=settings)
        if client is None:
            diag.error(str(_not_in_ecs()))
            return EX_NOTECS
        state = client.call(None) if not (on or off) else client.call(on, minutes)
    except TaskProtectionError as e:
        diag.error(str(e))
        return EX_USAGE if e.code == "InvalidAgentURI" else EX_UNAVAILABLE
    sys.stdout.write(json.dumps(state.as_dict(), indent=2) + "\n")
    return 0


def doctor_lines(environ: Mapping[str, str], deadline: float) -> list[str]:
    """What ``doctor`` says about task protection: whether the agent serves it
    here, from one read (``GET``, which changes nothing) before ``deadline`` (a
    ``time.monotonic()`` value). Lines without newlines; hints indented."""
    if not environ.get(AGENT_URI, "").strip():
        return [f"task protection: not available: no {AGENT_URI} (not an ECS task, or an agent before 1.65)"]
    try:
        client = _client(environ, _timeout(None), Retry())
        state = client.call(None, deadline=deadline) if client is not None else None
    except TaskProtectionError as e:
        return [f"task protection: not available ({e.code})", f"  hint: {e}"]
    if state is None:  # unreachable: ECS_AGENT_URI was checked above
        return []
    on = state.as_dict()["expires_at"] if state.enabled else None
    now = f"on until {on}" if on else ("on" if state.enabled else "off")
    return [f"task protection: available ({now}; task {state.task_arn or 'unknown'})"]

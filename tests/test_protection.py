"""Task scale-in protection (issue 21): the library, the context manager, the command line,
and the fake agent's task-protection route, all over real sockets on 127.0.0.1.

The fake answers as the agent's handlers do (``ecs-agent/tmds/handlers/taskprotection/v1``;
its bodies are checked byte for byte below), so every answer of the reference table is met
by the client as it would be in ECS: what is retried, what is not, the code and the one line
that says what to do, and that nothing waits past its deadline.
"""

from __future__ import annotations

import asyncio
import http.client
import itertools
import json
import os
import re
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from namespaces import unshare_missing
from rawserver import RawServer, silent
from shimrun import EX_NOTECS, EX_NOTFOUND, EX_UNAVAILABLE, EX_USAGE, PY, sd
from sigkit import DEFAULT_SIGNALS
from timing import slack

from selfdiscover import NotInECSError, SelfdiscoverError, Timeout
from selfdiscover import _protection as protection
from selfdiscover._errors import TaskProtectionError
from selfdiscover._protection import (
    TaskProtection,
    doctor_lines,
    get_task_protection,
    set_task_protection,
    task_protection,
)
from selfdiscover.testing import Behaviour, FakeAgent, FakeContainer, FakeTask

ROUTE = "/task-protection/v1/state"
DECODE_400 = (
    b'{"error":{"Code":"InvalidParameterException",'
    b'"Message":"UpdateTaskProtection: failed to decode request"}}'
)
Answer = tuple[int, dict[str, str], bytes]
Hook = Callable[[str, str], Answer | None]


# --- fixtures and helpers -----------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[protection._Guard]:
    """Each test starts with a process holding no job and warned of nothing, and must end
    holding none, with its renewal thread gone."""
    guard = protection._Guard()
    monkeypatch.setattr(protection, "_GUARD", guard)
    for name in ("ECS_AGENT_URI", "SELFDISCOVER_TIMEOUT", "SELFDISCOVER_RETRIES"):
        monkeypatch.delenv(name, raising=False)
    yield guard
    for t in threading.enumerate():
        if t.name == "selfdiscover-protection":
            t.join(5)
            assert not t.is_alive(), "a renewal thread outlived its protection"
    assert guard.held == 0, "a job's hold leaked"


def service_task(agent: FakeAgent, *, service: str = "queue-workers") -> FakeTask:
    """A one-container task; in an ECS service unless ``service`` is empty."""
    return agent.add_task("worker", 3, [FakeContainer("app")], service_name=service)


def uri(agent: FakeAgent, task: FakeTask) -> str:
    return agent.agent_uri(task.containers[0])


def env_for(agent: FakeAgent, task: FakeTask, timeout: str = "5") -> dict[str, str]:
    return {"ECS_AGENT_URI": uri(agent, task), "SELFDISCOVER_TIMEOUT": timeout}


@pytest.fixture
def task(agent: FakeAgent) -> FakeTask:
    return service_task(agent)


@pytest.fixture
def in_task(agent: FakeAgent, task: FakeTask, monkeypatch: pytest.MonkeyPatch) -> FakeAgent:
    """This process is ``task``'s container: ``ECS_AGENT_URI`` points at the fake."""
    monkeypatch.setenv("ECS_AGENT_URI", uri(agent, task))
    monkeypatch.setenv("SELFDISCOVER_TIMEOUT", "5")
    return agent


def updates(agent: FakeAgent) -> list[tuple[bool | None, int | None] | None]:
    """What each request to the route asked: (enabled, minutes) for a PUT, None for a GET."""
    return [r.protection_update() for r in agent.protection_requests()]


def raw(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, bytes]:
    """One request with the standard library's client (not selfdiscover's)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request(method, parts.path, body=body)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def one_line(e: BaseException) -> str:
    msg = str(e)
    assert msg and len(msg) < 1000 and "\n" not in msg, msg
    assert all(ch.isprintable() for ch in msg), repr(msg)
    return msg


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Readiness, polled: never a sleep that hopes."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.005)
    raise AssertionError(f"not within {timeout}s: {what}")


def hook_for(status: int, body: bytes, content_type: str = "application/json") -> Hook:
    """An agent that answers the protection route with exactly this (reference-table bodies)."""

    def hook(method: str, target: str) -> Answer | None:
        if target.endswith(ROUTE):
            return status, {"Content-Type": content_type}, body
        return None

    return hook


# --- the fake's route, byte for byte as the agent's handlers write it ------------------------


def test_fake_route_answers_as_the_agent_does(agent: FakeAgent, task: FakeTask) -> None:
    url = uri(agent, task) + ROUTE
    arn = task.arn.encode()
    status, body = raw(url)
    assert (status, body) == (
        200,
        b'{"protection":{"ExpirationDate":null,"ProtectionEnabled":false,"TaskArn":"%s"}}' % arn,
    )
    before = datetime.now(timezone.utc).replace(microsecond=0)
    status, body = raw(url, "PUT", b'{"ProtectionEnabled":true,"ExpiresInMinutes":5}')
    answer = json.loads(body)
    assert status == 200 and list(answer["protection"]) == ["ExpirationDate", "ProtectionEnabled", "TaskArn"]
    expires = datetime.strptime(answer["protection"]["ExpirationDate"], "%Y-%m-%dT%H:%M:%SZ")
    assert (
        before + timedelta(minutes=5) <= expires.replace(tzinfo=timezone.utc) <= before + timedelta(minutes=6)
    )
    assert raw(url)[1] == body  # GET reads what PUT set
    # Each update resets the expiry; no ExpiresInMinutes is ECS's default, 120.
    default = json.loads(raw(url, "PUT", b'{"ProtectionEnabled":true}')[1])["protection"]["ExpirationDate"]
    assert datetime.strptime(default, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=timezone.utc
    ) >= before + timedelta(minutes=120)
    assert raw(url, "PUT", b'{"ProtectionEnabled":false}')[1] == (
        b'{"protection":{"ExpirationDate":null,"ProtectionEnabled":false,"TaskArn":"%s"}}' % arn
    )
    decode = DECODE_400
    bad_bodies = [
        b"",
        b"{",
        b'{"ProtectionEnabled":true,"Extra":1}',
        b'{"ProtectionEnabled":"yes"}',
        b'{"ProtectionEnabled":true,"ExpiresInMinutes":1.5}',
        b"[true]",
        b'{"ExpiresInMinutes":NaN}',
    ]
    for bad in bad_bodies:
        assert raw(url, "PUT", bad) == (400, decode), bad
    missing = (
        b'{"error":{"Arn":"%s","Code":"InvalidParameterException",'
        b'"Message":"Invalid request: does not contain \'ProtectionEnabled\' field"}}' % arn
    )
    assert raw(url, "PUT", b'{"ExpiresInMinutes":5}') == (400, missing)
    assert raw(url, "PUT", b"null") == (400, missing)  # null decodes to nothing, as Go's does
    # Keys match without regard to case; only the first JSON value is read.
    assert raw(url, "PUT", b' {"protectionENABLED":true,"expiresinminutes":3} trailing')[0] == 200
    assert raw(uri(agent, task) + "/nope" + ROUTE)[0] == 404  # no such route: gorilla/mux's text 404
    assert raw(url, "POST", b"{}") == (405, b"")  # the path matches, the method does not
    unknown = (
        b'{"error":{"Code":"ResourceNotFoundException","Message":"Failed to find a task for the request"}}'
    )
    assert raw(agent.tmde_url + "/api/not-an-endpoint" + ROUTE) == (404, unknown)
    # The body is decoded before the task is looked up, as the handler does.
    assert raw(agent.tmde_url + "/api/not-an-endpoint" + ROUTE, "PUT", b"{") == (400, decode)


@pytest.mark.parametrize(
    ("behaviour", "status", "code", "message"),
    [
        (Behaviour(no_task_role=True), 403, "AccessDeniedException",
         "Invalid Request: no task IAM role credentials available for task"),
        (Behaviour(protection_delay=60), 504, "RequestCanceled", "Timed out calling ECS Task Protection API"),
    ],
    ids=["no-task-role", "ecs-timeout"],
)  # fmt: skip
def test_fake_agent_errors(behaviour: Behaviour, status: int, code: str, message: str) -> None:
    with FakeAgent(behaviour=behaviour) as agent:
        agent.ecs_call_timeout = 0.05
        task = service_task(agent)
        got = raw(uri(agent, task) + ROUTE, "PUT", b'{"ProtectionEnabled":true}')
    assert got == (status, json.dumps({"error": {"Arn": task.arn, "Code": code, "Message": message}},
                                      separators=(",", ":")).encode())  # fmt: skip


def test_fake_ecs_errors_and_failures(agent: FakeAgent) -> None:
    """ECS's errors come with its request ID first; its failures are a 200; a task
    outside a service gets TASK_NOT_VALID, as in ECS."""
    standalone = service_task(agent, service="")
    status, body = raw(uri(agent, standalone) + ROUTE, "PUT", b'{"ProtectionEnabled":true}')
    assert (status, json.loads(body)) == (
        200, {"failure": {"Arn": standalone.arn, "Detail": None, "Reason": "TASK_NOT_VALID"}}
    )  # fmt: skip
    task = service_task(agent)
    agent.behaviour.protection_failure = "DEPLOYMENT_BLOCKED"
    assert json.loads(raw(uri(agent, task) + ROUTE)[1])["failure"]["Reason"] == "DEPLOYMENT_BLOCKED"
    agent.behaviour.protection_failure = ""
    agent.behaviour.protection_throttled = 1
    status, body = raw(uri(agent, task) + ROUTE, "PUT", b'{"ProtectionEnabled":true}')
    answer = json.loads(body)
    assert status == 400 and list(answer) == ["requestID", "error"]
    assert answer["error"] == {"Arn": task.arn, "Code": "ThrottlingException", "Message": "Rate exceeded"}
    assert raw(uri(agent, task) + ROUTE)[0] == 200  # only the next N calls are throttled
    agent.behaviour.protection_denied = True
    status, body = raw(uri(agent, task) + ROUTE)
    error = json.loads(body)["error"]
    assert status == 400 and error["Code"] == "AccessDeniedException"
    assert "ecs:GetTaskProtection" in error["Message"]
    agent.behaviour.protection_denied = False
    status, body = raw(uri(agent, task) + ROUTE, "PUT", b'{"ProtectionEnabled":true,"ExpiresInMinutes":2881}')
    assert status == 400 and json.loads(body)["error"]["Code"] == "InvalidParameterException"


def test_fake_route_shares_the_metadata_limiter(agent: FakeAgent, task: FakeTask) -> None:
    agent.tmde_burst, agent.tmde_rate = 2, 0.001
    statuses = [raw(uri(agent, task) + ROUTE)[0] for _ in range(3)]
    assert statuses == [200, 200, 429]


# --- the library, against every answer ---------------------------------------------------------

TOTAL = 0.6  # the deadline of the calls below that must run it out

# The agent's reference answers the fake has no switch for (checked above for the fake's own).
MISSING_400 = (
    b'{"error":{"Arn":"arn:aws:ecs:us-west-2:111122223333:task/default/0123","Code":"InvalidParameterException",'
    b'"Message":"Invalid request: does not contain \'ProtectionEnabled\' field"}}'
)
SERVER_500 = (
    b'{"error":{"Arn":"arn:aws:ecs:us-west-2:111122223333:task/default/0123","Code":"ServerException",'
    b'"Message":"Unexpected error occurred"}}'
)


@dataclass(frozen=True)
class Case:
    """One answer of the reference table, and what the client must make of it."""

    behaviour: Behaviour
    code: str
    status: int | None
    retried: bool
    advice: str  # a word of the one line that says what to do
    in_service: bool = True
    good_endpoint: bool = True


TEXT_404 = hook_for(404, b"404 page not found\n", "text/plain")
ANSWERS = {
    "not-in-a-service": Case(Behaviour(), "TASK_NOT_VALID", 200, False, "service", in_service=False),
    "deployment-blocked": Case(
        Behaviour(protection_failure="DEPLOYMENT_BLOCKED"), "DEPLOYMENT_BLOCKED", 200, False, "desired count"
    ),
    "bad-json": Case(
        Behaviour(override=hook_for(400, DECODE_400)), "InvalidParameterException", 400, False, "2880"
    ),
    "enabled-missing": Case(
        Behaviour(override=hook_for(400, MISSING_400)), "InvalidParameterException", 400, False, "2880"
    ),
    "no-task-role": Case(Behaviour(no_task_role=True), "AccessDeniedException", 403, False, "taskRoleArn"),
    "unknown-endpoint": Case(
        Behaviour(), "ResourceNotFoundException", 404, False, "ECS_AGENT_URI", good_endpoint=False
    ),
    "role-lacks-permission": Case(
        Behaviour(protection_denied=True), "AccessDeniedException", 400, False, "ecs:UpdateTaskProtection"
    ),
    "ecs-throttling": Case(
        Behaviour(protection_throttled=10**6), "ThrottlingException", 400, True, "idle to busy"
    ),
    "ecs-timeout": Case(Behaviour(protection_delay=60), "RequestCanceled", 504, True, "4 s"),
    "more-than-one-result": Case(
        Behaviour(override=hook_for(500, SERVER_500)), "ServerException", 500, True, "agent"
    ),
    "metadata-limiter": Case(Behaviour(throttle_for=60), "TooManyRequests", 429, True, "40 requests/s"),
    "handler-panic": Case(Behaviour(error_for=60), "AgentUnavailable", 500, True, "SELFDISCOVER_TIMEOUT"),
    "refused": Case(Behaviour(down_for=60), "AgentUnavailable", None, True, "SELFDISCOVER_TIMEOUT"),
    "agent-before-1.65": Case(Behaviour(override=TEXT_404), "NotSupported", 404, False, "1.65"),
}


@pytest.mark.parametrize("case", list(ANSWERS.values()), ids=list(ANSWERS))
def test_every_agent_answer(case: Case) -> None:
    """Each answer of the reference table: its code, its status, whether it is retried
    (until the deadline, and no longer), and one line that says what to do."""
    margin = slack()
    with FakeAgent(behaviour=case.behaviour) as agent:
        agent.ecs_call_timeout = 0.05
        task = service_task(agent, service="svc" if case.in_service else "")
        env = {"ECS_AGENT_URI": uri(agent, task) if case.good_endpoint else f"{agent.tmde_url}/api/unknown"}
        t0 = time.monotonic()
        with pytest.raises(TaskProtectionError) as e:
            set_task_protection(True, 10, timeout=Timeout(total=TOTAL), environ=env)
        took = time.monotonic() - t0
        asked = len(agent.protection_requests())
    assert isinstance(e.value, SelfdiscoverError)
    assert (e.value.code, e.value.status) == (case.code, case.status)
    msg = one_line(e.value)
    assert msg.startswith(f"task protection failed: {case.code}") and case.advice in msg, msg
    assert took < TOTAL + margin, (took, margin)  # nothing waits past its deadline
    if case.status is None:
        assert asked == 0  # refused: nothing was asked
    elif case.retried:
        assert asked > 1 and "attempts" in msg, asked
    else:
        assert asked == 1, asked


def test_on_off_and_read(agent: FakeAgent, task: FakeTask) -> None:
    env = env_for(agent, task)
    assert get_task_protection(environ=env) == TaskProtection(False, None, task.arn)
    before = datetime.now(timezone.utc)
    on = set_task_protection(True, 30, environ=env)
    assert on.enabled and on.task_arn == task.arn and on.expires_at is not None
    assert on.expires_at.tzinfo == timezone.utc
    assert before + timedelta(minutes=29) < on.expires_at < before + timedelta(minutes=31)
    assert get_task_protection(environ=env) == on
    assert on.as_dict()["expires_at"] == on.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert set_task_protection(False, environ=env) == TaskProtection(False, None, task.arn)
    assert updates(agent) == [None, (True, 30), None, (False, None)]
    set_task_protection(True, environ=env)  # no minutes: none sent, ECS's default applies
    assert agent.protection_requests()[-1].body == b'{"ProtectionEnabled": true}'


@pytest.mark.parametrize(
    "behaviour",
    [Behaviour(protection_throttled=2), Behaviour(throttle_for=0.3), Behaviour(error_for=0.3),
     Behaviour(down_for=0.3)],
    ids=["ecs-throttling", "metadata-limiter", "handler-panic", "refused"],
)  # fmt: skip
def test_transient_failures_are_retried_to_success(behaviour: Behaviour) -> None:
    with FakeAgent(behaviour=behaviour) as agent:
        task = service_task(agent)
        state = set_task_protection(True, 10, environ=env_for(agent, task))
        assert state.enabled and task.protection_enabled
        assert len(agent.protection_requests()) >= (1 if behaviour.down_for else 2)


def test_connection_reset_is_retried_until_the_deadline(raw_server: tuple[str, list[bytes]]) -> None:
    url, script = raw_server
    script.append(b"<RESET>")
    margin = slack()
    t0 = time.monotonic()
    with pytest.raises(TaskProtectionError) as e:
        set_task_protection(True, 5, timeout=Timeout(total=TOTAL), environ={"ECS_AGENT_URI": url + "/api/x"})
    assert time.monotonic() - t0 < TOTAL + margin
    assert e.value.code == "AgentUnavailable" and e.value.status is None
    # The kernel delivers the abort as a reset, or (when it lands before the request is read) as a
    # close without an answer: both are the dropped connection, retried alike.
    said = one_line(e.value)
    assert ("reset" in said or "closed connection without response" in said) and "attempts" in said


# --- hostile answers: bounded, refused, never a hang --------------------------------------------


def hostile(body: bytes, headers: dict[str, str] | None = None) -> Answer:
    return 200, headers or {}, body


HOSTILE = {
    "oversized": (hostile(b'{"protection":' + b" " * (100 * 1024) + b"}"), "cap"),
    "malformed": (hostile(b'{"protection":{"ProtectionEnabled":tru'), "not JSON"),
    "wrong-type": (hostile(b'{"protection":{"ProtectionEnabled":"yes","TaskArn":"arn:x"}}'), "not a boolean"),
    "bad-time": (hostile(b'{"protection":{"ProtectionEnabled":true,"ExpirationDate":"soon"}}'), "RFC 3339"),
    "impossible-date": (
        hostile(b'{"protection":{"ProtectionEnabled":true,"ExpirationDate":"2026-02-30T00:00:00Z"}}'),
        "valid time",
    ),
    "control-char": (hostile(b'{"protection":{"ProtectionEnabled":true,"TaskArn":"arn:\\nx"}}'), "TaskArn"),
    "no-protection": (hostile(b'{"something":"else"}'), "without protection"),
    "not-an-object": (hostile(b"[]"), "HTTP 200"),
    "gzip": (hostile(b"\x1f\x8b", {"Content-Encoding": "gzip"}), "Content-Encoding"),
}


@pytest.mark.parametrize(("answer", "why"), list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_answers_are_refused_at_once(answer: Answer, why: str) -> None:
    margin = slack()
    with FakeAgent(behaviour=Behaviour(override=lambda m, t: answer if t.endswith(ROUTE) else None)) as agent:
        task = service_task(agent)
        t0 = time.monotonic()
        with pytest.raises(TaskProtectionError) as e:
            get_task_protection(timeout=Timeout(total=5), environ=env_for(agent, task))
        took = time.monotonic() - t0
        assert len(agent.protection_requests()) == 1  # a broken contract is not retried
    assert e.value.code == "InvalidResponse"
    assert why in one_line(e.value)
    assert took < margin  # one round trip, not the 5 s deadline


@pytest.mark.parametrize(
    "behaviour", [Behaviour(hang=True), Behaviour(delay=3)], ids=["accepts-never-answers", "slow"]
)
def test_slow_agents_are_bounded_by_the_deadline(behaviour: Behaviour) -> None:
    margin = slack()
    with FakeAgent(behaviour=behaviour) as agent:
        task = service_task(agent)
        t0 = time.monotonic()
        with pytest.raises(TaskProtectionError) as e:
            set_task_protection(True, 5, environ=env_for(agent, task, timeout=str(TOTAL)))
        took = time.monotonic() - t0
    assert e.value.code == "AgentUnavailable" and "SELFDISCOVER_TIMEOUT" in one_line(e.value)
    assert took < TOTAL + margin, (took, margin)


def test_body_drip_is_bounded_by_the_deadline(raw_server: tuple[str, list[bytes]]) -> None:
    url, script = raw_server
    script += [b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{", *[b"<SLEEP0.1>", b" "] * 50]
    margin = slack()
    t0 = time.monotonic()
    with pytest.raises(TaskProtectionError) as e:
        get_task_protection(environ={"ECS_AGENT_URI": url + "/api/x", "SELFDISCOVER_TIMEOUT": str(TOTAL)})
    assert time.monotonic() - t0 < TOTAL + margin
    assert e.value.code == "AgentUnavailable"


def test_a_slow_but_healthy_ecs_call_is_waited_for(agent: FakeAgent, task: FakeTask) -> None:
    """The agent may take up to its 4 s on ECS: a read timeout below that would cut
    every attempt and retry for ever. 2.5 s is over discovery's 2 s read timeout."""
    agent.behaviour.protection_delay = 2.5
    assert set_task_protection(True, 5, environ=env_for(agent, task)).enabled
    assert len(agent.protection_requests()) == 1


# --- before any request: minutes, settings, outside ECS --------------------------------------


@pytest.mark.parametrize("minutes", [0, -1, 2881, 10**9, 1.5, True, "5", None])
def test_minutes_outside_ecs_bounds_are_a_value_error_before_any_request(
    agent: FakeAgent, task: FakeTask, monkeypatch: pytest.MonkeyPatch, minutes: Any
) -> None:
    monkeypatch.setenv("ECS_AGENT_URI", uri(agent, task))
    if minutes is not None:  # None means ECS's default for set_task_protection
        with pytest.raises(ValueError, match="1 to 2880"):
            set_task_protection(True, minutes, environ=env_for(agent, task))
    with pytest.raises(ValueError, match="1 to 2880"):
        task_protection(minutes)
    assert agent.protection_requests() == []
    assert [set_task_protection(True, m, environ=env_for(agent, task)).enabled for m in (1, 2880)] == [
        True,
        True,
    ]


def test_a_malformed_timeout_setting_is_a_value_error_before_any_request(
    agent: FakeAgent, task: FakeTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="SELFDISCOVER_TIMEOUT"):
        get_task_protection(environ={**env_for(agent, task), "SELFDISCOVER_TIMEOUT": "soon"})
    monkeypatch.setenv("SELFDISCOVER_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="SELFDISCOVER_TIMEOUT"):
        task_protection()
    assert agent.protection_requests() == []


def test_outside_ecs_calls_raise_not_in_ecs() -> None:
    with pytest.raises(NotInECSError, match="ECS_AGENT_URI"):
        get_task_protection(environ={})
    with pytest.raises(NotInECSError, match="ECS_AGENT_URI"):
        set_task_protection(False, environ={})


def test_outside_ecs_the_context_manager_is_a_no_op_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[object] = []
    for _ in range(3):
        with task_protection() as state:
            ran.append(state)
    with task_protection(5):
        ran.append("again")
    assert ran == [None, None, None, "again"]
    warnings = [r for r in caplog.records if r.name == "selfdiscover.protection"]
    assert len(warnings) == 1 and "ECS_AGENT_URI" in warnings[0].getMessage()
    with pytest.raises(NotInECSError), task_protection(required=True):
        pytest.fail("a required protection outside ECS must not run the job")


# --- the context manager: one protection per process ------------------------------------------


def test_overlapping_jobs_in_threads_make_one_enable_and_one_disable(in_task: FakeAgent) -> None:
    jobs = 8
    all_in = threading.Barrier(jobs, timeout=30)
    seen: list[TaskProtection | None] = []
    job = task_protection(expires_in_minutes=15)

    def run() -> None:
        with job as state:
            seen.append(state)
            all_in.wait()  # every job holds the protection at once

    threads = [threading.Thread(target=run) for _ in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(seen) == jobs and all(s is not None and s.enabled for s in seen)
    assert updates(in_task) == [(True, 15), (False, None)]
    assert not in_task.tasks[0].protection_enabled


def test_jobs_one_after_another_each_turn_it_on_and_off(in_task: FakeAgent) -> None:
    """Idle -> busy -> idle each time: protection is never left on between jobs."""
    for _ in range(2):
        with task_protection(5):
            assert in_task.tasks[0].protection_enabled
    assert updates(in_task) == [(True, 5), (False, None), (True, 5), (False, None)]


def test_renewal_each_half_period_while_a_job_is_held(
    in_task: FakeAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(protection, "MINUTE", 0.2)  # a 1-minute protection lasts 0.2 s here
    with task_protection(expires_in_minutes=1):
        wait_for(lambda: len(in_task.protection_requests()) >= 4, "three renewals")
    puts = [r for r in in_task.protection_requests() if r.method == "PUT"]
    asked = updates(in_task)
    assert asked[0] == (True, 1) and asked[-1] == (False, None)
    assert set(asked[1:-1]) == {(True, 1)} and len(asked) >= 5
    gaps = [b.at - a.at for a, b in itertools.pairwise(puts[:-1])]
    assert all(g >= 0.09 for g in gaps), gaps  # half of 0.2 s, not sooner
    # After the release, the renewal thread ends (fresh_guard checks): nothing renews it again.


def test_a_failed_enable_is_retried_while_the_job_runs(
    in_task: FakeAgent, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """One refusal (a role policy attached a moment late) must not leave the worker
    unprotected for its life: the renewal schedule tries again, sooner at first."""
    monkeypatch.setattr(protection, "MINUTE", 0.2)
    refused = threading.Event()

    def deny_once(method: str, target: str) -> Answer | None:
        if method == "PUT" and not refused.is_set():
            refused.set()
            return 403, {"Content-Type": "application/json"}, b'{"error":{"Code":"AccessDeniedException"}}'
        return None

    in_task.behaviour.override = deny_once
    with task_protection(expires_in_minutes=10) as state:
        assert state is None  # the job runs, unprotected for now
        wait_for(lambda: in_task.tasks[0].protection_enabled, "the retried enable")
    assert updates(in_task)[-1] == (False, None) and not in_task.tasks[0].protection_enabled
    assert len([r for r in caplog.records if r.name == "selfdiscover.protection"]) == 1


def test_protection_is_released_when_the_job_raises(in_task: FakeAgent) -> None:
    with pytest.raises(RuntimeError, match="job failed"), task_protection(5):
        assert in_task.tasks[0].protection_enabled
        raise RuntimeError("job failed")
    assert updates(in_task) == [(True, 5), (False, None)]
    assert not in_task.tasks[0].protection_enabled


def test_required_raises_before_the_job(in_task: FakeAgent) -> None:
    in_task.behaviour.protection_failure = "DEPLOYMENT_BLOCKED"
    with pytest.raises(TaskProtectionError) as e, task_protection(5, required=True):
        pytest.fail("the job must not start")
    assert e.value.code == "DEPLOYMENT_BLOCKED"
    assert updates(in_task) == [(True, 5)]  # a refusal changed nothing: nothing to release


def test_not_required_the_job_runs_with_one_warning(
    in_task: FakeAgent, caplog: pytest.LogCaptureFixture
) -> None:
    in_task.behaviour.protection_failure = "TASK_NOT_VALID"
    ran = False
    with task_protection(5) as state:
        ran = True
        assert state is None
    assert ran
    warnings = [r.getMessage() for r in caplog.records if r.name == "selfdiscover.protection"]
    assert len(warnings) == 1 and "TASK_NOT_VALID" in warnings[0] and "service" in warnings[0]
    assert updates(in_task) == [(True, 5)]


def test_an_enable_whose_outcome_is_unknown_is_released(
    in_task: FakeAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 5xx or no answer may have left protection on: the end of the job turns it off."""
    monkeypatch.setenv("SELFDISCOVER_TIMEOUT", str(TOTAL))
    answered = threading.Event()

    def fail_until_released(method: str, target: str) -> Answer | None:
        return None if answered.is_set() else (500, {}, b"")

    in_task.behaviour.override = fail_until_released
    with task_protection(5) as state:
        assert state is None
        answered.set()
    assert updates(in_task)[-1] == (False, None)


def test_async_jobs_share_one_protection(in_task: FakeAgent) -> None:
    async def main() -> list[TaskProtection | None]:
        both_in = asyncio.Event()
        inside = 0

        async def job() -> TaskProtection | None:
            nonlocal inside
            async with task_protection(7) as state:
                inside += 1
                if inside == 2:
                    both_in.set()
                await asyncio.wait_for(both_in.wait(), 30)
                return state

        return list(await asyncio.gather(job(), job()))

    states = asyncio.run(main())
    assert all(s is not None and s.enabled for s in states)
    assert updates(in_task) == [(True, 7), (False, None)]


def hold_enables(agent: FakeAgent) -> tuple[threading.Event, threading.Event]:
    """Make the agent hold each enable (PUT) until ``go_on`` is set; ``entered`` says one is held."""
    entered, go_on = threading.Event(), threading.Event()

    def slow_enable(method: str, target: str) -> Answer | None:
        if method == "PUT" and not go_on.is_set():
            entered.set()
            go_on.wait(30)
        return None

    agent.behaviour.override = slow_enable
    return entered, go_on


def test_a_cancelled_async_enter_still_releases(in_task: FakeAgent) -> None:
    entered, go_on = hold_enables(in_task)

    async def main() -> None:
        async def job() -> None:
            async with task_protection(5):
                pytest.fail("cancelled before it started")

        t = asyncio.ensure_future(job())
        await asyncio.to_thread(entered.wait, 30)  # the enable is in flight
        t.cancel()
        go_on.set()
        with pytest.raises(asyncio.CancelledError):
            await t

    asyncio.run(main())
    wait_for(lambda: updates(in_task)[-1] == (False, None), "the release after the cancelled enter")


# --- doctor ----------------------------------------------------------------------------------


def test_doctor_lines(agent: FakeAgent, task: FakeTask) -> None:
    deadline = time.monotonic() + 5
    assert doctor_lines({}, deadline) == [
        "task protection: not available: no ECS_AGENT_URI (not an ECS task, or an agent before 1.65)"
    ]
    assert doctor_lines(env_for(agent, task), deadline) == [
        f"task protection: available (off; task {task.arn})"
    ]
    set_task_protection(True, 5, environ=env_for(agent, task))
    assert doctor_lines(env_for(agent, task), deadline)[0].startswith(
        "task protection: available (on until 20"
    )
    agent.behaviour.no_task_role = True
    lines = doctor_lines(env_for(agent, task), deadline)
    assert lines[0] == "task protection: not available (AccessDeniedException)" and "taskRoleArn" in lines[1]
    assert updates(agent)[-1] is None  # doctor only reads


# --- the command line ------------------------------------------------------------------------

# CMD that reads the protection itself while it runs, then exits with its argument.
CHECK = (
    "import json, os, sys, urllib.request\n"
    "opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))\n"
    "url = os.environ['ECS_AGENT_URI'] + '/task-protection/v1/state'\n"
    "print(json.load(opener.open(url, timeout=10))['protection']['ProtectionEnabled'])\n"
    "sys.exit(int(sys.argv[1]))\n"
)


@pytest.fixture
def cli_env(agent: FakeAgent, task: FakeTask, clean_env: dict[str, str]) -> dict[str, str]:
    return {**clean_env, **env_for(agent, task)}


def test_protect_runs_cmd_protected_and_exits_with_its_code(
    shim: list[str], agent: FakeAgent, cli_env: dict[str, str]
) -> None:
    proc = sd(shim, ["protect", "--minutes", "9", "--", PY, "-c", CHECK, "7"], cli_env)
    assert proc.returncode == 7, proc.stderr
    assert proc.stdout == "True\n" and proc.stderr == ""
    assert updates(agent) == [(True, 9), None, (False, None)]  # on, CMD's read, off after it ended


def test_protect_without_required_runs_cmd_anyway(
    shim: list[str], agent: FakeAgent, cli_env: dict[str, str]
) -> None:
    agent.behaviour.protection_failure = "TASK_NOT_VALID"
    proc = sd(shim, ["protect", "--", "sh", "-c", "echo ran; exit 3"], cli_env)
    assert (proc.returncode, proc.stdout) == (3, "ran\n")
    assert proc.stderr.count("\n") == 1 and "TASK_NOT_VALID" in proc.stderr and "service" in proc.stderr
    assert sd(shim, ["protect", "-q", "--", "true"], cli_env).stderr == ""  # -q silences the warning


@pytest.mark.parametrize(
    ("setup", "code"),
    [("outside", EX_NOTECS), ("not-in-service", EX_UNAVAILABLE), ("agent-down", EX_UNAVAILABLE)],
)
def test_protect_required_fails_closed_before_cmd(
    shim: list[str], agent: FakeAgent, cli_env: dict[str, str], tmp_path: Any, setup: str, code: int
) -> None:
    env = dict(cli_env, SELFDISCOVER_TIMEOUT="0.5")
    if setup == "outside":
        del env["ECS_AGENT_URI"]
    elif setup == "not-in-service":
        agent.behaviour.protection_failure = "TASK_NOT_VALID"
    else:
        env["ECS_AGENT_URI"] = "http://127.0.0.1:9/api/x"  # discard port: refused
    marker = tmp_path / "ran"
    proc = sd(shim, ["protect", "--required", "--", "touch", str(marker)], env)
    assert proc.returncode == code, proc.stderr
    assert not marker.exists()
    assert proc.stderr.startswith("selfdiscover: error: ") and proc.stderr.count("\n") == 1


def test_protect_outside_ecs_runs_cmd_with_a_warning(shim: list[str], outside: dict[str, str]) -> None:
    proc = sd(shim, ["protect", "--", "sh", "-c", "exit 5"], outside)
    assert proc.returncode == 5
    assert "ECS_AGENT_URI" in proc.stderr and proc.stderr.count("\n") == 1


def test_protect_releases_when_cmd_cannot_start(
    shim: list[str], agent: FakeAgent, cli_env: dict[str, str]
) -> None:
    proc = sd(shim, ["protect", "--", "no-such-command-anywhere"], cli_env)
    assert proc.returncode == EX_NOTFOUND
    assert updates(agent) == [(True, 60), (False, None)]


@pytest.mark.parametrize(
    "args",
    [["protect"], ["protect", "--"], ["protect", "--minutes", "0", "--", "true"],
     ["protect", "--minutes", "2881", "--", "true"], ["protection", "--off", "--minutes", "5"],
     ["protection", "--on", "--off"], ["protection", "--minutes", "x"]],
)  # fmt: skip
def test_usage_errors(shim: list[str], agent: FakeAgent, cli_env: dict[str, str], args: list[str]) -> None:
    proc = sd(shim, args, cli_env)
    assert proc.returncode == EX_USAGE, proc.stderr
    assert agent.protection_requests() == []


def test_a_malformed_timeout_is_a_usage_error(
    shim: list[str], agent: FakeAgent, cli_env: dict[str, str]
) -> None:
    for args in (["protect", "--", "true"], ["protection"]):
        proc = sd(shim, args, dict(cli_env, SELFDISCOVER_TIMEOUT="soon"))
        assert proc.returncode == EX_USAGE and "SELFDISCOVER_TIMEOUT" in proc.stderr
    assert agent.protection_requests() == []


def test_protection_prints_the_state_as_json(
    shim: list[str], agent: FakeAgent, task: FakeTask, cli_env: dict[str, str]
) -> None:
    proc = sd(shim, ["protection"], cli_env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"enabled": False, "expires_at": None, "task_arn": task.arn}
    on = json.loads(sd(shim, ["protection", "--on", "--minutes", "45"], cli_env).stdout)
    assert on["enabled"] is True and on["expires_at"].endswith("Z")
    assert json.loads(sd(shim, ["protection"], cli_env).stdout) == on
    assert json.loads(sd(shim, ["protection", "--off"], cli_env).stdout)["enabled"] is False
    assert updates(agent) == [None, (True, 45), None, (False, None)]


@pytest.mark.parametrize(
    ("setup", "code"), [("outside", EX_NOTECS), ("no-task-role", EX_UNAVAILABLE), ("bad-uri", EX_USAGE)]
)
def test_protection_exit_codes(
    shim: list[str], agent: FakeAgent, cli_env: dict[str, str], setup: str, code: int
) -> None:
    env = dict(cli_env)
    if setup == "outside":
        del env["ECS_AGENT_URI"]
    elif setup == "no-task-role":
        agent.behaviour.no_task_role = True
    else:
        env["ECS_AGENT_URI"] = "ftp://169.254.170.2/api/x"
    proc = sd(shim, ["protection", "--on"], env)
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == "" and proc.stderr.count("\n") == 1


def test_protection_with_a_silent_agent_exits_within_its_timeout(
    shim: list[str], clean_env: dict[str, str]
) -> None:
    margin = slack()
    with RawServer(silent(30)) as srv:  # accepts, reads the request, never answers
        env = {**clean_env, "ECS_AGENT_URI": srv.url + "/api/x", "SELFDISCOVER_TIMEOUT": str(TOTAL)}
        proc = sd(shim, ["protection", "--on"], env)
        ended = time.monotonic()
    assert proc.returncode == EX_UNAVAILABLE and "AgentUnavailable" in proc.stderr
    assert srv.first_request_at is not None  # timed from its first request, after its start-up
    assert ended - srv.first_request_at < TOTAL + margin


# CMD that reports "ready" once it handles the three signals, and exits 100+N on signal N.
TRAPS = (
    "import os, signal, sys, time\n"
    "for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
    "    signal.signal(s, lambda n, f: os._exit(100 + n))\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
    "sys.exit(1)\n"
)


def read_line(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "no line in time"
    return proc.stdout.readline()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_protect_forwards_signals_to_cmd(
    shim: list[str], agent: FakeAgent, cli_env: dict[str, str], sig: signal.Signals
) -> None:
    # Behind DEFAULT_SIGNALS: however the suite was started, protect starts with the signals at default.
    proc = subprocess.Popen(
        [*DEFAULT_SIGNALS, *shim, "protect", "--", PY, "-c", TRAPS],
        env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert read_line(proc) == "ready\n"  # CMD runs and handles the signal: protect handles it too
        assert agent.tasks[0].protection_enabled
        os.kill(proc.pid, sig)
        assert proc.wait(30) == 100 + sig, proc.stderr.read() if proc.stderr else ""
    finally:
        proc.kill()
        proc.wait()
    assert updates(agent) == [(True, 60), (False, None)]
    assert not agent.tasks[0].protection_enabled


def test_a_signal_before_cmd_starts_means_it_never_does(
    shim: list[str], agent: FakeAgent, cli_env: dict[str, str], tmp_path: Any
) -> None:
    entered, go_on = hold_enables(agent)
    marker = tmp_path / "ran"
    proc = subprocess.Popen(
        [*DEFAULT_SIGNALS, *shim, "protect", "--", "touch", str(marker)],
        env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert entered.wait(30), "protect never asked for protection"
        os.kill(proc.pid, signal.SIGTERM)  # its handler is in place before it asks
        go_on.set()
        assert proc.wait(30) == 128 + signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()
    assert not marker.exists()
    assert updates(agent) == [(True, 60), (False, None)]


_NO_PID_NS = unshare_missing("--pid", "--fork", "true", needs="make a PID namespace")


@pytest.mark.skipif(_NO_PID_NS is not None, reason=_NO_PID_NS or "")
def test_protect_warns_when_it_is_pid_1(shim: list[str], agent: FakeAgent, cli_env: dict[str, str]) -> None:
    proc = sd(["unshare", "--pid", "--fork", *shim], ["protect", "--", "true"], cli_env)
    assert proc.returncode == 0, proc.stderr
    assert "PID 1" in proc.stderr and "not as the ENTRYPOINT" in proc.stderr
    assert "PID 1" not in sd(shim, ["protect", "--", "true"], cli_env).stderr


@pytest.mark.parametrize("command", [["protect"], ["protection"]])
def test_help(shim: list[str], clean_env: dict[str, str], command: list[str]) -> None:
    proc = sd(shim, [*command, "--help"], clean_env)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: selfdiscover " + command[0])


# --- the README's section, run as printed ------------------------------------------------------

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Task scale-in protection\n")
    return text[start : text.index("\n## ", start + 1)]


def test_the_readme_worker_loop_runs_as_printed(in_task: FakeAgent) -> None:
    """The SQS-style loop: protected while a batch is handled, one enable and one release per
    batch, unprotected while idle."""
    blocks = re.findall(r"```python\n(.*?)```", readme_section(), re.S)
    loop = blocks[0]
    assert "task_protection(" in loop and "while True" in loop

    class Done(Exception):
        pass

    batches: list[list[str]] = [["a", "b"], [], ["c"]]
    handled: list[tuple[str, bool]] = []

    class Queue:
        def receive(self, wait_seconds: int, max_messages: int) -> list[str]:
            if not batches:
                raise Done
            return batches.pop(0)

        def delete(self, message: str) -> None:
            pass

    def handle(message: str) -> None:
        handled.append((message, in_task.tasks[0].protection_enabled))

    with pytest.raises(Done):
        exec(loop, {"queue": Queue(), "handle": handle})
    assert handled == [("a", True), ("b", True), ("c", True)]
    assert updates(in_task) == [(True, 30), (False, None), (True, 30), (False, None)]


def test_the_readme_iam_statement_names_both_permissions() -> None:
    statement = re.search(r"```json\n(.*?)```", readme_section(), re.S)
    assert statement is not None
    actions = json.loads(statement.group(1))["Statement"][0]["Action"]
    assert actions == ["ecs:UpdateTaskProtection", "ecs:GetTaskProtection"]
    # The permission the error message names for a role without it is the one shown here.
    assert "ecs:UpdateTaskProtection" in protection._advice("AccessDeniedException", "", 400)

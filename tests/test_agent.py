"""The introspection client and the fake agent, over real loopback sockets."""

from __future__ import annotations

import gzip
import json
import threading
import time
import urllib.request
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from timing import slack

from selfdiscover import (
    AgentClient,
    AgentResponseError,
    AgentUnavailableError,
    AmbiguousIDError,
    Retry,
    TaskNotFoundError,
    Timeout,
    discover,
)
from selfdiscover.sources._agent import parse_metadata, parse_task, parse_tasks
from selfdiscover.testing import Behaviour, FakeAgent, FakeContainer, random_docker_id


def sample(name: str) -> Any:
    return json.loads((resources.files("selfdiscover.testing") / "samples" / name).read_text())


def raw_get(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """A plain stdlib request, so the fake is checked by something other than our client."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a: Any, **k: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, method=method)
    try:
        with opener.open(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


# -- pure parsers -------------------------------------------------------------


def test_parse_every_sample_task() -> None:
    tasks = parse_tasks(sample("introspection-v1-tasks.json"))
    assert [t.family for t in tasks] == ["nginx-web", "api", "worker"]
    assert tasks[0].containers[0].name == "web"
    assert tasks[2].containers == ()
    assert tasks[1].version == "12"


def test_parse_metadata_sample_and_semver() -> None:
    meta = parse_metadata(sample("introspection-v1-metadata.json"))
    assert meta.cluster == "default"
    assert meta.agent_semver == "1.105.1"
    assert parse_metadata({"Cluster": "c"}).version is None  # HideAgentVersion


def test_old_agent_docker_id_key_and_missing_optionals() -> None:
    t = parse_task(
        {
            "Arn": "arn:aws:ecs:us-east-1:012345678910:task/1dc5c17a-422b-4dc4-b493-371970c6c4d6",
            "Family": "f",
            "Version": "1",
            "Containers": [{"DockerID": "ab" * 32, "Name": "n"}],
        }
    )
    assert t.containers[0].docker_id == "ab" * 32
    assert t.containers[0].image is None and t.known_status is None


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"AvailableCommands": ["/v1/metadata"]}, "catch-all"),
        (sample("introspection-v1-task-error.json"), "no 'Arn'"),
        ([], "got list"),
        ({"Arn": "arn:x", "Family": 7, "Version": "1"}, "not a string"),
        ({"Arn": "arn:x", "Family": "f", "Version": "one"}, "not a revision"),
        ({"Arn": "arn:x", "Family": "f;rm -rf /", "Version": "1"}, "not a task definition family"),
        ({"Arn": "nope", "Family": "f", "Version": "1"}, "not an ARN"),
        ({"Arn": "arn:x\n", "Family": "f", "Version": "1"}, "control characters"),
        ({"Arn": "arn:" + "x" * 5000, "Family": "f", "Version": "1"}, "characters long"),
        ({"Arn": "arn:x", "Family": "f", "Version": "1", "Containers": {}}, "not a list"),
        ({"Arn": "arn:x", "Family": "f", "Version": "1", "Containers": [3]}, "not an object"),
    ],
)
def test_parse_task_rejects_with_one_line_cause(body: Any, needle: str) -> None:
    with pytest.raises(AgentResponseError) as e:
        parse_task(body)
    assert needle in str(e.value)
    assert "\n" not in str(e.value)


# -- the fake agent honours the contract (checked with urllib, not our client) --


@pytest.fixture
def samples(agent: FakeAgent) -> None:
    """The agent serves the recorded agent samples."""
    agent.load_samples()


@pytest.mark.usefixtures("samples")
def test_fake_prefix_rules(agent: FakeAgent) -> None:
    full = "63818e2b7704fecfc07f51869ff929c2c0bc647a31e39aa603653e1e79eb32cb"
    status, headers, body = raw_get(f"{agent.url}/v1/tasks?dockerid={full[:12]}")
    assert status == 200 and json.loads(body)["Family"] == "nginx-web"
    assert headers["Content-Type"] == "application/json"
    assert not body.endswith(b"\n")  # Go sends compact JSON, no newline
    # 13..63 characters must match exactly: a prefix that long is a 404.
    status, _, body = raw_get(f"{agent.url}/v1/tasks?dockerid={full[:13]}")
    assert status == 404 and json.loads(body) == sample("introspection-v1-task-error.json")
    # Empty prefix matches every container: ambiguous.
    status, _, body = raw_get(f"{agent.url}/v1/tasks?dockerid=")
    assert status == 400 and json.loads(body)["Arn"] == ""


@pytest.mark.usefixtures("samples")
def test_fake_two_containers_of_one_task_are_ambiguous(agent: FakeAgent) -> None:
    agent.add_task("twin", 1, [FakeContainer("a", "ee" * 32), FakeContainer("b", "ef" * 32)])
    assert raw_get(f"{agent.url}/v1/tasks?dockerid=e")[0] == 400
    assert raw_get(f"{agent.url}/v1/tasks?dockerid=" + "ee" * 32)[0] == 200


@pytest.mark.usefixtures("samples")
def test_fake_both_params_unknown_arn_catch_all_methods(agent: FakeAgent) -> None:
    arn = agent.tasks[0].arn
    assert raw_get(f"{agent.url}/v1/tasks?dockerid=x&taskarn={arn}")[0] == 400
    assert raw_get(f"{agent.url}/v1/tasks?taskarn=arn:nope")[0] == 404
    assert json.loads(raw_get(f"{agent.url}/v1/tasks?taskarn={arn}")[2])["Arn"] == arn
    status, _, body = raw_get(f"{agent.url}/v1/tasks/")
    assert status == 200 and "AvailableCommands" in json.loads(body)
    assert raw_get(f"{agent.url}/v1/metadata", method="DELETE")[0] == 200
    status, headers, _ = raw_get(f"{agent.url}/v1//tasks")
    assert status == 301 and headers["Location"] == "/v1/tasks"
    # ?DockerId= is not the parameter: the full list comes back.
    assert "Tasks" in json.loads(raw_get(f"{agent.url}/v1/tasks?DockerId=x")[2])


@pytest.mark.usefixtures("samples")
def test_fake_pause_container_is_a_key_but_never_listed(agent: FakeAgent) -> None:
    pause = random_docker_id()
    task = agent.add_task(
        "api", 3, [FakeContainer("~internal~ecs~pause", pause, internal=True), FakeContainer("app")]
    )
    status, _, body = raw_get(f"{agent.url}/v1/tasks?dockerid={pause}")
    assert status == 200
    listed = json.loads(body)
    assert listed["Arn"] == task.arn and [c["Name"] for c in listed["Containers"]] == ["app"]


def test_fake_old_agent_quirks() -> None:
    with FakeAgent(behaviour=Behaviour(old_agent=True)) as a:
        a.add_task("f", 1, [FakeContainer("n", "ab" * 32), FakeContainer("m", "ac" * 32)])
        status, headers, body = raw_get(f"{a.url}/v1/tasks?dockerid=a")
        assert status == 400 and body == b"" and "Content-Type" not in headers
        status, headers, body = raw_get(f"{a.url}/v1/tasks?dockerid=" + "ab" * 32)
        assert "DockerID" in json.loads(body)["Containers"][0]
        # ...and our client still reads it.
        assert AgentClient(a.url).task_by_docker_id("ab" * 32).containers[0].docker_id == "ab" * 32
        with pytest.raises(AmbiguousIDError):
            AgentClient(a.url).task_by_docker_id("a")


# -- the client against each misbehaviour -----------------------------------------


def _client(url: str, total: float = 5.0, **kw: Any) -> AgentClient:
    return AgentClient(url, timeout=Timeout(connect=0.5, read=0.5, total=total), **kw)


def _one_task_agent(behaviour: Behaviour) -> tuple[FakeAgent, str]:
    did = random_docker_id()
    a = FakeAgent(behaviour=behaviour)
    a.add_container_task(did, "web", 4)
    return a, did


@pytest.mark.parametrize(
    "behaviour",
    [
        Behaviour(down_for=0.8),
        Behaviour(not_found_for=0.8),
        Behaviour(error_for=0.8),
        Behaviour(error_for=0.8, error_status=503),
        Behaviour(throttle_for=0.8),
    ],
    ids=["refused", "404-race", "500", "503", "429"],
)
def test_transient_failures_are_retried_until_success(behaviour: Behaviour) -> None:
    margin = slack()
    a, did = _one_task_agent(behaviour)
    with a:
        t0 = time.monotonic()
        task = _client(a.url).task_by_docker_id(did)
        took = time.monotonic() - t0
    assert task.family == "web"
    # Ready within the outage plus one maximum backoff (0.5 s) and what the machine adds.
    assert 0.75 <= took < 0.8 + 0.5 + margin, (took, margin)
    answered = a.requests
    assert answered[-1].status == 200
    # Bounded: full-jitter backoff from 50 ms, capped at 0.5 s, cannot need more than ~40 tries.
    assert len(answered) < 40


def test_deadline_is_a_bound_when_the_agent_never_comes() -> None:
    margin = slack()
    a, did = _one_task_agent(Behaviour(down_for=60))
    with a:
        t0 = time.monotonic()
        with pytest.raises(AgentUnavailableError) as e:
            _client(a.url, total=1.2).task_by_docker_id(did)
        took = time.monotonic() - t0
    assert 1.0 <= took <= 1.2 + margin, (took, margin)
    assert "connection refused" in str(e.value) and "attempts" in str(e.value)


def test_lasting_404_becomes_task_not_found() -> None:
    a, _ = _one_task_agent(Behaviour())
    with a:
        with pytest.raises(TaskNotFoundError):
            _client(a.url, total=0.6).task_by_docker_id(random_docker_id())
        n = len(a.requests)
        with pytest.raises(TaskNotFoundError):
            _client(a.url).task_by_docker_id(random_docker_id(), retry_not_found=False)
        assert len(a.requests) == n + 1


def test_slow_answers_time_out_per_request_and_overall() -> None:
    margin = slack()
    a, did = _one_task_agent(Behaviour(delay=3))
    with a:
        t0 = time.monotonic()
        with pytest.raises(AgentUnavailableError) as e:
            _client(a.url, total=1.0).task_by_docker_id(did)
        assert time.monotonic() - t0 < 1.0 + margin
    assert "timed out" in str(e.value)


def test_server_that_accepts_and_never_answers() -> None:
    margin = slack()
    a, did = _one_task_agent(Behaviour(hang=True))
    with a:
        t0 = time.monotonic()
        with pytest.raises(AgentUnavailableError):
            _client(a.url, total=1.0).task_by_docker_id(did)
        assert time.monotonic() - t0 < 1.0 + margin


def test_retries_off_means_exactly_one_request() -> None:
    a, did = _one_task_agent(Behaviour(error_for=10))
    with a:
        with pytest.raises(AgentUnavailableError):
            _client(a.url, retry=Retry(enabled=False)).task_by_docker_id(did)
        assert len(a.requests) == 1


def _override(status: int, body: bytes, headers: dict[str, str] | None = None) -> Behaviour:
    return Behaviour(override=lambda method, target: (status, headers or {}, body))


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "needle"),
    [
        (200, b"<html>oops</html>", {"Content-Type": "text/html"}, AgentResponseError, "not JSON"),
        (200, b'{"Arn": "arn:x", "Fam', {}, AgentResponseError, "not JSON"),
        (200, b"", {}, AgentResponseError, "empty body"),
        (200, b"\xff\xfe\x00garbage", {}, AgentResponseError, "not JSON"),
        (200, b"[" * 100000 + b"]" * 100000, {}, AgentResponseError, "not JSON"),
        (302, b"", {"Location": "http://10.0.0.1/v1/tasks"}, AgentResponseError, "redirect"),
        (418, b"", {}, AgentResponseError, "HTTP 418"),
        (
            200,
            gzip.compress(b"{}" * 10),
            {"Content-Encoding": "gzip"},
            AgentResponseError,
            "Content-Encoding",
        ),
        (200, b"x" * (5 * 1024 * 1024), {}, AgentResponseError, "cap"),
    ],
    ids=["html", "truncated", "empty", "binary", "deep-nesting", "redirect", "teapot", "gzip", "5MB"],
)
def test_hostile_bodies_are_one_request_one_line_error(
    status: int, body: bytes, headers: dict[str, str], error: type[Exception], needle: str
) -> None:
    with FakeAgent(behaviour=_override(status, body, headers)) as a:
        with pytest.raises(error) as e:
            _client(a.url).task_by_docker_id("ab" * 32)
        assert len(a.requests) == 1  # not retried: the agent answered, and badly
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_drip_feeding_server_cannot_hold_past_the_deadline(raw_server: tuple[str, list[bytes]]) -> None:
    url, script = raw_server
    script.append(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    script.extend([b"x", b"<SLEEP0.3>"] * 50)
    margin = slack()
    t0 = time.monotonic()
    with pytest.raises(AgentUnavailableError) as e:
        _client(url, total=1.0, retry=Retry(enabled=False)).task_by_docker_id("ab" * 32)
    assert time.monotonic() - t0 < 1.0 + margin
    assert "deadline" in str(e.value) or "timed out" in str(e.value)


def test_a_dripping_chunk_size_line_cannot_hold_past_the_deadline(
    raw_server: tuple[str, list[bytes]],
) -> None:
    chunk_dripper, script = raw_server
    # A chunk-size line that never ends: one byte per 0.1 s.
    script.append(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;")
    script.extend([b"<SLEEP0.1>", b"x"] * 100)
    margin = slack()
    client = AgentClient(
        chunk_dripper, timeout=Timeout(connect=0.5, read=0.5, total=1.0), retry=Retry(enabled=False)
    )
    t0 = time.monotonic()
    with pytest.raises(AgentUnavailableError):
        client.task_by_docker_id("ab" * 32)
    assert time.monotonic() - t0 < 1.0 + margin


def test_reset_mid_body_is_retried_then_reported(raw_server: tuple[str, list[bytes]]) -> None:
    url, script = raw_server
    script.extend([b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"Arn"', b"<RESET>"])
    with pytest.raises(AgentUnavailableError) as e:
        _client(url, total=0.8).task_by_docker_id("ab" * 32)
    assert "attempts" in str(e.value)


def test_retry_cancels_watchdogs(tmp_path: Path) -> None:
    # After many requests, no watchdog threads linger (timers other tests left are not ours).
    before = {t for t in threading.enumerate() if isinstance(t, threading.Timer)}
    with FakeAgent(behaviour=Behaviour()) as a:
        did = random_docker_id()
        a.add_container_task(did)
        for _ in range(20):
            discover(agent_url=a.url, docker_id=did, proc_root=str(tmp_path))
    # A cancelled watchdog ends at once; one left running waits out its 10 s deadline.
    until = time.monotonic() + 2
    ours = [t for t in threading.enumerate() if isinstance(t, threading.Timer) and t not in before]
    for t in ours:
        t.join(max(0.0, until - time.monotonic()))
    assert sum(t.is_alive() for t in ours) == 0


@pytest.mark.usefixtures("samples")
def test_whole_api_metadata_list_arn_short_id(agent: FakeAgent) -> None:
    c = _client(agent.url)
    assert c.metadata().cluster == "default"
    tasks = c.tasks()
    assert {t.family for t in tasks} == {"nginx-web", "api", "worker"}
    assert c.task_by_arn(tasks[1].arn).family == tasks[1].family
    assert c.task_by_docker_id("ebf45ec12d64").family == "api"
    assert agent.requests[-1].query == "dockerid=ebf45ec12d64"

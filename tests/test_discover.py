"""discover() through the introspection API in each misbehaviour mode: the
result, how many requests it took, and how long (a deadline is a bound)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from timing import slack

from selfdiscover import (
    AgentUnavailableError,
    AmbiguousIDError,
    NotInECSError,
    TaskInfo,
    TaskNotFoundError,
    Timeout,
    discover,
)
from selfdiscover._model import parse_task_arn
from selfdiscover._model._variables import to_variables
from selfdiscover.testing import Behaviour, FakeAgent, FakeContainer, random_docker_id


@pytest.fixture
def proc(tmp_path: Path) -> str:
    (tmp_path / "self").mkdir()
    return str(tmp_path)


def _env(agent: FakeAgent, docker_id: str) -> dict[str, str]:
    return {"SELFDISCOVER_AGENT_URL": agent.url, "SELFDISCOVER_DOCKER_ID": docker_id}


def test_healthy_agent_takes_exactly_two_requests(proc: str) -> None:
    did = random_docker_id()
    margin = slack()
    with FakeAgent(cluster="prod") as a:
        a.add_task("web", 5, [FakeContainer("nginx", did)])
        t0 = time.monotonic()
        info = discover(environ=_env(a, did), proc_root=proc)
        assert time.monotonic() - t0 < margin  # two round trips, no pause
        assert [r.path for r in a.requests] == ["/v1/tasks", "/v1/metadata"]
    assert (info.family, info.version, info.container_name, info.docker_id) == ("web", "5", "nginx", did)
    assert info.cluster == "prod" and info.cluster_name == "prod" and info.agent_version == "1.105.1"
    assert info.region == "us-west-2" and info.account == "111122223333" and len(info.task_id or "") == 32
    assert info.source == f"introspection {a.url}"


@pytest.mark.parametrize(
    ("behaviour", "outage"),
    [
        (Behaviour(down_for=1.0), 1.0),
        (Behaviour(not_found_for=1.0), 1.0),
        (Behaviour(error_for=1.0), 1.0),
        (Behaviour(throttle_for=1.0), 1.0),
        (Behaviour(delay=0.3), 0.3),
        (Behaviour(old_agent=True), 0.0),
    ],
    ids=["not-listening", "404-race", "5xx", "429", "slow", "old-agent"],
)
def test_each_misbehaviour_ends_in_the_task(proc: str, behaviour: Behaviour, outage: float) -> None:
    did = random_docker_id()
    margin = slack()
    with FakeAgent(behaviour=behaviour) as a:
        a.add_container_task(did, "api", 3)
        t0 = time.monotonic()
        info = discover(environ=_env(a, did), proc_root=proc)
        took = time.monotonic() - t0
        n = len(a.requests)
    assert info.family == "api" and info.version == "3"
    # Ready within one maximum backoff (0.5 s) of the outage ending, plus what the machine adds.
    assert outage * 0.9 <= took <= outage + 0.5 + margin, (took, margin)
    # Bounded: each wait is uniform under min(50 ms * 2^n, 0.5 s, 50 ms + 10% of the time spent),
    # about 24 tries in a 1 s outage on average (simulated p99 31, max 38).
    assert n <= 45, n


def test_agent_that_never_answers_fails_at_the_deadline(proc: str) -> None:
    did = random_docker_id()
    margin = slack()
    with FakeAgent(behaviour=Behaviour(error_for=60)) as a:
        a.add_container_task(did)
        t0 = time.monotonic()
        with pytest.raises(AgentUnavailableError, match="HTTP 500") as e:
            discover(environ=_env(a, did), proc_root=proc, timeout=1.5)
        took = time.monotonic() - t0
    assert 1.3 <= took <= 1.5 + margin, (took, margin)
    assert "\n" not in str(e.value)


def test_a_404_that_outlives_the_deadline_is_task_not_found(tmp_path: Path) -> None:
    (tmp_path / "self").mkdir()
    margin = slack()
    with FakeAgent() as a:
        t0 = time.monotonic()
        with pytest.raises(TaskNotFoundError):
            discover(agent_url=a.url, docker_id=random_docker_id(), proc_root=str(tmp_path), timeout=0.8)
        assert time.monotonic() - t0 < 0.8 + margin


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 0.0, -1.0])
def test_a_timeout_that_is_not_a_bound_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="must be in"):
        Timeout(total=bad)


def test_unknown_container_is_not_found_and_ambiguous_short_id_is_an_error(proc: str) -> None:
    with FakeAgent() as a:
        a.add_task("twin", 1, [FakeContainer("a", "ab" + "0" * 62), FakeContainer("b", "ab" + "1" * 62)])
        with pytest.raises((TaskNotFoundError, AgentUnavailableError)):
            discover(environ=_env(a, random_docker_id()), proc_root=proc, timeout=0.6)
        n = len(a.requests)
        with pytest.raises(AmbiguousIDError):
            discover(environ={"SELFDISCOVER_AGENT_URL": a.url}, docker_id="ab", proc_root=proc, timeout=5)
        assert len(a.requests) == n + 1  # a 400 is not retried


def test_no_evidence_means_one_quick_try(proc: str) -> None:
    margin = slack()
    with FakeAgent() as a:
        pass  # closed: nothing listens on its port
    t0 = time.monotonic()
    with pytest.raises(NotInECSError):
        discover(
            environ={"SELFDISCOVER_DOCKER_ID": random_docker_id()},
            proc_root=proc,
            sources=["agent-localhost"],
        )
    assert time.monotonic() - t0 < margin
    assert a.requests == []


def test_anything_answering_on_localhost_outside_ecs_is_not_ecs(tmp_path: Path) -> None:
    # An agent that answers 404 (e.g. `selfdiscover emulate` on a laptop) with no ECS evidence.
    (tmp_path / "self").mkdir()
    try:
        agent = FakeAgent("127.0.0.1", 51678)
    except OSError:
        pytest.skip("127.0.0.1:51678 is in use on this machine")
    with agent:
        with pytest.raises(NotInECSError):
            discover(
                environ={"SELFDISCOVER_DOCKER_ID": random_docker_id()},
                proc_root=str(tmp_path),
                sources=["agent-localhost"],
            )
        assert [r.status for r in agent.requests] == [404]


def test_bad_explicit_agent_url_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="agent URL"):
        discover(agent_url="ftp://x", docker_id="ab" * 32, proc_root=str(tmp_path))


def test_arn_formats_and_variables() -> None:
    new = parse_task_arn("arn:aws:ecs:us-west-2:111122223333:task/default/779b8a8d50969131fbd34302c9e8184d")
    old = parse_task_arn("arn:aws:ecs:us-east-1:012345678910:task/1dc5c17a-422b-4dc4-b493-371970c6c4d6")
    gov = parse_task_arn(
        "arn:aws-us-gov:ecs:us-gov-west-1:012345678910:task/c/0123456789abcdef0123456789abcdef"
    )
    assert new and new.cluster == "default" and new.task_id == "779b8a8d50969131fbd34302c9e8184d"
    assert old and old.cluster is None and old.task_id == "1dc5c17a-422b-4dc4-b493-371970c6c4d6"
    assert gov and gov.partition == "aws-us-gov"
    for bad in (
        "",
        "arn:aws:ecs:us-west-2:111122223333:service/x",
        "arn:aws:ecs:r:1:task/x",
        "arn:aws:ecs:us-west-2:111122223333:task/a/b/c",
        "arn:aws:ecs:us-west-2:111122223333:task/ZZZ",
    ):
        assert parse_task_arn(bad) is None
    info = TaskInfo(
        arn="arn:aws:ecs:us-east-1:012345678910:task/1dc5c17a-422b-4dc4-b493-371970c6c4d6",
        family="f",
        version="2",
        cluster="arn:aws:ecs:us-east-1:012345678910:cluster/blue",
    )
    v = to_variables(info)
    assert v["ECS_CLUSTER"] == "blue" and v["ECS_TASK_DEFINITION"] == "f:2" and "ECS_CONTAINER_NAME" not in v
    assert set(to_variables(info, "X_")) == {k.replace("ECS_", "X_", 1) for k in v}
    # An ARN that does not parse is still reported; only derived values are missing.
    odd = TaskInfo(arn="arn:weird", family="f", version="1")
    assert to_variables(odd)["ECS_TASK_ARN"] == "arn:weird" and odd.task_id is None

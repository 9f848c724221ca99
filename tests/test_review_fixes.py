"""Regression tests for what the code review found."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from selfdiscover import (
    AgentUnavailableError,
    NotInECSError,
    Retry,
    TaskNotFoundError,
    Timeout,
    _tags,
    discover,
)
from selfdiscover.sources._agent import AgentClient
from selfdiscover.testing import Behaviour, FakeAgent, random_docker_id


def test_a_dripping_chunk_size_line_cannot_hold_past_the_deadline(
    raw_server: tuple[str, list[bytes]],
) -> None:
    chunk_dripper, script = raw_server
    # A chunk-size line that never ends: one byte per 0.1 s.
    script.append(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;")
    script.extend([b"<SLEEP0.1>", b"x"] * 100)
    client = AgentClient(
        chunk_dripper, timeout=Timeout(connect=0.5, read=0.5, total=1.0), retry=Retry(enabled=False)
    )
    t0 = time.monotonic()
    with pytest.raises(AgentUnavailableError):
        client.task_by_docker_id("ab" * 32)
    assert time.monotonic() - t0 < 1.4


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


def test_a_404_that_outlives_the_deadline_is_task_not_found(tmp_path: Path) -> None:
    (tmp_path / "self").mkdir()
    with FakeAgent() as a:
        t0 = time.monotonic()
        with pytest.raises(TaskNotFoundError):
            discover(agent_url=a.url, docker_id=random_docker_id(), proc_root=str(tmp_path), timeout=0.8)
        assert time.monotonic() - t0 < 1.1


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 0.0, -1.0])
def test_a_timeout_that_is_not_a_bound_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="must be in"):
        Timeout(total=bad)


def test_bad_explicit_agent_url_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="agent URL"):
        discover(agent_url="ftp://x", docker_id="ab" * 32, proc_root=str(tmp_path))


def test_logging_identity_from_a_fifo_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "ecs.env"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    assert _tags.resolve(env_file=str(fifo), environ={}) is None
    assert time.monotonic() - t0 < 1.0


def test_logging_skips_quoted_dialect_files(tmp_path: Path) -> None:
    f = tmp_path / "ecs.sh"
    f.write_text(
        "ECS_TASK_ARN='arn:aws:ecs:us-west-2:111122223333:task/c/0123456789abcdef0123456789abcdef'\n"
    )
    assert _tags.resolve(env_file=f"shell:{f}", environ={"TMPDIR": str(tmp_path)}) is None


def test_retry_cancels_watchdogs(tmp_path: Path) -> None:
    # After many requests, no watchdog threads linger.
    with FakeAgent(behaviour=Behaviour()) as a:
        did = random_docker_id()
        a.add_container_task(did)
        for _ in range(20):
            discover(agent_url=a.url, docker_id=did, proc_root=str(tmp_path))
    time.sleep(0.1)
    assert sum(isinstance(t, threading.Timer) and t.is_alive() for t in threading.enumerate()) == 0

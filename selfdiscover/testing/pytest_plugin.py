"""pytest fixtures: ``fake_agent`` (a started ``FakeAgent`` on a free loopback
port) and ``agent_env`` (``monkeypatch``-ed variables pointing selfdiscover at
it with a fixed container ID), and ``fake_imds`` (a started ``FakeIMDS``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._fake_agent import FakeAgent, random_docker_id
from ._fake_imds import FakeIMDS


@pytest.fixture
def fake_agent() -> Iterator[FakeAgent]:
    agent = FakeAgent()
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()


@pytest.fixture
def agent_env(fake_agent: FakeAgent, monkeypatch: pytest.MonkeyPatch) -> FakeAgent:
    """Point discovery at ``fake_agent`` with one task owning a fresh container ID."""
    docker_id = random_docker_id()
    fake_agent.add_container_task(docker_id)
    monkeypatch.setenv("SELFDISCOVER_AGENT_URL", fake_agent.url)
    monkeypatch.setenv("SELFDISCOVER_DOCKER_ID", docker_id)
    return fake_agent


@pytest.fixture
def fake_imds() -> Iterator[FakeIMDS]:
    """IMDSv2 on a free loopback port; give ``fake_imds.url`` to ``SELFDISCOVER_IMDS_URL``."""
    imds = FakeIMDS()
    imds.start()
    try:
        yield imds
    finally:
        imds.stop()

"""pytest fixtures: ``fake_agent`` (a started ``FakeAgent`` on a free loopback
port) and ``agent_env`` (``monkeypatch``-ed variables pointing selfdiscover at
it with a fixed container ID), and ``fake_imds`` (a started ``FakeIMDS``).

Registered through the ``pytest11`` entry point, so pytest imports this module
at every start wherever selfdiscover is installed. It is made harmless: it adds
no hooks, options or autouse fixtures, imports the fakes only when a test
asks for one of the fixtures, and a fixture of the same name in a
``conftest.py`` overrides it (pytest prefers the closer definition). To leave it
out entirely: ``pytest -p no:selfdiscover``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ._fake_agent import FakeAgent
    from ._fake_imds import FakeIMDS


@pytest.fixture
def fake_agent() -> Iterator[FakeAgent]:
    from ._fake_agent import FakeAgent

    agent = FakeAgent()
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()


@pytest.fixture
def agent_env(fake_agent: FakeAgent, monkeypatch: pytest.MonkeyPatch) -> FakeAgent:
    """Point discovery at ``fake_agent`` with one task owning a fresh container ID."""
    from ._fake_agent import random_docker_id

    docker_id = random_docker_id()
    fake_agent.add_container_task(docker_id)
    monkeypatch.setenv("SELFDISCOVER_AGENT_URL", fake_agent.url)
    monkeypatch.setenv("SELFDISCOVER_DOCKER_ID", docker_id)
    return fake_agent


@pytest.fixture
def fake_imds() -> Iterator[FakeIMDS]:
    """IMDSv2 on a free loopback port; give ``fake_imds.url`` to ``SELFDISCOVER_IMDS_URL``."""
    from ._fake_imds import FakeIMDS

    imds = FakeIMDS()
    imds.start()
    try:
        yield imds
    finally:
        imds.stop()

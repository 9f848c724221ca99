"""Testing helpers shipped with the library: a fake ECS agent you can run
in-process, from the command line (``selfdiscover fake-agent``), or as the
``fake_agent`` pytest fixture (registered automatically when selfdiscover is
installed), and a fake EC2 instance metadata service (``FakeIMDS``, the
``fake_imds`` fixture) for the opt-in host-address client.

Names load on first use: pytest imports this package at every start (the
plugin lives here), and a test run that never asks for the fake agent should
not pay for its HTTP server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._docker_emulator import DockerAgent
    from ._fake_agent import (
        Behaviour,
        FakeAgent,
        FakeBinding,
        FakeContainer,
        FakeENI,
        FakePort,
        FakeTask,
        RequestRecord,
        random_docker_id,
    )
    from ._fake_imds import FakeIMDS, IMDSRequest

__all__ = [
    "Behaviour",
    "DockerAgent",
    "FakeAgent",
    "FakeBinding",
    "FakeContainer",
    "FakeENI",
    "FakeIMDS",
    "FakePort",
    "FakeTask",
    "IMDSRequest",
    "RequestRecord",
    "random_docker_id",
]


def __getattr__(name: str) -> object:
    if name == "DockerAgent":  # needs the docker extra
        from ._docker_emulator import DockerAgent

        return DockerAgent
    if name in ("FakeIMDS", "IMDSRequest"):
        from . import _fake_imds

        return getattr(_fake_imds, name)
    if name in __all__:
        from . import _fake_agent

        return getattr(_fake_agent, name)
    raise AttributeError(f"module 'selfdiscover.testing' has no attribute {name!r}")

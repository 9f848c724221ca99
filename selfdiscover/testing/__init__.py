"""Testing helpers shipped with the library: a fake ECS agent you can run
in-process, from the command line (``selfdiscover fake-agent``), or as the
``fake_agent`` pytest fixture (registered automatically when selfdiscover is
installed), and a fake EC2 instance metadata service (``FakeIMDS``, the
``fake_imds`` fixture) for the opt-in host-address client.
"""

from __future__ import annotations

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
    if name == "DockerAgent":  # needs the docker extra: imported only on use
        from ._docker_emulator import DockerAgent

        return DockerAgent
    raise AttributeError(f"module 'selfdiscover.testing' has no attribute {name!r}")

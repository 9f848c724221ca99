"""Testing helpers shipped with the library: a fake ECS agent you can run
in-process, from the command line (``selfdiscover fake-agent``), or as the
``fake_agent`` pytest fixture (registered automatically when selfdiscover is
installed).
"""

from __future__ import annotations

from ._fake_agent import Behaviour, FakeAgent, FakeContainer, FakeTask, RequestRecord, random_docker_id

__all__ = [
    "Behaviour",
    "DockerAgent",
    "FakeAgent",
    "FakeContainer",
    "FakeTask",
    "RequestRecord",
    "random_docker_id",
]


def __getattr__(name: str) -> object:
    if name == "DockerAgent":  # needs the docker extra: imported only on use
        from ._docker_emulator import DockerAgent

        return DockerAgent
    raise AttributeError(f"module 'selfdiscover.testing' has no attribute {name!r}")

"""A fake TMDE v4 serving the bundled awsvpc sample, for the OpenTelemetry tests.

The sample carries what the official detector reads (ContainerARN, awslogs
LogOptions, LaunchType) and more (ServiceName); it is answered through the
fake agent's raw ``override`` hook over a real socket on loopback.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import selfdiscover.testing
from selfdiscover.testing import Behaviour, FakeAgent

SAMPLES = Path(selfdiscover.testing.__file__).parent / "samples"
TASK: dict[str, Any] = json.loads((SAMPLES / "tmde-v4-task-awsvpc.json").read_text())
APP: dict[str, Any] = next(c for c in TASK["Containers"] if c["Name"] == "app")
ENDPOINT = "5b810309-bda5-4e3f-bc6a-e78ad60ea11d"  # the TMDE endpoint id in the injected URI


class SampleTMDE:
    """TMDE v4 for one container, from documents a test may edit; optionally
    404 for the first ``missing_for`` seconds, as the agent answers before it
    has recorded the container."""

    def __init__(self, task: dict[str, Any], container: dict[str, Any]) -> None:
        self.task = task
        self.container = container
        self.missing_for = 0.0
        self.agent = FakeAgent(behaviour=Behaviour(override=self._answer))

    @property
    def uri(self) -> str:
        return f"{self.agent.url}/v4/{ENDPOINT}"

    def _answer(self, method: str, target: str) -> tuple[int, dict[str, str], bytes] | None:
        path = urlsplit(target).path
        doc = {f"/v4/{ENDPOINT}": self.container, f"/v4/{ENDPOINT}/task": self.task}.get(path)
        if doc is None:
            return None
        ct = {"Content-Type": "application/json"}
        if self.agent.elapsed() < self.missing_for:
            return 404, ct, json.dumps("V4 container metadata handler: unable to get container ID").encode()
        return 200, ct, json.dumps(doc).encode()


def sample() -> SampleTMDE:
    """A fresh copy of the sample, safe to edit."""
    task = copy.deepcopy(TASK)
    return SampleTMDE(task, next(c for c in task["Containers"] if c["Name"] == "app"))

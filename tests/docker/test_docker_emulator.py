"""The agent emulator against a real engine: tasks are the running containers'
com.amazonaws.ecs.* labels, grouped by task ARN; the pause container is a
lookup key but never listed."""

from __future__ import annotations

import json
import secrets

import dockerkit as dk
import pytest

pytestmark = pytest.mark.docker


def test_emulator_serves_tasks_from_docker_labels(containers: dk.Containers, task_ns: str) -> None:
    task_id = secrets.token_hex(16)
    ids = {
        name: containers.start(
            dk.BASE_IMAGE,
            "sleep",
            "infinity",
            network="none",
            init=True,
            labels=dk.task_labels("multi", 4, name, task_id=task_id),
        )
        for name in ("app", "sidecar", "~internal~ecs~pause")
    }
    arn = dk.task_labels(task_id=task_id)["com.amazonaws.ecs.task-arn"]

    def agent(*args: str) -> dict[str, object]:
        r = containers.run(
            dk.SHIM_IMAGE,
            "agent",
            *args,
            "--agent-url",
            dk.AGENT_URL,
            "--timeout",
            "10",
            network=task_ns,
            entrypoint="selfdiscover",
        )
        assert r.exit_code == 0, r.stderr
        return json.loads(r.stdout)  # type: ignore[no-any-return]

    task = agent("tasks", "--taskarn", arn)
    assert (task["Arn"], task["Family"], task["Version"], task["KnownStatus"]) == (
        arn,
        "multi",
        "4",
        "RUNNING",
    )
    listed = {c["Name"]: c["DockerId"] for c in task["Containers"]}  # type: ignore[attr-defined]
    assert listed == {"app": ids["app"], "sidecar": ids["sidecar"]}
    by_pause = agent("tasks", "--dockerid", ids["~internal~ecs~pause"][:12])
    assert by_pause["Arn"] == arn
    assert "Cluster" in agent("metadata")

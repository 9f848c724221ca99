"""examples/library: an application that imports selfdiscover, discovers its
task at start-up and logs with the task's tags (selfdiscover.logging)."""

from __future__ import annotations

import dockerkit as dk
import pytest

pytestmark = pytest.mark.docker


def test_library_example_logs_with_task_tags(
    containers: dk.Containers, task_ns: str, agent_env: dict[str, str]
) -> None:
    labels = dk.task_labels(family="billing", version=12, name="worker", cluster="demo")
    task_id = labels["com.amazonaws.ecs.task-arn"].rsplit("/", 1)[1]
    r = containers.run(dk.LIBRARY_IMAGE, network=task_ns, env=agent_env, labels=labels)
    assert r.exit_code == 0, r.stdout + r.stderr
    tags = f"[billing:12 task={task_id} container=worker cluster=demo]"
    lines = r.stdout.splitlines()
    assert f"INFO {tags} example: started as billing:12 ({labels['com.amazonaws.ecs.task-arn']})" in lines
    assert f"INFO {tags} example.worker: doing some work" in lines


def test_library_example_outside_ecs_logs_empty_tags(containers: dk.Containers) -> None:
    r = containers.run(dk.LIBRARY_IMAGE, network="none", env={"SELFDISCOVER_TIMEOUT": "3"})
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "INFO [: task= container= cluster=] example.worker: doing some work" in r.stdout.splitlines()

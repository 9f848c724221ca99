"""The env file the shim writes, consumed by a second container through
``docker run --env-file`` (the docker dialect is that format)."""

from __future__ import annotations

import json
from pathlib import Path

import dockerkit as dk
import pytest

pytestmark = pytest.mark.docker


def test_env_file_consumed_by_docker_run_env_file(
    containers: dk.Containers, task_ns: str, agent_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    labels = dk.task_labels(family="producer", version=5, name="app", cluster="demo")
    r = containers.run(
        dk.SHIM_IMAGE,
        network=task_ns,
        labels=labels,
        env={**agent_env, "SELFDISCOVER_ENV_FILE": "/out/ecs.env"},
        volumes=[f"{out}:/out"],
    )
    assert r.exit_code == 0, r.stderr
    app = dk.parse_app(r.stdout)
    env_file = out / "ecs.env"
    written = dk.read_env_file(env_file.read_text())
    assert written["ECS_TASK_FAMILY"] == "producer"
    assert written["ECS_TASK_ARN"] == labels["com.amazonaws.ecs.task-arn"]
    assert written["ECS_CONTAINER_ID"] == r.id

    consumer = containers.run(
        dk.BASE_IMAGE,
        "python3",
        "-c",
        "import json, os; print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('ECS_')}))",
        network="none",
        options=["--env-file", str(env_file)],
    )
    assert consumer.exit_code == 0, consumer.stderr
    seen = json.loads(consumer.stdout)
    assert seen == written
    assert {k: seen[k] for k in app.env} == app.env  # the same values the app was given

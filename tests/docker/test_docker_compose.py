"""examples/compose under pytest-docker: a holder (network_mode: none), the
agent emulator and the shim example joined to it (network_mode:
service:holder), and a consumer reading the app's env file with env_file.

The example runs from a copy, so its ./out directory is per session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import dockerkit as dk
import pytest

pytestmark = pytest.mark.docker

Compose = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture(scope="session")
def compose_dir(example_images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("compose") / "examples"
    shutil.copytree(dk.EXAMPLES, work, ignore=shutil.ignore_patterns("wheels", "out", "__pycache__"))
    return work / "compose"


@pytest.fixture(scope="session")
def docker_compose_file(compose_dir: Path) -> str:
    return str(compose_dir / "docker-compose.yml")


@pytest.fixture(scope="session")
def docker_compose_project_name() -> str:
    return f"{dk.COMPOSE_PREFIX}{os.getpid()}"  # stale once this process is gone


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    # The agent first (healthy once it listens), then the one-shot app. The
    # images exist already (example_images); pull_policy: never.
    return ["up -d --wait agent", "up --no-log-prefix --exit-code-from app app"]


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    return ["down -v -t 1"]


@pytest.fixture(scope="session")
def compose(
    docker_compose_command: str, docker_compose_file: str, docker_compose_project_name: str
) -> Iterator[Compose]:
    base = [*docker_compose_command.split(), "-f", docker_compose_file, "-p", docker_compose_project_name]

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        p = subprocess.run([*base, *args], capture_output=True, text=True, timeout=timeout)
        assert p.returncode == 0, f"compose {' '.join(args)} exited {p.returncode}:\n{p.stderr}"
        return p

    yield run
    # also when docker_services failed half-way through its set-up
    subprocess.run([*base, "down", "-v", "-t", "1"], capture_output=True, timeout=120)


def test_env_file_consumed_by_compose_env_file(
    compose: Compose, docker_services: object, compose_dir: Path
) -> None:
    app_id = compose("ps", "-a", "-q", "--no-trunc", "app").stdout.strip()
    app = dk.parse_app(compose("logs", "--no-log-prefix", "app").stdout)
    assert app.env["ECS_TASK_FAMILY"] == "web"
    assert app.env["ECS_TASK_VERSION"] == "7"
    assert app.env["ECS_TASK_ARN"] == (
        "arn:aws:ecs:us-west-2:111122223333:task/demo/0123456789abcdef0123456789abcdef"
    )
    assert app.env["ECS_CONTAINER_ID"] == app_id

    written = dk.read_env_file((compose_dir / "out" / "ecs.env").read_text())
    assert {k: written[k] for k in app.env} == app.env

    consumer = compose("run", "--rm", "consumer")
    seen = dict(line.split("=", 1) for line in consumer.stdout.splitlines() if line.startswith("ECS_"))
    assert seen == written

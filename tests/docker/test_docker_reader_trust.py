"""``docker exec`` sessions (which never pass through the ENTRYPOINT) read the
default env file the way the shim wrote it, in real containers: a
``$TMPDIR/selfdiscover`` planted by another uid is refused by both, and a stale
``/run/selfdiscover/ecs.env`` baked into a read-only image loses to the
fallback this container's shim wrote."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import dockerkit as dk
import pytest

pytestmark = pytest.mark.docker

FORGED_ARN = f"arn:aws:ecs:{dk.REGION}:{dk.ACCOUNT}:task/forged/{'f' * 32}"
# What an exec session's logging sees: the identity, and the one warning if any.
SESSION = (
    "import json, logging, sys\n"
    "logging.basicConfig(stream=sys.stderr, format='%(message)s')\n"
    "import selfdiscover.logging as l\n"
    "print(json.dumps(l.load()))\n"
)
READ_ONLY = ["--read-only", "--tmpfs", "/tmp"]


def wait_until_exec_d(cid: str, comm: str = "sleep", timeout: float = 60) -> None:
    """Until PID 1 is CMD: the shim has written its file and exec'd."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        p = dk.docker("exec", cid, "cat", "/proc/1/comm", check=False)
        if p.stdout.strip() == comm:
            return
        state = dk.docker("inspect", "-f", "{{.State.Running}}", cid).stdout.strip()
        assert state == "true", dk.docker("logs", cid).stderr
        time.sleep(0.1)
    raise AssertionError(f"PID 1 of {cid[:12]} never became {comm!r}")


def session(cid: str) -> tuple[dict[str, str], str]:
    p = dk.docker("exec", cid, "python3", "-c", SESSION)
    identity: dict[str, str] = json.loads(p.stdout)
    return identity, p.stderr


def test_a_tmpdir_planted_by_another_uid_is_refused_by_shim_and_session(
    containers: dk.Containers, task_ns: str, agent_env: dict[str, str]
) -> None:
    labels = dk.task_labels(family="web", version=7, name="app")
    plant = (
        "mkdir /tmp/selfdiscover"
        f" && printf 'ECS_TASK_ARN={FORGED_ARN}\\nECS_TASK_FAMILY=forged\\n' > /tmp/selfdiscover/ecs.env"
        " && chown -R 4242:4242 /tmp/selfdiscover"
        " && exec selfdiscover exec -- sleep infinity"
    )
    cid = containers.start(
        dk.SHIM_IMAGE,
        "-c",
        plant,
        network=task_ns,
        env=agent_env,
        labels=labels,
        entrypoint="sh",
        options=READ_ONLY,
    )
    wait_until_exec_d(cid)
    _, shim_err = containers.logs(cid)
    assert shim_err == (
        "selfdiscover: default env file not written: "
        "/run/selfdiscover/ecs.env: Read-only file system; "
        "/tmp/selfdiscover/ecs.env: /tmp/selfdiscover is owned by uid 4242, not by uid 0\n"
    )
    identity, warning = session(cid)
    assert identity == {}  # not the forged ARN
    assert "/tmp/selfdiscover is owned by uid 4242" in warning
    assert FORGED_ARN not in warning


@pytest.fixture
def stale_image(example_images: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """The shim image with another task's /run/selfdiscover/ecs.env baked in, years old."""
    tag = f"selfdiscover-test-i14a-stale-run-{os.getpid()}"
    (tmp_path / "Dockerfile").write_text(
        f"FROM {dk.SHIM_IMAGE}\n"
        "RUN mkdir -p /run/selfdiscover"
        f" && printf 'ECS_TASK_ARN={FORGED_ARN}\\nECS_TASK_FAMILY=stale\\n' > /run/selfdiscover/ecs.env"
        " && touch -d '2020-01-01 00:00:00' /run/selfdiscover/ecs.env\n"
    )
    build = ["build", "-q", "--network", "none", "--label", f"{dk.LABEL}=1", "-t", tag, str(tmp_path)]
    dk.docker(*build, timeout=300)
    try:
        yield tag
    finally:
        dk.docker("rmi", "-f", tag, check=False)


def test_a_stale_file_baked_into_a_read_only_image_loses_to_the_fallback(
    containers: dk.Containers, task_ns: str, agent_env: dict[str, str], stale_image: str
) -> None:
    labels = dk.task_labels(family="web", version=7, name="app")
    cid = containers.start(
        stale_image, "sleep", "infinity", network=task_ns, env=agent_env, labels=labels, options=READ_ONLY
    )
    wait_until_exec_d(cid)
    baked = dk.docker("exec", cid, "cat", "/run/selfdiscover/ecs.env").stdout
    assert "ECS_TASK_FAMILY=stale" in baked  # still there: the root is read-only
    fallback = dk.docker("exec", cid, "cat", "/tmp/selfdiscover/ecs.env").stdout
    assert "ECS_TASK_FAMILY=web" in fallback
    identity, warning = session(cid)
    assert identity["TASK_FAMILY"] == "web"
    assert identity["TASK_ARN"] == labels["com.amazonaws.ecs.task-arn"]
    assert warning == ""  # a file was believed: no warning about the stale one

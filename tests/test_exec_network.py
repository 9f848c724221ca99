"""``selfdiscover exec`` with the network, limits, service and tag fields: the variables
reach CMD and every env file (read back by the real reader of each dialect), tags are
opt-in and go through the same hostile-value checks as every other value, and the
agent's ``Errors`` only warn. The TMDE answers come over a real socket from the fake
agent (its ``override`` hook serves the documents verbatim)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from shimrun import EX_DATAERR, EX_UNAVAILABLE, dump_cmd, dumped, sd
from test_exec import ONE_READER, READER_PARAMS, Reader

import selfdiscover.testing
from selfdiscover.testing import Behaviour, FakeAgent

SAMPLES = Path(selfdiscover.testing.__file__).parent / "samples"
BRIDGE_ID = "63818e2b7704fecfc07f51869ff929c2c0bc647a31e39aa603653e1e79eb32cb"
TASK_ARN = "arn:aws:ecs:us-west-2:111122223333:task/default/779b8a8d50969131fbd34302c9e8184d"


def bridge_task() -> dict[str, Any]:
    container = json.loads((SAMPLES / "tmde-v4-container-bridge.json").read_text())
    container["Ports"] += [
        {"ContainerPort": 9125, "Protocol": "udp", "HostPort": 49153, "HostIp": "0.0.0.0"},
        {"ContainerPort": 80, "Protocol": "tcp", "HostPort": 32768, "HostIp": "::"},  # dual-stack twin
    ]
    return {
        "Cluster": "default",
        "TaskARN": TASK_ARN,
        "Family": "nginx-web",
        "Revision": "7",
        "KnownStatus": "RUNNING",
        "Limits": {"CPU": 0.5, "Memory": 1024},
        "AvailabilityZone": "us-west-2b",
        "LaunchType": "EC2",
        "Containers": [container],
        "ServiceName": "storefront",
        "FaultInjectionEnabled": False,
    }


class TMDE:
    """Serves ``task`` for ``/v4/<id>/task`` and ``/taskWithTags``; records the paths."""

    def __init__(self, task: dict[str, Any]) -> None:
        self.task = task
        self.paths: list[str] = []

    def __call__(self, method: str, target: str) -> tuple[int, dict[str, str], bytes] | None:
        self.paths.append(target)
        if target.endswith(("/task", "/taskWithTags")):
            body = copy.deepcopy(self.task)
            if not target.endswith("/taskWithTags"):
                for key in ("TaskTags", "ContainerInstanceTags", "Errors"):
                    body.pop(key, None)
            return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()
        return 404, {"Content-Type": "text/plain; charset=utf-8"}, b"404 page not found\n"


@pytest.fixture
def tmde() -> Iterator[tuple[FakeAgent, TMDE]]:
    handler = TMDE(bridge_task())
    with FakeAgent(behaviour=Behaviour(override=handler)) as agent:
        yield agent, handler


def exported(proc: Any) -> dict[str, str]:
    """The ECS variables CMD got, minus the one the agent itself set (the shim's input)."""
    env = dumped(proc)["env"]
    assert isinstance(env, dict)
    return {k: v for k, v in env.items() if k != "ECS_CONTAINER_METADATA_URI_V4"}


def shim_env(clean_env: dict[str, str], agent: FakeAgent, **extra: str) -> dict[str, str]:
    return dict(
        clean_env,
        ECS_CONTAINER_METADATA_URI_V4=f"{agent.url}/v4/0b1c2d3e-endpoint",
        SELFDISCOVER_DOCKER_ID=BRIDGE_ID,
        SELFDISCOVER_SOURCES="tmde-v4",
        SELFDISCOVER_TIMEOUT="5",
        **extra,
    )


EXPECTED = {
    "ECS_NETWORK_MODE": "bridge",
    "ECS_CONTAINER_IPV4": "172.17.0.3",
    "ECS_PORT_80_TCP": "32768",
    "ECS_PORT_9125_UDP": "49153",
    "ECS_SERVICE_NAME": "storefront",
    "ECS_TASK_CPU": "512",
    "ECS_TASK_MEMORY": "1024",
    "ECS_CONTAINER_CPU": "256",
    "ECS_CONTAINER_MEMORY": "512",
    "ECS_CONTAINER_IMAGE": "nginx:1.27",
    "ECS_CONTAINER_ARN": (
        "arn:aws:ecs:us-west-2:111122223333:container/default/779b8a8d50969131fbd34302c9e8184d/"
        "45ae536d-3517-4142-8cca-c56ba6a08706"
    ),
    "ECS_LOG_GROUP": "/ecs/nginx-web",
    "ECS_LOG_STREAM": "ecs/web/779b8a8d50969131fbd34302c9e8184d",
    "ECS_TASK_FAMILY": "nginx-web",
    "ECS_CONTAINER_NAME": "web",
}


def test_network_variables_reach_cmd_and_every_dialect(
    shim: list[str], clean_env: dict[str, str], tmde: tuple[FakeAgent, TMDE], tmp_path: Path
) -> None:
    agent, handler = tmde
    files = {d: tmp_path / f"ecs.{d}" for d in ONE_READER}
    args = [a for d, p in files.items() for a in ("--env-file", f"{d}:{p}")]
    proc = sd(shim, ["exec", *args, "--", *dump_cmd()], shim_env(clean_env, agent))
    env = exported(proc)
    assert {k: env.get(k) for k in EXPECTED} == EXPECTED
    # Unknown here, so left out: no host address, no IPv6, no DNS name, no tags asked.
    for absent in ("ECS_HOST_IPV4", "ECS_CONTAINER_IPV6", "ECS_PRIVATE_DNS_NAME", "ECS_TASK_TAGS"):
        assert absent not in env
    assert proc.stderr == ""
    assert [p for p in handler.paths if p.startswith("/v4/")] == ["/v4/0b1c2d3e-endpoint/task"]  # one request
    for dialect, path in files.items():
        assert ONE_READER[dialect](path, env) == env, dialect


def test_tags_are_opt_in_and_errors_only_warn(
    shim: list[str], clean_env: dict[str, str], tmde: tuple[FakeAgent, TMDE]
) -> None:
    agent, handler = tmde
    handler.task["TaskTags"] = {"team": "payments"}
    handler.task["ContainerInstanceTags"] = {}
    handler.task["Errors"] = [
        {
            "ErrorField": "ContainerInstanceTags",
            "ErrorCode": "AccessDeniedException",
            "ErrorMessage": "User is not authorized to perform ecs:ListTagsForResource",
            "StatusCode": 400,
        }
    ]
    proc = sd(shim, ["exec", "--no-env-file", "--tags", "--", *dump_cmd()], shim_env(clean_env, agent))
    env = exported(proc)
    assert json.loads(env["ECS_TASK_TAGS"]) == {"team": "payments"}
    assert env["ECS_CONTAINER_INSTANCE_TAGS"] == "{}"
    assert proc.stderr.startswith("selfdiscover: ") and len(proc.stderr.splitlines()) == 1
    assert "could not get ContainerInstanceTags: AccessDeniedException" in proc.stderr
    assert handler.paths[-1].endswith("/taskWithTags")
    # The same through the variable; and without either, /task and no tag variables.
    proc = sd(shim, ["show"], shim_env(clean_env, agent, SELFDISCOVER_TAGS="1"))
    assert 'ECS_TASK_TAGS={"team":"payments"}' in proc.stdout.splitlines()
    proc = sd(shim, ["exec", "--no-env-file", "--", *dump_cmd()], shim_env(clean_env, agent))
    assert "ECS_TASK_TAGS" not in exported(proc) and handler.paths[-1].endswith("/task")


def hostile_tags(dialect: str, canary: Path) -> dict[str, str]:
    c = str(canary)
    tags = {"quotes": "'sq' \"dq\" \\back", "subst": f"`touch {c}` ;&| #hash", "key ☃": "é 🙂"}
    if dialect != "dotenv":
        # dotenv has no quoting for a value with '$' beside JSON's backslashes: refused
        # there by name (test_a_tag_dotenv_cannot_carry_is_refused_by_name).
        tags.update({"brace": "${HOME} $HOME", f"key $(touch {c})": f"$(touch {c})"})
    return tags


@pytest.mark.parametrize(("dialect", "read"), READER_PARAMS)
def test_hostile_tags_and_labels_reach_cmd_and_reader_exactly(
    shim: list[str], clean_env: dict[str, str], tmp_path: Path, dialect: str, read: Reader
) -> None:
    canary = tmp_path / "canary"
    task = bridge_task()
    task["TaskTags"] = hostile_tags(dialect, canary)
    task["Containers"][0]["Labels"]["evil $(touch x)"] = f"`touch {canary}`"
    path = tmp_path / f"ecs.{dialect}"
    with FakeAgent(behaviour=Behaviour(override=TMDE(task))) as agent:
        env = shim_env(clean_env, agent)
        proc = sd(shim, ["exec", "--tags", "--env-file", f"{dialect}:{path}", "--", *dump_cmd()], env)
        shown = sd(shim, ["show", "--all"], env)
    got = exported(proc)
    assert json.loads(got["ECS_TASK_TAGS"]) == task["TaskTags"]
    assert read(path, got) == got  # byte for byte, and nothing injected
    assert json.loads(shown.stdout)["labels"]["evil $(touch x)"] == f"`touch {canary}`"
    assert not canary.exists()


def test_a_tag_dotenv_cannot_carry_is_refused_by_name(
    shim: list[str], clean_env: dict[str, str], tmp_path: Path
) -> None:
    task = bridge_task()
    task["TaskTags"] = {"x": "${HOME}"}
    path = tmp_path / "ecs.env"
    with FakeAgent(behaviour=Behaviour(override=TMDE(task))) as agent:
        args = ["exec", "--tags", "--env-file", f"dotenv:{path}", "--", "true"]
        proc = sd(shim, args, shim_env(clean_env, agent))
    assert proc.returncode == EX_DATAERR, proc.stderr
    assert "ECS_TASK_TAGS" in proc.stderr
    assert not path.exists()


@pytest.mark.parametrize(
    "bad",
    [
        {"TaskTags": {"k": "line\nECS_TASK_ARN=forged"}},
        {"TaskTags": {"k": 7}},
        {"TaskTags": ["k"]},
    ],
)
def test_malformed_tags_fail_closed_with_a_clear_error(
    shim: list[str], clean_env: dict[str, str], bad: dict[str, Any]
) -> None:
    task = {**bridge_task(), **bad}
    with FakeAgent(behaviour=Behaviour(override=TMDE(task))) as agent:
        proc = sd(shim, ["exec", "--tags", "--no-env-file", "--", "true"], shim_env(clean_env, agent))
    assert proc.returncode == EX_UNAVAILABLE, proc.stderr
    assert "TaskTags" in proc.stderr and len(proc.stderr.splitlines()) == 1

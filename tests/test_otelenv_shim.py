"""``--set-otel-resource`` end to end: the shim puts the task's OpenTelemetry resource into
``OTEL_RESOURCE_ATTRIBUTES`` for CMD and every env file (each read back by its real reader), keeps the
operator's own entries, stays off by default and outside ECS, and the init-container pattern
(``write --otel-task-only``, then ``sh -c '. ecs.sh && exec node ...'``) gives a Node app the task's
attributes, read by the JavaScript SDK itself."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest
from otelnode import READER, ReadJS
from shimrun import PY, sd
from test_exec import READER_PARAMS, Reader
from test_otelenv import VAR, read_py

from selfdiscover import _otelenv, discover
from selfdiscover.testing import FakeAgent, FakeContainer, random_docker_id

# CMD prints OTEL_RESOURCE_ATTRIBUTES, and fails if the shim named the service (the app's name, not ECS's).
DUMP_OTEL = (
    "import json, os, sys\n"
    "sys.exit('OTEL_SERVICE_NAME was set') if 'OTEL_SERVICE_NAME' in os.environ else None\n"
    f"print(json.dumps(os.environ.get({VAR!r})))\n"
)
GROUP = 'team=a,b %41 "quoted" ünï'  # awslogs allow all of these


def task_env(agent: FakeAgent, clean_env: Mapping[str, str]) -> dict[str, str]:
    me = FakeContainer(
        "app",
        random_docker_id(),
        image="registry.example:5000/org/app@sha256:" + "ab" * 32,
        log_options={"awslogs-group": GROUP, "awslogs-stream": "web/app/" + "s" * 300},
    )
    agent.add_task("shop", 12, [me], launch_type="FARGATE", service_name="shop-svc")
    return dict(
        clean_env,
        ECS_CONTAINER_METADATA_URI_V4=agent.metadata_uri(me),
        SELFDISCOVER_SOURCES="tmde-v4",
        SELFDISCOVER_TIMEOUT="5",
    )


def expected(env: Mapping[str, str], *, task_only: bool = False) -> str:
    """What the shim should set, from the same answer discovered in-process."""
    value, _ = _otelenv.encode(_otelenv.resource_attributes(discover(environ=env), task_only=task_only))
    return value


def run_otel(shim: list[str], env: Mapping[str, str], *flags: str) -> str | None:
    got: str | None = json.loads(
        dumped_raw(sd(shim, ["exec", *flags, "--no-env-file", "--", PY, "-c", DUMP_OTEL], env))
    )
    return got


def dumped_raw(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_off_by_default(shim: list[str], agent: FakeAgent, clean_env: dict[str, str]) -> None:
    assert run_otel(shim, task_env(agent, clean_env)) is None


@pytest.mark.parametrize("how", ["option", "variable"])
def test_cmd_gets_the_tasks_resource(
    shim: list[str], agent: FakeAgent, clean_env: dict[str, str], how: str
) -> None:
    env = task_env(agent, clean_env)
    flags = ["--set-otel-resource"] if how == "option" else []
    if how == "variable":
        env["SELFDISCOVER_SET_OTEL_RESOURCE"] = "1"
    value = run_otel(shim, env, *flags)
    assert value == expected(env)
    attributes = read_py(value)
    assert attributes["aws.ecs.task.family"] == "shop" and "container.name" in attributes
    assert "service.name" not in attributes  # the ECS service (shop-svc) is not the application's name


def test_the_operators_entries_stay_verbatim_and_win(
    shim: list[str], agent: FakeAgent, clean_env: dict[str, str]
) -> None:
    env = task_env(agent, clean_env)
    theirs = "team=payments, aws.ecs.task.family=mine ,deployment.environment=prod%2Ceu"
    env[VAR] = theirs
    value = run_otel(shim, env, "--set-otel-resource")
    assert value is not None and value.startswith(theirs)
    attributes = read_py(value)
    assert attributes["aws.ecs.task.family"] == "mine"
    assert attributes["team"] == "payments" and attributes["deployment.environment"] == "prod,eu"
    assert attributes["aws.ecs.launchtype"] == "fargate"


@pytest.mark.parametrize("preset", [None, "team=payments"])
def test_outside_ecs_the_variable_is_left_as_it_was(
    shim: list[str], clean_env: dict[str, str], preset: str | None
) -> None:
    env = dict(clean_env, SELFDISCOVER_TIMEOUT="0.5")
    if preset is not None:
        env[VAR] = preset
    assert run_otel(shim, env, "--set-otel-resource") == preset


@pytest.mark.parametrize(("dialect", "read"), READER_PARAMS)
def test_every_dialect_carries_it(
    shim: list[str], agent: FakeAgent, clean_env: dict[str, str], tmp_path: Path, dialect: str, read: Reader
) -> None:
    env = task_env(agent, clean_env)
    env[VAR] = 'note=it%27s "quoted"'  # the operator's text goes through every dialect too
    path = tmp_path / f"ecs.{dialect}"
    proc = sd(shim, ["write", "--set-otel-resource", "--env-file", f"{dialect}:{path}"], env)
    assert proc.returncode == 0, proc.stderr
    want = f"{env[VAR]},{expected(env)}"
    got = read(path, {VAR: want})
    assert got[VAR] == want


def test_init_container_pattern_gives_node_the_tasks_attributes(
    shim: list[str], agent: FakeAgent, clean_env: dict[str, str], tmp_path: Path, read_js: ReadJS
) -> None:
    env = task_env(agent, clean_env)
    (tmp_path / "ecs").mkdir()  # the volume the init container and the app share
    ecs_sh = tmp_path / "ecs" / "ecs.sh"
    proc = sd(
        shim, ["write", "--set-otel-resource", "--otel-task-only", "--env-file", f"shell:{ecs_sh}"], env
    )
    assert proc.returncode == 0, proc.stderr
    read_js("probe=1")  # the SDK is installed and reads
    node = shutil.which("node")
    assert node is not None
    app = subprocess.run(
        ["sh", "-c", f'. "$1" && exec {node} {READER}', "sh", str(ecs_sh)],
        env={"PATH": clean_env["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert app.returncode == 0, app.stderr
    attributes = json.loads(app.stdout)
    want = read_py(expected(env, task_only=True))
    assert attributes == want
    assert attributes["aws.ecs.task.family"] == "shop"
    assert not {k for k in attributes if k.startswith("container.") or k.startswith("aws.log.")}


def test_init_container_file_keeps_the_app_containers_own_settings(
    shim: list[str], agent: FakeAgent, clean_env: dict[str, str], tmp_path: Path, read_js: ReadJS
) -> None:
    """The file is written in the init container and sourced in the app's, which has settings of
    its own: its OTEL_RESOURCE_ATTRIBUTES entries are kept and win, its GOMAXPROCS stays."""
    env = task_env(agent, clean_env)
    ecs_sh = tmp_path / "ecs.sh"
    flags = ["--set-otel-resource", "--otel-task-only", "--set-cpu-count"]
    proc = sd(shim, ["write", *flags, "--env-file", f"shell:{ecs_sh}"], env)
    assert proc.returncode == 0, proc.stderr
    read_js("probe=1")  # the SDK is installed and reads
    node = shutil.which("node")
    assert node is not None
    theirs = "deployment.environment=prod,aws.ecs.task.family=theirs"
    app = subprocess.run(
        [
            "sh",
            "-c",
            f'. "$1" && echo "GOMAXPROCS=$GOMAXPROCS" >&2 && exec {node} {READER}',
            "sh",
            str(ecs_sh),
        ],
        env={"PATH": clean_env["PATH"], VAR: theirs, "GOMAXPROCS": "8"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert app.returncode == 0, app.stderr
    assert app.stderr.splitlines()[0] == "GOMAXPROCS=8"
    attributes = json.loads(app.stdout)
    assert attributes["deployment.environment"] == "prod"
    assert attributes["aws.ecs.task.family"] == "theirs"  # theirs win
    ours = read_py(expected(env, task_only=True))
    assert {
        k: v for k, v in attributes.items() if k not in ("deployment.environment", "aws.ecs.task.family")
    } == {k: v for k, v in ours.items() if k != "aws.ecs.task.family"}

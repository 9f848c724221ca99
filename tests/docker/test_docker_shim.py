"""The shim where it lives: ENTRYPOINT ["selfdiscover", "exec", "--"] in the
examples/shim image, started by a real engine, next to the agent emulator in
a loopback-only namespace."""

from __future__ import annotations

import time

import dockerkit as dk
import pytest

pytestmark = pytest.mark.docker


def test_shim_example_exports_task_variables_and_writes_env_file(
    containers: dk.Containers, task_ns: str, agent_env: dict[str, str]
) -> None:
    labels = dk.task_labels(family="web", version=7, name="app", cluster="demo")
    r = containers.run(dk.SHIM_IMAGE, network=task_ns, env=agent_env, labels=labels)
    assert r.exit_code == 0, r.stderr
    app = dk.parse_app(r.stdout)
    arn = labels["com.amazonaws.ecs.task-arn"]
    assert app.env["ECS_TASK_FAMILY"] == "web"
    assert app.env["ECS_TASK_VERSION"] == "7"
    assert app.env["ECS_TASK_ARN"] == arn
    assert app.env["ECS_TASK_ID"] == arn.rsplit("/", 1)[1]
    assert app.env["ECS_CLUSTER"] == "demo"
    assert app.env["ECS_CONTAINER_NAME"] == "app"
    assert app.env["ECS_CONTAINER_ID"] == r.id  # read from its own cgroup, matched by the agent
    assert app.env_file is not None, r.stdout
    written = dk.read_env_file(app.env_file)
    assert app.env_file.startswith("# written by selfdiscover")
    assert {k: written[k] for k in app.env} == app.env
    assert r.stderr == ""  # nothing to warn about


def test_agent_starting_after_the_container(containers: dk.Containers) -> None:
    holder = containers.holder()
    labels = dk.task_labels(family="late", version=3)
    env = {"SELFDISCOVER_AGENT_URL": dk.AGENT_URL, "SELFDISCOVER_TIMEOUT": "30"}
    app = containers.start(dk.SHIM_IMAGE, network=f"container:{holder}", env=env, labels=labels)
    time.sleep(2.0)
    state = dk.docker("inspect", "-f", "{{.State.Running}}", app).stdout.strip()
    assert state == "true", "the shim gave up before the agent came up"
    containers.emulator(holder, wait=False)
    assert containers.wait(app, timeout=40) == 0
    out, err = containers.logs(app)
    got = dk.parse_app(out)
    assert got.env["ECS_TASK_FAMILY"] == "late"
    assert got.env["ECS_TASK_VERSION"] == "3"
    assert got.env["ECS_TASK_ARN"] == labels["com.amazonaws.ecs.task-arn"]
    assert got.env["ECS_CONTAINER_ID"] == app


MARKER = "the command ran"


def test_required_without_agent_and_without_ecs_exits_68(containers: dk.Containers) -> None:
    r = containers.run(
        dk.SHIM_IMAGE,
        "exec",
        "--required",
        "--",
        "echo",
        MARKER,
        network="none",
        entrypoint="selfdiscover",
        env={"SELFDISCOVER_TIMEOUT": "3"},
    )
    assert r.exit_code == 68, (r.stdout, r.stderr)
    assert MARKER not in r.stdout
    assert "error" in r.stderr


@pytest.mark.parametrize("policy", ["--required", None])
def test_agent_named_but_absent_exits_69(containers: dk.Containers, policy: str | None) -> None:
    """An explicit agent URL is evidence of ECS: an agent that never answers is
    a failure under --required and under the default policy alike."""
    holder = containers.holder()  # a namespace with nobody on 51678
    cmd = ["exec", *([policy] if policy else []), "--", "echo", MARKER]
    started = time.monotonic()
    r = containers.run(
        dk.SHIM_IMAGE,
        *cmd,
        network=f"container:{holder}",
        entrypoint="selfdiscover",
        env={"SELFDISCOVER_AGENT_URL": dk.AGENT_URL, "SELFDISCOVER_TIMEOUT": "1.5"},
    )
    assert r.exit_code == 69, (r.stdout, r.stderr)
    assert MARKER not in r.stdout
    assert time.monotonic() - started < 15


def test_default_policy_without_agent_runs_the_app_without_variables(containers: dk.Containers) -> None:
    r = containers.run(dk.SHIM_IMAGE, network="none", env={"SELFDISCOVER_TIMEOUT": "3"})
    assert r.exit_code == 0, r.stderr
    app = dk.parse_app(r.stdout)
    assert app.env == {}
    assert app.env_file is None
    warnings = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("selfdiscover: "), r.stderr


@pytest.mark.parametrize("init", [False, True], ids=["pid1", "tini"])
def test_docker_stop_during_slow_discovery_is_prompt(containers: dk.Containers, init: bool) -> None:
    env = {
        "SELFDISCOVER_AGENT_URL": "http://127.0.0.1:9",  # nobody listens: retried until the deadline
        "ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/0123",  # evidence of ECS (never reached)
        "SELFDISCOVER_TIMEOUT": "60",
    }
    cid = containers.start(dk.SHIM_IMAGE, "echo", MARKER, network="none", env=env, init=init)
    containers.wait_for_sigterm_handler(cid)  # the shim is past start-up, discovering
    time.sleep(0.5)  # and retrying the refused connection
    assert dk.docker("inspect", "-f", "{{.State.Running}}", cid).stdout.strip() == "true"
    started = time.monotonic()
    dk.docker("stop", "-t", "10", cid, timeout=30)
    took = time.monotonic() - started
    assert took < 3, f"docker stop took {took:.1f}s: SIGTERM was ignored"
    assert containers.wait(cid) == 143  # 128 + SIGTERM
    out, _ = containers.logs(cid)
    assert MARKER not in out


def test_exit_code_of_the_app_becomes_the_containers(
    containers: dk.Containers, task_ns: str, agent_env: dict[str, str]
) -> None:
    r = containers.run(
        dk.SHIM_IMAGE,
        "sh",
        "-c",
        'test -n "$ECS_TASK_ARN" || exit 1; exit 42',
        network=task_ns,
        env=agent_env,
        labels=dk.task_labels(),
    )
    assert r.exit_code == 42, r.stderr


def test_app_is_pid_1_after_exec_without_init(
    containers: dk.Containers, task_ns: str, agent_env: dict[str, str]
) -> None:
    r = containers.run(dk.SHIM_IMAGE, network=task_ns, env=agent_env, labels=dk.task_labels())
    assert r.exit_code == 0, r.stderr
    app = dk.parse_app(r.stdout)
    assert (app.pid, app.ppid) == (1, 0)  # the shim exec'd: same PID, no wrapper process
    assert app.env["ECS_CONTAINER_ID"] == r.id


def test_app_under_init_tini(containers: dk.Containers, task_ns: str, agent_env: dict[str, str]) -> None:
    labels = dk.task_labels(family="tini")
    r = containers.run(
        dk.SHIM_IMAGE,
        "sh",
        "-c",
        'tr "\\0" " " </proc/1/cmdline; echo; exec python3 /app/app.py',
        network=task_ns,
        env=agent_env,
        labels=labels,
        init=True,
    )
    assert r.exit_code == 0, r.stderr
    init_cmdline, _, rest = r.stdout.partition("\n")
    assert "docker-init" in init_cmdline
    app = dk.parse_app(rest)
    assert app.pid != 1 and app.ppid == 1  # tini is PID 1 and the app's parent
    assert app.env["ECS_TASK_FAMILY"] == "tini"
    assert app.env["ECS_CONTAINER_ID"] == r.id

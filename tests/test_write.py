"""``selfdiscover write``: exec without the exec, for init containers and images without Python.

Driven as the installed console script against the fake agent on loopback. What is
pinned: the files are written in every dialect and read back by the real readers;
write exits 0 exactly when ``exec -- CMD`` would start CMD and otherwise with exec's
code and exec's one-line error, case by case; a failure the policy lets through
leaves files with no variables (never a stale one); the two commands take the same
options; ``exec -- true`` still works.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import envreaders as readers
import pytest
from shimrun import (
    EX_CANTCREAT,
    EX_DATAERR,
    EX_NOTECS,
    EX_UNAVAILABLE,
    EX_USAGE,
    in_ecs_env,
    outside_ecs_env,
    sd,
    setup_task,
)
from sigkit import DEFAULT_SIGNALS

from selfdiscover import cli
from selfdiscover.testing import Behaviour, FakeAgent


@pytest.fixture
def agent() -> Iterator[FakeAgent]:
    with FakeAgent() as a:
        yield a


def task_env(agent: FakeAgent, clean_env: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(environment of a container of a one-container task, the variables it should get)."""
    setup = setup_task(agent, clean_env, "web", 7, "init")
    task, env, docker_id = setup.task, setup.env, setup.env["SELFDISCOVER_DOCKER_ID"]
    want = {
        "ECS_TASK_ARN": task.arn,
        "ECS_TASK_FAMILY": "web",
        "ECS_TASK_VERSION": "7",
        "ECS_TASK_DEFINITION": "web:7",
        "ECS_CLUSTER": agent.cluster,
        "ECS_CONTAINER_NAME": "init",
        "ECS_CONTAINER_ID": docker_id,
    }
    return env, want


def three_files(d: Path) -> tuple[dict[str, Path], list[str]]:
    files = {"shell": d / "ecs.sh", "dotenv": d / "ecs.env", "json": d / "ecs.json"}
    return files, [a for dialect, p in files.items() for a in ("--env-file", f"{dialect}:{p}")]


def read_all(files: Mapping[str, Path]) -> dict[str, dict[str, str]]:
    """Each file through its real reader: dash, python-dotenv, json."""
    return {
        "shell": readers.read_shell(files["shell"], shell="dash" if not readers.dash_missing() else "bash"),
        "dotenv": readers.read_dotenv(files["dotenv"]),
        "json": json.loads(files["json"].read_text(encoding="utf-8")),
    }


def test_write_writes_every_file_and_exits_0(
    shim: list[str], agent: FakeAgent, clean_env: dict[str, str], tmp_path: Path
) -> None:
    env, want = task_env(agent, clean_env)
    files, args = three_files(tmp_path)
    proc = sd(shim, ["write", *args], env)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    for dialect, got in read_all(files).items():
        assert {k: got.get(k) for k in want} == want, dialect
        assert set(got) == set(read_all(files)["json"]), dialect  # the same set in every file
    assert {os.stat(p).st_mode & 0o777 for p in files.values()} == {0o644}


def test_write_and_exec_write_the_same_bytes(
    shim: list[str], agent: FakeAgent, clean_env: dict[str, str], tmp_path: Path
) -> None:
    """One code path: the files write leaves are the files exec leaves."""
    env, _ = task_env(agent, clean_env)
    (tmp_path / "w").mkdir()
    (tmp_path / "e").mkdir()
    fw, aw = three_files(tmp_path / "w")
    fe, ae = three_files(tmp_path / "e")
    assert sd(shim, ["write", *aw], env).returncode == 0
    assert sd(shim, ["exec", *ae, "--", "true"], env).returncode == 0
    for dialect in fw:
        assert fw[dialect].read_bytes() == fe[dialect].read_bytes(), dialect


def test_write_takes_its_settings_from_the_environment(
    shim: list[str], agent: FakeAgent, clean_env: dict[str, str], tmp_path: Path
) -> None:
    env, want = task_env(agent, clean_env)
    path = tmp_path / "ecs.json"
    env.update(SELFDISCOVER_ENV_FILE=str(path), SELFDISCOVER_FORMAT="json", SELFDISCOVER_MODE="0640")
    env.update(SELFDISCOVER_PREFIX="TASK_", ECS_TASK_FAMILY="ignored-prefix-differs")
    assert sd(shim, ["write"], env).returncode == 0
    got = json.loads(path.read_text())
    assert got["TASK_TASK_FAMILY"] == "web" and "ECS_TASK_FAMILY" not in got
    assert os.stat(path).st_mode & 0o777 == 0o640


def test_a_preset_variable_keeps_its_value_unless_override(
    shim: list[str], agent: FakeAgent, clean_env: dict[str, str], tmp_path: Path
) -> None:
    env, _ = task_env(agent, clean_env)
    path = tmp_path / "ecs.json"
    env["ECS_CLUSTER"] = "set-by-operator"
    assert sd(shim, ["write", "--env-file", f"json:{path}"], env).returncode == 0
    assert json.loads(path.read_text())["ECS_CLUSTER"] == "set-by-operator"
    assert sd(shim, ["write", "--override", "--env-file", f"json:{path}"], env).returncode == 0
    assert json.loads(path.read_text())["ECS_CLUSTER"] == agent.cluster


# --- the failure policy and exit codes: write against exec, case by case -----------------


def _case(
    name: str, clean_env: Mapping[str, str], agent: FakeAgent, down: FakeAgent, tmp: Path
) -> tuple[list[str], dict[str, str], int]:
    """(extra arguments, environment, the exit code both must give; 0 = exec starts CMD)."""
    good, _ = task_env(agent, clean_env)
    if name == "healthy":
        return [], good, 0
    if name == "not-in-ecs":
        return [], outside_ecs_env(clean_env), 0
    if name == "not-in-ecs-required":
        return ["--required"], outside_ecs_env(clean_env), EX_NOTECS
    if name == "in-ecs-agent-down":
        return [], in_ecs_env(clean_env, down.url), EX_UNAVAILABLE
    if name == "in-ecs-agent-down-optional":
        return ["--optional"], in_ecs_env(clean_env, down.url), 0
    if name == "policy-from-environment":
        return [], dict(in_ecs_env(clean_env, down.url), SELFDISCOVER_POLICY="optional"), 0
    if name == "bad-policy":
        return [], dict(good, SELFDISCOVER_POLICY="sometimes"), EX_USAGE
    if name == "bad-mode":
        return ["--mode", "999"], good, EX_USAGE
    if name == "bad-timeout":
        return ["--timeout", "-1"], good, EX_USAGE
    if name == "value-the-dialect-refuses":
        return [], dict(good, ECS_AGENT_VERSION="a${B}"), EX_DATAERR  # dotenv readers disagree on ${
    if name == "unwritable-file":
        return ["--env-file", str(tmp / "missing-dir" / "x.env")], good, EX_CANTCREAT
    raise AssertionError(name)


CASES = [
    "healthy",
    "not-in-ecs",
    "not-in-ecs-required",
    "in-ecs-agent-down",
    "in-ecs-agent-down-optional",
    "policy-from-environment",
    "bad-policy",
    "bad-mode",
    "bad-timeout",
    "value-the-dialect-refuses",
    "unwritable-file",
]


@pytest.mark.parametrize("case", CASES)
def test_write_exits_as_exec_would(
    shim: list[str],
    agent: FakeAgent,
    down_agent: FakeAgent,
    clean_env: dict[str, str],
    tmp_path: Path,
    case: str,
) -> None:
    """0 exactly when exec would start CMD, else exec's code and exec's error line."""
    extra, env, code = _case(case, clean_env, agent, down_agent, tmp_path)
    files = ["--env-file", f"dotenv:{tmp_path / 'ecs.env'}"] if "--env-file" not in extra else []
    marker = tmp_path / "cmd-ran"
    ex = sd(shim, ["exec", *files, *extra, "--", "touch", str(marker)], env)
    wr = sd(shim, ["write", *files, *extra], env)
    assert (ex.returncode, marker.exists()) == (code, code == 0), ex.stderr
    assert wr.returncode == code, wr.stderr
    assert wr.stdout == ""
    # The same diagnostics, but for what was about to happen next.
    assert diagnostics(wr.stderr) == diagnostics(
        ex.stderr.replace("starting touch", "writing the env files").replace(
            "selfdiscover exec", "selfdiscover write"
        )
    )
    assert len(diagnostics(wr.stderr)) == (code != 0 or case != "healthy")


def diagnostics(stderr: str) -> list[str]:
    """stderr without argparse's usage lines (they name each command's own arguments)
    and with the number of attempts, which depends on the machine's load, left out."""
    lines = [line for line in stderr.splitlines() if not line.startswith(("usage:", " "))]
    return [re.sub(r"\(after \d+ attempts?\)", "(after N attempts)", line) for line in lines]


def test_a_failure_let_through_leaves_empty_files_not_stale_ones(
    shim: list[str], in_ecs_down: dict[str, str], outside: dict[str, str], tmp_path: Path
) -> None:
    """An init container's app reads only the files: on --optional (or off ECS) they
    exist, say nothing, and an older task's values are gone."""
    files, args = three_files(tmp_path)
    for p in files.values():
        p.write_text("ECS_TASK_FAMILY=stale-from-an-older-task\n")
    for env, policy in ((in_ecs_down, ["--optional"]), (outside, [])):
        proc = sd(shim, ["write", *policy, *args], env)
        assert proc.returncode == 0, proc.stderr
        (line,) = proc.stderr.splitlines()
        assert line.endswith("; writing the env files without ECS variables"), line
        assert read_all(files) == {"shell": {}, "dotenv": {}, "json": {}}
        assert "no task discovered" in files["shell"].read_text()


def test_a_failure_that_closes_leaves_the_old_files(
    shim: list[str], down_agent: FakeAgent, clean_env: dict[str, str], tmp_path: Path
) -> None:
    """Fail closed means nothing happens: exit 69 and the files stay as they were."""
    files, args = three_files(tmp_path)
    for p in files.values():
        p.write_text("OLD=1\n")
    proc = sd(shim, ["write", *args], in_ecs_env(clean_env, down_agent.url))
    assert proc.returncode == EX_UNAVAILABLE
    assert {p.read_text() for p in files.values()} == {"OLD=1\n"}
    assert sorted(os.listdir(tmp_path)) == ["ecs.env", "ecs.json", "ecs.sh"]


def test_sigterm_during_discovery_ends_write_with_143(shim: list[str], clean_env: dict[str, str]) -> None:
    """As exec: `docker stop` of a slow init container is prompt."""
    with FakeAgent(behaviour=Behaviour(hang=True)) as a:
        env = dict(in_ecs_env(clean_env, a.url), SELFDISCOVER_TIMEOUT="30")
        p = subprocess.Popen(
            [*DEFAULT_SIGNALS, *shim, "write", "--no-env-file"], env=env, stderr=subprocess.PIPE, text=True
        )
        try:
            wait_for_sigterm_handler(p.pid)
            t0 = time.monotonic()
            p.send_signal(signal.SIGTERM)
            assert p.wait(10) == 128 + signal.SIGTERM
            assert time.monotonic() - t0 < 5
        finally:
            p.kill()
            p.wait()


def wait_for_sigterm_handler(pid: int, timeout: float = 20) -> None:
    """Until the process catches SIGTERM (/proc/PID/status SigCgt): a signal sent
    before would test Python's start-up, not the shim."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text()
        caught = next(x.split()[1] for x in status.splitlines() if x.startswith("SigCgt:"))
        if int(caught, 16) & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not catch SIGTERM within {timeout}s")


# --- the command line ---------------------------------------------------------------------


def test_write_takes_no_command(shim: list[str], agent: FakeAgent, clean_env: dict[str, str]) -> None:
    env, _ = task_env(agent, clean_env)
    proc = sd(shim, ["write", "--no-env-file", "--", "true"], env)
    assert proc.returncode == EX_USAGE
    assert "unrecognized arguments" in proc.stderr


def test_exec_and_write_take_the_same_options() -> None:
    def options(name: str) -> dict[str, object]:
        parser = cli.build_parser()
        sub = next(a for a in parser._actions if a.dest == "cmd")
        p = sub.choices[name]  # type: ignore[index]
        return {
            "/".join(a.option_strings): (a.dest, a.default, a.const, a.choices)
            for a in p._actions
            if a.option_strings
        }

    assert options("write") == options("exec")
    assert len(options("write")) >= 14  # the whole set, not two empty ones


def test_help_says_when_to_use_which(shim: list[str], clean_env: dict[str, str]) -> None:
    top = sd(shim, ["--help"], clean_env).stdout
    assert "write" in top and "init container" in top
    write = sd(shim, ["write", "--help"], clean_env)
    assert write.returncode == 0 and write.stdout.startswith("usage: selfdiscover write")
    text = " ".join(write.stdout.split())
    for phrase in ("init container", "dependsOn", "without Python", "use exec when", "SELFDISCOVER_ENV_FILE"):
        assert phrase in text, phrase
    exec_text = " ".join(sd(shim, ["exec", "--help"], clean_env).stdout.split())
    assert "selfdiscover write" in exec_text


@pytest.mark.skipif(readers.dash_missing() is not None, reason=readers.dash_missing() or "")
def test_an_app_with_only_sh_reads_the_shell_file(
    shim: list[str], agent: FakeAgent, clean_env: dict[str, str], tmp_path: Path
) -> None:
    """The README's line for images without Python, run by dash: no `set -a` needed."""
    env, want = task_env(agent, clean_env)
    path = tmp_path / "ecs.sh"
    env["ECS_AGENT_VERSION"] = "it's $(touch pwned) `id` ;\nnext"  # kept as preset: hostile on purpose
    assert sd(shim, ["write", "--env-file", f"shell:{path}"], env).returncode == 0
    app = subprocess.run(
        ["dash", "-c", f". {path} && exec env -0"],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        cwd=tmp_path,
        timeout=10,
    )
    assert app.returncode == 0 and app.stderr == b""
    seen = dict(e.split("=", 1) for e in app.stdout.decode().split("\0") if e.startswith("ECS_"))
    assert {k: seen.get(k) for k in want} == want
    assert seen["ECS_AGENT_VERSION"] == env["ECS_AGENT_VERSION"]
    assert not (tmp_path / "pwned").exists()

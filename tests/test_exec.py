"""``selfdiscover exec``, driven as the installed console script against the fake agent.

What is pinned here is the issue's acceptance list for the shim: the variables reach
CMD and every env file (read back by the real program for its dialect: dash, bash,
python-dotenv, docker compose, the docker CLI, systemd's tokenizer), hostile values
arrive byte for byte or are refused with exit 65 and nothing is injected, CMD really
replaces the shim (same PID, its own exit code and signals, clean signal state), the
failure policy, the exec error codes, signals during a slow discovery (also as PID 1)
and concurrent writers. Command-line plumbing (options, ``SELFDISCOVER_*``, ``show``,
``agent``) is in ``test_cli.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import envreaders as readers
import psutil
import pytest
from shimrun import (
    EX_DATAERR,
    EX_NOEXEC,
    EX_NOTECS,
    EX_NOTFOUND,
    EX_UNAVAILABLE,
    EX_USAGE,
    PY,
    Setup,
    dump_cmd,
    dumped,
    in_ecs_env,
    outside_ecs_env,
    sd,
    setup_task,
)
from sigkit import DEFAULT_SIGNALS, bits, masks
from timing import wait_until_caught

from selfdiscover.testing import Behaviour, FakeAgent, FakeContainer, FakeTask, random_docker_id

# The suite's fixtures (suite.py) give ``ecs`` (a task web:7 with container app, and
# its environment) and ``down_agent``.

# CMD that prints its blocked and ignored signal sets. Not Python: CPython itself
# ignores SIGPIPE and SIGXFSZ at start-up, which would hide what the shim left.
# SIGSTATE run alone is the baseline a CMD behind the shim must match: what any process
# this suite starts gets (nothing from a shell; nohup: SIGHUP ignored). Programs are named
# by full path, as PY is, so subprocess starts the baseline, the launchers and the shim the
# same way (posix_spawn on 3.13, not fork and exec); sigkit.masks leaves out the signals
# glibc reserves, whose state that choice, and the shim's threads, decide.
SIGSTATE = [shutil.which("grep") or "/bin/grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"]
SH = shutil.which("sh") or "/bin/sh"


def sigstate(prefix: list[str], env: Mapping[str, str]) -> dict[str, int]:
    """The masks SIGSTATE reports when started behind *prefix* (a launcher, the shim, nothing)."""
    proc = subprocess.run([*prefix, *SIGSTATE], env=dict(env), capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    state = masks(proc.stdout)
    assert state.keys() == {"SigBlk", "SigIgn"}, proc.stdout
    return state


def stderr_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return proc.stderr.splitlines()


def required_vars(agent: FakeAgent, task: FakeTask, prefix: str = "ECS_") -> dict[str, str]:
    """The variables the issue names as the minimum, with the values the fake serves."""
    c = task.containers[0]
    values = {
        "TASK_ARN": task.arn,
        "TASK_FAMILY": task.family,
        "TASK_VERSION": task.version,
        "TASK_ID": task.arn.rsplit("/", 1)[1],
        "CLUSTER": agent.cluster,
        "CONTAINER_NAME": c.name,
        "CONTAINER_ID": c.docker_id,
        "REGION": agent.region,
        "ACCOUNT_ID": agent.account,
    }
    return {prefix + k: v for k, v in values.items()}


# --- readers ----------------------------------------------------------------------

Reader = Callable[[Path, Mapping[str, str]], dict[str, str]]


def _whole(read: Callable[[Path], dict[str, str]]) -> Reader:
    return lambda path, _expected: read(path)


def _json(path: Path) -> dict[str, str]:
    data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _systemd_real(path: Path, expected: Mapping[str, str]) -> dict[str, str]:
    """systemd's own tokenizer confirms each value; the port lists the names, so an
    injected extra variable shows up too."""
    listed = readers.read_systemd_port(path)
    out: dict[str, str] = {}
    for name in listed.keys() | expected.keys():
        want = expected.get(name)
        if want is not None and readers.systemd_reads(path, name, want):
            out[name] = want
        else:
            out[name] = f"<systemd read otherwise; port: {listed.get(name)!r}>"
    return out


def _skip(reason: str | None) -> pytest.MarkDecorator:
    return pytest.mark.skipif(reason is not None, reason=reason or "")


READERS: list[tuple[str, str, Reader, list[pytest.MarkDecorator]]] = [
    ("docker", "docker-cli", _whole(readers.read_docker_cli), [_skip(readers.docker_cli_missing())]),
    ("shell", "dash", _whole(partial(readers.read_shell, shell="dash")), [_skip(readers.dash_missing())]),
    ("shell", "bash", _whole(partial(readers.read_shell, shell="bash")), [_skip(readers.bash_missing())]),
    ("dotenv", "python-dotenv", _whole(readers.read_dotenv), []),
    ("dotenv", "compose", _whole(readers.read_compose), [_skip(readers.compose_missing())]),
    ("systemd", "systemd-analyze", _systemd_real, [_skip(readers.systemd_analyze_missing())]),
    ("json", "json", _whole(_json), []),
]
READER_PARAMS = [pytest.param(d, r, id=rid, marks=m) for d, rid, r, m in READERS]
ONE_READER: dict[str, Reader] = {
    "docker": _whole(readers.read_kvfile_port if readers.docker_cli_missing() else readers.read_docker_cli),
    "shell": _whole(partial(readers.read_shell, shell="dash" if not readers.dash_missing() else "bash")),
    "dotenv": _whole(readers.read_dotenv),
    "systemd": _whole(readers.read_systemd_port),
    "json": _whole(_json),
}
DIALECTS = tuple(ONE_READER)


# --- variables reach CMD and every file ----------------------------------------------


def test_variables_reach_cmd_and_every_dialect(shim: list[str], ecs: Setup, tmp_path: Path) -> None:
    files = {d: tmp_path / f"ecs.{d}" for d in DIALECTS}
    args = [a for d, p in files.items() for a in ("--env-file", f"{d}:{p}")]
    proc = sd(shim, ["exec", *args, "--", *dump_cmd()], ecs.env)
    got = dumped(proc)
    env = got["env"]
    assert isinstance(env, dict)
    want = required_vars(ecs.agent, ecs.task)
    assert {k: env.get(k) for k in want} == want
    assert proc.stderr == ""  # a healthy start says nothing
    for dialect, path in files.items():
        assert ONE_READER[dialect](path, env) == env, dialect


def test_pid_is_preserved_and_no_wrapper_is_left(shim: list[str], ecs: Setup) -> None:
    proc = subprocess.Popen(
        [*shim, "exec", "--no-env-file", "--", *dump_cmd()], env=ecs.env, stdout=subprocess.PIPE
    )
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    got = json.loads(out)
    assert got["pid"] == proc.pid  # exec, not fork: CMD is the process we started
    assert got["ppid"] == os.getpid()  # and nothing sits between us and it


@pytest.mark.parametrize("code", [42, 255])
def test_exit_code_passes_through(shim: list[str], ecs: Setup, code: int) -> None:
    proc = sd(shim, ["exec", "--no-env-file", "--", "sh", "-c", f"exit {code}"], ecs.env)
    assert proc.returncode == code
    assert proc.stderr == ""


def test_death_by_signal_is_the_apps_own(shim: list[str], ecs: Setup) -> None:
    """A wrapper would report 143; only the real process can die of the signal."""
    cmd = ["exec", "--no-env-file", "--", "sh", "-c", "kill -TERM $$"]
    proc = sd([*DEFAULT_SIGNALS, *shim], cmd, ecs.env)  # SIGTERM not ignored, however the suite started
    assert proc.returncode == -signal.SIGTERM


APP_WAITS_FOR_TERM = (
    "import signal, sys, time\n"
    "def stop(signum, frame):\n"
    "    print('got', signum, flush=True)\n"
    "    sys.exit(7)\n"
    "signal.signal(signal.SIGTERM, stop)\n"
    "print('ready', flush=True)\n"
    "time.sleep(30)\n"
)


def test_app_receives_signals_directly(shim: list[str], ecs: Setup) -> None:
    proc = subprocess.Popen(
        [*DEFAULT_SIGNALS, *shim, "exec", "--no-env-file", "--", PY, "-c", APP_WAITS_FOR_TERM],
        env=ecs.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "the application never started"
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 7
        assert proc.stdout.read() == f"got {int(signal.SIGTERM)}\n"
    finally:
        proc.kill()
        proc.wait()


# A launcher that blocks signals before it execs the shim: the mask survives exec,
# so the shim must clear it, as it must undo Python's SIGPIPE/SIGXFSZ handling.
BLOCKING_LAUNCHER = [
    PY,
    "-c",
    "import os, signal, sys\n"
    "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM})\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n",
]
LAUNCHER_BLOCKS = bits(signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM)  # 0x2a00
PYTHON_IGNORES = bits(signal.SIGPIPE, signal.SIGXFSZ)  # what any CPython ignores at start-up


@pytest.mark.parametrize("path", ["discovered", "not-in-ecs"])
def test_signal_state_is_restored_before_exec(
    shim: list[str], ecs: Setup, clean_env: dict[str, str], path: str
) -> None:
    env = ecs.env if path == "discovered" else outside_ecs_env(clean_env)
    # The baseline: no launcher, no shim. Nothing blocked, and none of Python's ignores,
    # so a CMD that got the launcher's mask or Python's ignores differs from it.
    plain = sigstate([], env)
    assert not plain["SigBlk"] & LAUNCHER_BLOCKS and not plain["SigIgn"] & PYTHON_IGNORES
    # Check the launcher works: without the shim, the application inherits the mask
    # (and the launcher's own Python's ignores).
    direct = sigstate(BLOCKING_LAUNCHER, env)
    assert direct["SigBlk"] == plain["SigBlk"] | LAUNCHER_BLOCKS
    assert direct["SigIgn"] & PYTHON_IGNORES == PYTHON_IGNORES
    # Through the shim: exactly the baseline (empty mask, SIGPIPE and SIGXFSZ at default).
    assert sigstate([*BLOCKING_LAUNCHER, *shim, "-q", "exec", "--no-env-file", "--"], env) == plain


def test_inherited_ignored_signals_stay_ignored(shim: list[str], ecs: Setup) -> None:
    launcher = [SH, "-c", 'trap "" HUP INT; exec "$@"', "sh"]
    direct = sigstate(launcher, ecs.env)
    plain = sigstate([], ecs.env)["SigIgn"]  # nothing, from a shell; nohup: SIGHUP already
    assert direct["SigIgn"] == plain | bits(signal.SIGHUP, signal.SIGINT)  # what a shell's exec gives
    assert sigstate([*launcher, *shim, "exec", "--no-env-file", "--"], ecs.env) == direct


# --- exec errors ------------------------------------------------------------------------


def _exec_targets(tmp_path: Path) -> dict[str, tuple[str, int]]:
    plain = tmp_path / "not-executable.sh"
    plain.write_text("#!/bin/sh\necho should not run\n")
    plain.chmod(0o644)
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x7fELF\x00\x01\x02garbage that is no program")
    garbage.chmod(0o755)
    return {
        "unknown-name": ("selfdiscover-no-such-command-x7", EX_NOTFOUND),
        "missing-path": (str(tmp_path / "missing"), EX_NOTFOUND),
        "not-executable": (str(plain), EX_NOEXEC),
        "directory": (str(tmp_path), EX_NOEXEC),
        "exec-format-error": (str(garbage), EX_NOEXEC),
    }


@pytest.mark.parametrize(
    "case",
    ["unknown-name", "missing-path", "not-executable", "directory", "exec-format-error"],
)
def test_exec_failure_codes_as_shells_give(shim: list[str], ecs: Setup, tmp_path: Path, case: str) -> None:
    command, code = _exec_targets(tmp_path)[case]
    proc = sd(shim, ["exec", "--no-env-file", "--", command, "arg"], ecs.env)
    assert proc.returncode == code
    assert proc.stdout == ""
    lines = stderr_lines(proc)
    assert len(lines) == 1 and lines[0].startswith("selfdiscover: ") and command in lines[0]


@pytest.mark.parametrize(("case", "code"), [("unknown-name", EX_NOTFOUND), ("not-executable", EX_NOEXEC)])
def test_exec_failure_codes_without_ecs(
    shim: list[str], clean_env: dict[str, str], tmp_path: Path, case: str, code: int
) -> None:
    command, _ = _exec_targets(tmp_path)[case]
    proc = sd(shim, ["-q", "exec", "--no-env-file", "--", command], outside_ecs_env(clean_env))
    assert proc.returncode == code
    assert len(stderr_lines(proc)) == 1


def test_no_command_is_a_usage_error(shim: list[str], ecs: Setup) -> None:
    for args in (["exec"], ["exec", "--no-env-file", "--"]):
        proc = sd(shim, args, ecs.env)
        assert proc.returncode == EX_USAGE
        assert proc.stdout == ""


# --- failure policy -----------------------------------------------------------------


@pytest.mark.parametrize(("flag", "code"), [(None, None), ("--optional", None), ("--required", EX_NOTECS)])
def test_outside_ecs(
    shim: list[str], clean_env: dict[str, str], tmp_path: Path, flag: str | None, code: int | None
) -> None:
    """No ECS evidence: auto and --optional run CMD bare with one warning; --required
    fails closed with 68 and one line."""
    flags = [flag] if flag else []
    proc = sd(shim, ["exec", *flags, "--no-env-file", "--", *dump_cmd()], outside_ecs_env(clean_env))
    lines = stderr_lines(proc)
    assert len(lines) == 1 and lines[0].startswith("selfdiscover: "), proc.stderr
    if code is None:
        assert dumped(proc)["env"] == {}
        assert "error" not in lines[0]
    else:
        assert proc.returncode == code
        assert proc.stdout == ""


def _override(status: int, body: bytes) -> Behaviour:
    def hook(method: str, target: str) -> tuple[int, dict[str, str], bytes] | None:
        return status, {"Content-Type": "application/json"}, body

    return Behaviour(override=hook)


FAILURES = {
    "refused": Behaviour(down_for=120),
    "http-500": Behaviour(error_for=120),
    "not-found": Behaviour(not_found_for=120),
    "malformed-json": _override(200, b'{"Arn": "arn:aws:ecs:'),
    "not-a-task": _override(200, b"[1, 2, 3]"),
}


@pytest.mark.parametrize(
    ("failure", "flag"),
    [*((f, None) for f in sorted(FAILURES)), ("refused", "--required"), ("not-a-task", "--required")],
)
def test_in_ecs_discovery_failure_fails_closed(
    shim: list[str], clean_env: dict[str, str], tmp_path: Path, failure: str, flag: str | None
) -> None:
    marker = tmp_path / "cmd-ran"
    with FakeAgent(behaviour=FAILURES[failure]) as failing:
        failing.add_container_task(random_docker_id())
        env = in_ecs_env(clean_env, failing.url)
        flags = [flag] if flag else []
        args = ["exec", *flags, "--env-file", str(tmp_path / "ecs.env"), "--", "touch", str(marker)]
        proc = sd(shim, args, env)
    assert proc.returncode == EX_UNAVAILABLE
    assert proc.stdout == ""
    lines = stderr_lines(proc)
    assert len(lines) == 1 and lines[0].startswith("selfdiscover: error: "), proc.stderr
    assert not marker.exists()
    assert not (tmp_path / "ecs.env").exists()


def test_in_ecs_discovery_failure_optional_runs_cmd_bare(
    shim: list[str], clean_env: dict[str, str], down_agent: FakeAgent
) -> None:
    env = in_ecs_env(clean_env, down_agent.url)
    proc = sd(shim, ["exec", "--optional", "--no-env-file", "--", *dump_cmd()], env)
    got = dumped(proc)["env"]
    assert isinstance(got, dict)
    assert not any(k.startswith("ECS_TASK") for k in got)
    assert len(stderr_lines(proc)) == 1


@pytest.mark.parametrize(
    "evidence",
    [
        {"ECS_CONTAINER_METADATA_URI_V4": "http://127.0.0.1:{port}/v4/x"},
        {"ECS_CONTAINER_METADATA_URI": "http://127.0.0.1:{port}/v3/x"},
        {"AWS_EXECUTION_ENV": "AWS_ECS_FARGATE"},
        {"SELFDISCOVER_AGENT_URL": "http://127.0.0.1:{port}"},
    ],
    ids=["tmde-v4", "tmde-v3", "aws-execution-env", "explicit-agent-url"],
)
def test_each_kind_of_evidence_means_fail_closed(
    shim: list[str],
    clean_env: dict[str, str],
    down_agent: FakeAgent,
    tmp_path: Path,
    evidence: dict[str, str],
) -> None:
    marker = tmp_path / "cmd-ran"
    env = dict(clean_env, SELFDISCOVER_TIMEOUT="0.25", SELFDISCOVER_DOCKER_ID=random_docker_id())
    # Only the evidence named: the introspection API is then looked for on localhost
    # (and the gateway), where no agent answers either.
    env.update({k: v.format(port=down_agent.port) for k, v in evidence.items()})
    proc = sd(shim, ["exec", "--no-env-file", "--", "touch", str(marker)], env)
    assert proc.returncode == EX_UNAVAILABLE, proc.stderr
    assert not marker.exists()


def test_in_ecs_short_deadline_still_fails_closed(
    shim: list[str], clean_env: dict[str, str], down_agent: FakeAgent, tmp_path: Path
) -> None:
    marker = tmp_path / "cmd-ran"
    # 0.01 s is inside Timeout's (0, 3600] range; up to 0.05 s fails open most of the time here.
    for _ in range(5):
        env = in_ecs_env(clean_env, down_agent.url, timeout="0.01")
        proc = sd(shim, ["-q", "exec", "--no-env-file", "--", "touch", str(marker)], env)
        assert (proc.returncode, marker.exists()) == (EX_UNAVAILABLE, False), proc.stderr


# --- signals while discovering ---------------------------------------------------


# The shim's own deadline while it is signalled: whatever ends it sooner is the signal.
DEADLINE = 30
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)  # the trap catches all three at once
# Every test that signals the shim or CMD starts it behind sigkit.DEFAULT_SIGNALS: a suite run
# under nohup, or with `&` from a script, inherits SIGHUP or SIGINT ignored, which the shim
# rightly keeps (test_inherited_ignored_signals_stay_ignored) and would never catch.


def _slow_agent(kind: str) -> FakeAgent:
    return FakeAgent(behaviour=Behaviour(hang=True) if kind == "hang" else Behaviour(down_for=120))


@pytest.mark.parametrize(
    ("kind", "sig"),
    [
        ("refused", signal.SIGTERM),
        ("refused", signal.SIGINT),
        ("refused", signal.SIGHUP),
        ("hang", signal.SIGTERM),
    ],
    ids=["refused-TERM", "refused-INT", "refused-HUP", "hang-TERM"],
)
def test_stop_signal_during_slow_discovery(
    shim: list[str], clean_env: dict[str, str], tmp_path: Path, kind: str, sig: signal.Signals
) -> None:
    marker = tmp_path / "cmd-ran"
    with _slow_agent(kind) as slow:
        env = in_ecs_env(clean_env, slow.url, timeout=str(DEADLINE))
        proc = subprocess.Popen(
            [*DEFAULT_SIGNALS, *shim, "exec", "--no-env-file", "--", "touch", str(marker)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            wait_until_caught(proc.pid, *STOP_SIGNALS)  # past start-up: discovering
            sent = time.monotonic()
            proc.send_signal(sig)
            rc = proc.wait(timeout=DEADLINE / 2)
            elapsed = time.monotonic() - sent
        finally:
            proc.kill()
            proc.communicate()
    assert rc == 128 + sig  # the shim's own handler; a death by the signal itself is -sig
    assert elapsed < DEADLINE / 10  # prompt: nowhere near the deadline
    assert not marker.exists()


def _unshare_pid_missing() -> str | None:
    exe = shutil.which("unshare")
    if exe is None:
        return "unshare is not installed"
    probe = subprocess.run([exe, "--pid", "--fork", "true"], capture_output=True, timeout=10)
    return None if probe.returncode == 0 else "cannot create a PID namespace here (needs root)"


UNSHARE_MISSING = _unshare_pid_missing()


def _ns_pid(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    raise AssertionError("no NSpid line")


@pytest.mark.skipif(UNSHARE_MISSING is not None, reason=UNSHARE_MISSING or "")
def test_sigterm_ends_discovery_even_as_pid_1(
    shim: list[str], clean_env: dict[str, str], tmp_path: Path
) -> None:
    """PID 1 ignores a signal it has no handler for: the shim must install one."""
    marker = tmp_path / "cmd-ran"
    with _slow_agent("refused") as slow:
        env = in_ecs_env(clean_env, slow.url, timeout=str(DEADLINE))
        started = time.monotonic()
        proc = subprocess.Popen(
            [
                *DEFAULT_SIGNALS,
                "unshare",
                "--pid",
                "--fork",
                "--kill-child",
                *shim,
                "exec",
                "--no-env-file",
                "--",
                "touch",
                str(marker),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            children: list[psutil.Process] = []
            while not children and time.monotonic() < started + 5:
                children = psutil.Process(proc.pid).children()
                time.sleep(0.01)
            assert children, "unshare started no child"
            init = children[0].pid
            assert _ns_pid(init) == 1
            wait_until_caught(init, *STOP_SIGNALS)  # past start-up: discovering
            sent = time.monotonic()
            os.kill(init, signal.SIGTERM)
            rc = proc.wait(timeout=DEADLINE / 2)  # unshare passes on its child's exit status
            elapsed = time.monotonic() - sent
        finally:
            proc.kill()
            proc.communicate()
    assert rc == 128 + signal.SIGTERM
    assert elapsed < DEADLINE / 10
    assert not marker.exists()


@pytest.mark.skipif(UNSHARE_MISSING is not None, reason=UNSHARE_MISSING or "")
def test_cmd_is_pid_1_when_the_shim_was(shim: list[str], ecs: Setup) -> None:
    proc = subprocess.run(
        ["unshare", "--pid", "--fork", *shim, "exec", "--no-env-file", "--", *dump_cmd()],
        env=ecs.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    got = json.loads(proc.stdout)
    assert got["pid"] == 1
    assert got["env"]["ECS_TASK_ARN"] == ecs.task.arn


# --- hostile values through discovery, export and files ---------------------------


@dataclass(frozen=True)
class Hostile:
    name: str  # the container name, as the agent serves it
    cluster: str  # the cluster name, as the agent serves it (also inside the ARNs)
    preset: str  # ECS_AGENT_VERSION already in the environment (kept: no --override)


def hostile_values(dialect: str, canary: Path) -> Hostile:
    c = str(canary)
    # The agent client refuses control characters, so newlines arrive via the environment.
    if dialect == "dotenv":
        # No "${" anywhere, and no "'" or "\" next to a "$" (see envfile: refused).
        return Hostile(
            name=f' lead "dq" $(touch {c}) `touch {c}` $HOME #hash ;&|<>*?[]~!% é ☃ 🙂 trail ',
            cluster="c 'sq' \"dq\" \\back #h ; é",
            preset=f"l1\nB=evil\n'; touch {c}; '\n\"dq\" `touch {c}` \\x #h\r\tend é",
        )
    name = (
        f" lead 'sq' \"dq\" $(touch {c}) `touch {c}` $HOME ${{HOME}} #hash ;&|<>*?[]~!% \\back é ☃ 🙂 trail "
    )
    cluster = f"c;touch {c} #'x'\"y\" $(touch {c}) \\ é"
    if dialect == "docker":  # line based: no line breaks
        preset = f"x'; touch {c}; ' $(touch {c}) `touch {c}` \"dq #h é  "
    else:
        preset = f"l1\nB=evil\n$(touch {c})\n'; touch {c}; echo '\n`touch {c}`\r\t\"\\ ${{HOME}} é\x7f\n"
    return Hostile(name, cluster, preset)


@pytest.mark.parametrize(("dialect", "read"), READER_PARAMS)
def test_hostile_values_reach_cmd_and_reader_exactly(
    shim: list[str], clean_env: dict[str, str], tmp_path: Path, dialect: str, read: Reader
) -> None:
    canary = tmp_path / "canary"
    h = hostile_values(dialect, canary)
    path = tmp_path / f"ecs.{dialect}"
    with FakeAgent(cluster=h.cluster) as agent:
        docker_id = random_docker_id()
        task = agent.add_task("web", 3, [FakeContainer(h.name, docker_id)])
        env = dict(
            clean_env,
            SELFDISCOVER_AGENT_URL=agent.url,
            SELFDISCOVER_DOCKER_ID=docker_id,
            ECS_AGENT_VERSION=h.preset,
        )
        proc = sd(shim, ["exec", "--env-file", f"{dialect}:{path}", "--", *dump_cmd()], env)
    exported = dumped(proc)["env"]
    assert isinstance(exported, dict)
    expected = {
        "ECS_TASK_ARN": task.arn,
        "ECS_CLUSTER": h.cluster,
        "ECS_CONTAINER_NAME": h.name,
        "ECS_AGENT_VERSION": h.preset,
        "ECS_TASK_FAMILY": "web",
        "ECS_TASK_VERSION": "3",
    }
    assert {k: exported.get(k) for k in expected} == expected
    assert read(path, exported) == exported  # byte for byte, and nothing injected
    assert not canary.exists()


def _refusals() -> list[object]:
    table = [
        ("docker", "newline", "a\nB=evil"),
        ("docker", "cr", "a\rb"),
        ("docker", "quoted-both-ends", "'quoted'"),
        ("dotenv", "dollar-brace", "${HOME}"),
        ("dotenv", "dollar-and-quote", "$x'y"),
        ("dotenv", "dollar-and-backslash", "a$b\\c"),
    ]
    table += [(d, "invalid-utf8", "a\udcffb") for d in ("shell", "json")]  # b"a\xffb" in the environment
    return [pytest.param(d, v, id=f"{d}-{i}") for d, i, v in table]


@pytest.mark.parametrize(("dialect", "value"), _refusals())
def test_value_a_dialect_cannot_carry_is_refused(
    shim: list[str], ecs: Setup, tmp_path: Path, dialect: str, value: str
) -> None:
    marker = tmp_path / "cmd-ran"
    path = tmp_path / "ecs.env"
    env = dict(ecs.env, ECS_AGENT_VERSION=value)
    proc = sd(shim, ["exec", "--env-file", f"{dialect}:{path}", "--", "touch", str(marker)], env)
    assert proc.returncode == EX_DATAERR
    lines = stderr_lines(proc)
    assert len(lines) == 1 and "ECS_AGENT_VERSION" in lines[0], proc.stderr
    assert not marker.exists()
    assert not path.exists()
    assert os.listdir(tmp_path) == []  # no temp file left either


def test_refusal_leaves_the_old_file_untouched(shim: list[str], ecs: Setup, tmp_path: Path) -> None:
    path = tmp_path / "ecs.env"
    path.write_text("OLD=1\n")
    path.chmod(0o600)
    env = dict(ecs.env, ECS_CONTAINER_NAME="x\nB=evil")
    proc = sd(shim, ["exec", "--env-file", str(path), "--", "true"], env)
    assert proc.returncode == EX_DATAERR
    assert path.read_text() == "OLD=1\n"
    assert os.listdir(tmp_path) == ["ecs.env"]


@pytest.mark.parametrize("dialect", ["shell", "systemd", "json", "dotenv"])
def test_multiline_preset_value_is_written_faithfully(
    shim: list[str], ecs: Setup, tmp_path: Path, dialect: str
) -> None:
    path = tmp_path / "ecs.out"
    env = dict(ecs.env, ECS_CONTAINER_NAME="a\nB=evil")
    proc = sd(shim, ["exec", "--env-file", f"{dialect}:{path}", "--", *dump_cmd()], env)
    exported = dumped(proc)["env"]
    assert isinstance(exported, dict)
    assert exported["ECS_CONTAINER_NAME"] == "a\nB=evil"
    read = ONE_READER[dialect](path, exported)
    assert read == exported
    assert "B" not in read


# --- atomic writes -------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "umask"), [("0600", 0o022), ("0644", 0o077), ("0640", 0o000)])
def test_mode_is_explicit_not_the_umask(
    shim: list[str], ecs: Setup, tmp_path: Path, mode: str, umask: int
) -> None:
    path = tmp_path / "ecs.env"
    launcher = ["sh", "-c", f'umask {umask:03o}; exec "$@"', "sh"]
    proc = subprocess.run(
        [*launcher, *shim, "exec", "--mode", mode, "--env-file", str(path), "--", "true"],
        env=ecs.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert path.stat().st_mode & 0o7777 == int(mode, 8)


def test_existing_file_and_planted_symlink_are_replaced_not_written_through(
    shim: list[str], ecs: Setup, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    path = tmp_path / "ecs.env"
    path.symlink_to(victim)
    proc = sd(shim, ["exec", "--env-file", str(path), "--", "true"], ecs.env)
    assert proc.returncode == 0, proc.stderr
    assert victim.read_text() == "precious\n"
    assert not path.is_symlink()
    assert readers.read_kvfile_port(path)["ECS_TASK_ARN"] == ecs.task.arn


def test_concurrent_writers_never_produce_a_torn_file(
    shim: list[str], agent: FakeAgent, clean_env: dict[str, str], tmp_path: Path
) -> None:
    """Six shims for six different tasks write the same two files at once; a reader
    polling meanwhile, and the final state, only ever see one complete version."""
    n = 6
    setups = [setup_task(agent, clean_env, family=f"fam{i}", version=i + 1, name=f"app{i}") for i in range(n)]
    json_path, env_path = tmp_path / "ecs.json", tmp_path / "ecs.env"
    args = ["exec", "--env-file", f"json:{json_path}", "--env-file", f"docker:{env_path}", "--", *dump_cmd()]
    seen: list[str] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            with contextlib.suppress(FileNotFoundError):
                seen.append(json_path.read_text(encoding="utf-8"))
            time.sleep(0.001)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    procs = [
        subprocess.Popen([*shim, *args], env=s.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for s in setups
    ]
    results = [p.communicate(timeout=60) for p in procs]
    done.set()
    poller.join()
    assert [p.returncode for p in procs] == [0] * n, [err for _, err in results]
    versions = [json.loads(out)["env"] for out, _ in results]
    assert len({v["ECS_TASK_ARN"] for v in versions}) == n
    assert _json(json_path) in versions
    assert readers.read_kvfile_port(env_path) in versions
    assert seen, "the poller never saw the file"
    for text in set(seen):
        assert json.loads(text) in versions  # a torn file would not parse or not match
    assert sorted(os.listdir(tmp_path)) == ["ecs.env", "ecs.json"]  # no temp files left

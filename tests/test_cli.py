"""The ``selfdiscover`` command line, driven as the installed console script.

Covers what surrounds the shim (``test_exec.py`` has the shim itself): ``--help`` on
every command, ``--version``, usage errors, every option settable by its
``SELFDISCOVER_*`` variable (the option winning), ``-q``/``-v`` with diagnostics on
stderr only, the default env file location and its fallback (inside a private mount
namespace, so the machine's ``/run`` is never touched), ``show``, and ``agent``
printing exactly what ``curl URL | python -m json.tool`` would.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import quote

import envreaders as readers
import pytest
from shimrun import (
    EX_CANTCREAT,
    EX_DATAERR,
    EX_NOTECS,
    EX_UNAVAILABLE,
    EX_USAGE,
    PY,
    Setup,
    dump_cmd,
    dumped,
    sd,
)

import selfdiscover
from selfdiscover.testing import Behaviour, FakeAgent, FakeContainer, FakeTask, random_docker_id


def read_json(path: Path) -> dict[str, str]:
    data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return data


# The suite's fixtures (suite.py) give the rest: ``ecs`` (the task below and its
# environment), ``outside``, ``down_agent`` and ``in_ecs_down``.


@pytest.fixture
def task(ecs: Setup) -> FakeTask:
    """The task web:7 (container app) on ``agent``."""
    return ecs.task


@pytest.fixture
def env(ecs: Setup) -> dict[str, str]:
    """Discovery pointed at the fake agent, for ``task``'s container."""
    return ecs.env


# --- help, version, usage errors --------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [[], ["exec"], ["show"], ["agent"], ["agent", "metadata"], ["agent", "tasks"], ["fake-agent"], ["demo"]],
    ids=lambda c: " ".join(c) or "top",
)
def test_help_on_every_command(shim: list[str], clean_env: dict[str, str], command: list[str]) -> None:
    flag = "--help" if len(command) % 2 else "-h"  # both spellings, spread over the commands
    proc = sd(shim, [*command, flag], clean_env)
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: selfdiscover" + "".join(" " + c for c in command))
    assert proc.stderr == ""


def _options(command: str) -> list[argparse.Action]:
    """The options of one command, from the parser itself."""
    from selfdiscover import cli

    parser = cli.build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [a for a in sub.choices[command]._actions if a.option_strings and a.dest != "help"]


@pytest.mark.parametrize("command", ["exec", "write", "show", "doctor"])
def test_every_option_names_the_variable_the_settings_reader_reads(
    shim: list[str], clean_env: dict[str, str], command: str
) -> None:
    """Each option is a setting (``Settings`` has its dest) and its help, as
    printed, names its variable: SELFDISCOVER_ plus the dest in capitals."""
    from dataclasses import fields

    from selfdiscover._settings import Settings

    names = {f.name for f in fields(Settings)}
    out = " ".join(sd(shim, [command, "--help"], clean_env).stdout.split())
    options = _options(command)
    assert len(options) >= 7
    for action in options:
        if action.dest == "all":  # show's output switch, not a setting
            continue
        if action.dest == "sub_verbosity":
            variable = {"-q": "SELFDISCOVER_QUIET", "-v": "SELFDISCOVER_VERBOSE"}[action.option_strings[0]]
        else:
            assert action.dest in names, action.option_strings
            variable = "SELFDISCOVER_" + action.dest.upper()
        assert variable in (action.help or ""), action.option_strings
        assert variable in out


def test_version(shim: list[str], clean_env: dict[str, str]) -> None:
    proc = sd(shim, ["--version"], clean_env)
    assert proc.returncode == 0
    assert proc.stdout == f"selfdiscover {selfdiscover.__version__}\n"
    assert selfdiscover.__version__ == importlib.metadata.version("selfdiscover")


def test_no_command_prints_help_on_stderr(shim: list[str], clean_env: dict[str, str]) -> None:
    proc = sd(shim, [], clean_env)
    assert proc.returncode == EX_USAGE
    assert proc.stdout == ""
    assert "usage: selfdiscover" in proc.stderr


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["exec", "--required", "--optional"], {}),
        (["exec", "--mode", "rw-r--r--"], {}),
        (["exec", "--mode", "0844"], {}),
        (["exec", "--format", "xml"], {}),
        (["exec", "--timeout", "soon"], {}),
        (["exec"], {"SELFDISCOVER_POLICY": "sometimes"}),
        (["exec"], {"SELFDISCOVER_TIMEOUT": "soon"}),
        (["show", "--format", "yaml"], {}),
        (["no-such-command"], {}),
    ],
    ids=[
        "required-and-optional",
        "mode-symbolic",
        "mode-not-octal",
        "unknown-format",
        "timeout-not-a-number",
        "policy-variable",
        "timeout-variable",
        "show-unknown-format",
        "unknown-command",
    ],
)
def test_usage_errors_exit_2_before_cmd(
    shim: list[str], env: dict[str, str], tmp_path: Path, args: list[str], extra: dict[str, str]
) -> None:
    marker = tmp_path / "cmd-ran"
    tail = ["--no-env-file", "--", "touch", str(marker)] if args[0] == "exec" else []
    proc = sd(shim, [*args, *tail], {**env, **extra})
    assert proc.returncode == EX_USAGE
    assert proc.stdout == ""
    assert proc.stderr
    assert not marker.exists()


@pytest.mark.parametrize("command", ["exec", "show"])
def test_bad_format_variable_is_a_usage_error(
    shim: list[str], env: dict[str, str], tmp_path: Path, command: str
) -> None:
    args = ["exec", "--env-file", str(tmp_path / "ecs.env"), "--", "true"] if command == "exec" else ["show"]
    proc = sd(shim, args, {**env, "SELFDISCOVER_FORMAT": "yaml"})
    assert proc.returncode == EX_USAGE


@pytest.mark.parametrize(
    ("args", "extra"),
    [(["--timeout", "0"], {}), (["--timeout=-1"], {}), ([], {"SELFDISCOVER_TIMEOUT": "0"})],
    ids=["option-0", "option-negative", "variable-0"],
)
def test_out_of_range_timeout_is_a_usage_error(
    shim: list[str], in_ecs_down: dict[str, str], tmp_path: Path, args: list[str], extra: dict[str, str]
) -> None:
    marker = tmp_path / "cmd-ran"
    proc = sd(shim, ["exec", *args, "--no-env-file", "--", "touch", str(marker)], {**in_ecs_down, **extra})
    assert (proc.returncode, marker.exists()) == (EX_USAGE, False)


@pytest.mark.parametrize("mode", ["-1", "77777"])
def test_out_of_range_mode_is_a_usage_error(
    shim: list[str], env: dict[str, str], tmp_path: Path, mode: str
) -> None:
    path = tmp_path / "ecs.env"
    proc = sd(shim, ["exec", f"--mode={mode}", "--env-file", str(path), "--", "true"], env)
    assert (proc.returncode, path.exists()) == (EX_USAGE, False)


def test_invalid_prefix_is_a_usage_error(shim: list[str], env: dict[str, str]) -> None:
    proc = sd(shim, ["exec", "--prefix", "A=", "--no-env-file", "--", "true"], env)
    assert proc.returncode == EX_USAGE
    assert "prefix" in proc.stderr


# --- SELFDISCOVER_* variables, and the option winning --------------------------------


def test_env_file_variable_with_dialects_and_format_variable(
    shim: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    a, b, c = tmp_path / "a.json", tmp_path / "b.sh", tmp_path / "c.conf"
    extra = {"SELFDISCOVER_ENV_FILE": f" json:{a} , shell:{b},{c} ,", "SELFDISCOVER_FORMAT": "systemd"}
    exported = dumped(sd(shim, ["exec", "--", *dump_cmd()], {**env, **extra}))["env"]
    assert "ECS_TASK_ARN" in exported
    assert read_json(a) == exported
    assert readers.read_shell(b) == exported
    assert readers.read_systemd_port(c) == exported
    assert c.read_text().startswith("#")  # not JSON: the format variable applied to c


def test_env_file_option_wins_over_variable(shim: list[str], env: dict[str, str], tmp_path: Path) -> None:
    by_var, by_option = tmp_path / "var.env", tmp_path / "option.json"
    extra = {"SELFDISCOVER_ENV_FILE": str(by_var), "SELFDISCOVER_FORMAT": "docker"}
    proc = sd(
        shim, ["exec", "--env-file", str(by_option), "--format", "json", "--", "true"], {**env, **extra}
    )
    assert proc.returncode == 0, proc.stderr
    assert not by_var.exists()
    assert read_json(by_option)["ECS_TASK_FAMILY"] == "web"


def test_dialect_in_path_wins_over_format(shim: list[str], env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "ecs.json"
    proc = sd(shim, ["exec", "--format", "shell", "--env-file", f"json:{path}", "--", "true"], env)
    assert proc.returncode == 0, proc.stderr
    assert read_json(path)["ECS_TASK_VERSION"] == "7"


@pytest.mark.parametrize(
    ("args", "extra", "prefix"),
    [
        (["--prefix", "MY_"], {}, "MY_"),
        ([], {"SELFDISCOVER_PREFIX": "APP_"}, "APP_"),
        (["--prefix", "MY_"], {"SELFDISCOVER_PREFIX": "APP_"}, "MY_"),
        (["--prefix", ""], {}, ""),
    ],
    ids=["option", "variable", "option-wins", "empty"],
)
def test_prefix(
    shim: list[str],
    env: dict[str, str],
    agent: FakeAgent,
    task: FakeTask,
    tmp_path: Path,
    args: list[str],
    extra: dict[str, str],
    prefix: str,
) -> None:
    path = tmp_path / "ecs.json"
    got = dumped(
        sd(shim, ["exec", *args, "--env-file", f"json:{path}", "--", *dump_cmd("")], {**env, **extra})
    )["env"]
    assert got[prefix + "TASK_ARN"] == task.arn
    assert got[prefix + "TASK_FAMILY"] == "web"
    assert got[prefix + "CLUSTER"] == agent.cluster
    if prefix:
        assert "ECS_TASK_ARN" not in got
    written = read_json(path)
    assert set(written) >= {prefix + "TASK_ARN", prefix + "CONTAINER_ID", prefix + "REGION"}
    assert written == {k: got[k] for k in written}


@pytest.mark.parametrize(
    ("args", "extra", "overridden"),
    [
        ([], {}, False),
        (["--override"], {}, True),
        ([], {"SELFDISCOVER_OVERRIDE": "1"}, True),
        ([], {"SELFDISCOVER_OVERRIDE": "true"}, True),
        ([], {"SELFDISCOVER_OVERRIDE": "0"}, False),
    ],
    ids=["default-keeps", "option", "variable-1", "variable-true", "variable-0"],
)
def test_existing_variables_are_kept_unless_override(
    shim: list[str],
    env: dict[str, str],
    agent: FakeAgent,
    tmp_path: Path,
    args: list[str],
    extra: dict[str, str],
    overridden: bool,
) -> None:
    path = tmp_path / "ecs.json"
    preset = {"ECS_CLUSTER": "operator's choice", "ECS_TASK_FAMILY": ""}
    got = dumped(
        sd(shim, ["exec", *args, "--env-file", f"json:{path}", "--", *dump_cmd()], {**env, **preset, **extra})
    )["env"]
    want = {"ECS_CLUSTER": agent.cluster, "ECS_TASK_FAMILY": "web"} if overridden else preset
    assert {k: got[k] for k in want} == want
    assert read_json(path) == got  # the files carry what CMD got


def test_mode_variable(shim: list[str], env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "ecs.env"
    proc = sd(shim, ["exec", "--env-file", str(path), "--", "true"], {**env, "SELFDISCOVER_MODE": "0600"})
    assert proc.returncode == 0, proc.stderr
    assert path.stat().st_mode & 0o7777 == 0o600


@pytest.mark.parametrize(
    ("args", "extra", "runs", "code"),
    [
        ([], {"SELFDISCOVER_POLICY": "required"}, False, EX_NOTECS),
        ([], {"SELFDISCOVER_POLICY": "optional"}, True, 0),
        ([], {"SELFDISCOVER_POLICY": "auto"}, True, 0),
        (["--optional"], {"SELFDISCOVER_POLICY": "required"}, True, 0),
        (["--required"], {"SELFDISCOVER_POLICY": "optional"}, False, EX_NOTECS),
    ],
    ids=["required", "optional", "auto", "optional-option-wins", "required-option-wins"],
)
def test_policy_variable_outside_ecs(
    shim: list[str],
    outside: dict[str, str],
    tmp_path: Path,
    args: list[str],
    extra: dict[str, str],
    runs: bool,
    code: int,
) -> None:
    marker = tmp_path / "cmd-ran"
    proc = sd(shim, ["exec", *args, "--no-env-file", "--", "touch", str(marker)], {**outside, **extra})
    assert (proc.returncode, marker.exists()) == (code, runs)
    assert len(proc.stderr.splitlines()) == 1


def test_policy_variable_optional_in_ecs(
    shim: list[str], in_ecs_down: dict[str, str], tmp_path: Path
) -> None:
    marker = tmp_path / "cmd-ran"
    extra = {"SELFDISCOVER_POLICY": "optional"}
    proc = sd(shim, ["exec", "--no-env-file", "--", "touch", str(marker)], {**in_ecs_down, **extra})
    assert (proc.returncode, marker.exists()) == (0, True)


def test_agent_url_and_docker_id_options_win(
    shim: list[str], env: dict[str, str], down_agent: FakeAgent, task: FakeTask
) -> None:
    wrong = {"SELFDISCOVER_AGENT_URL": down_agent.url, "SELFDISCOVER_DOCKER_ID": random_docker_id()}
    args = ["--agent-url", env["SELFDISCOVER_AGENT_URL"], "--docker-id", task.containers[0].docker_id]
    got = dumped(sd(shim, ["exec", *args, "--no-env-file", "--", *dump_cmd()], {**env, **wrong}))["env"]
    assert got["ECS_TASK_ARN"] == task.arn


# --- diagnostics: stderr only, -q / -v -------------------------------------------


@pytest.mark.parametrize(
    ("args", "extra", "lines"),
    [
        (["exec"], {}, 1),
        (["exec", "-q"], {}, 0),
        (["-q", "exec"], {}, 0),
        (["exec"], {"SELFDISCOVER_QUIET": "1"}, 0),
        (["exec", "-v"], {"SELFDISCOVER_QUIET": "1"}, 1),
    ],
    ids=["default", "sub-q", "top-q", "quiet-variable", "v-wins-over-variable"],
)
def test_outside_ecs_warning_and_quiet(
    shim: list[str], outside: dict[str, str], args: list[str], extra: dict[str, str], lines: int
) -> None:
    proc = sd(shim, [*args, "--no-env-file", "--", "printf", "APP"], {**outside, **extra})
    assert proc.returncode == 0
    assert proc.stdout == "APP"
    assert len(proc.stderr.splitlines()) == lines


def test_quiet_still_reports_errors(shim: list[str], outside: dict[str, str]) -> None:
    proc = sd(shim, ["-q", "exec", "--required", "--no-env-file", "--", "true"], outside)
    assert proc.returncode == EX_NOTECS
    assert len(proc.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "extra", "verbose"),
    [
        (["exec"], {}, False),
        (["exec", "-v"], {}, True),
        (["-v", "exec"], {}, True),
        (["exec"], {"SELFDISCOVER_VERBOSE": "1"}, True),
        (["exec", "-q"], {"SELFDISCOVER_VERBOSE": "1"}, False),
    ],
    ids=["default", "sub-v", "top-v", "verbose-variable", "q-wins-over-variable"],
)
def test_diagnostics_never_reach_stdout(
    shim: list[str],
    env: dict[str, str],
    tmp_path: Path,
    args: list[str],
    extra: dict[str, str],
    verbose: bool,
) -> None:
    """stdout belongs to the application, even with -v and an env file written."""
    proc = sd(shim, [*args, "--env-file", str(tmp_path / "ecs.env"), "--", "printf", "APP"], {**env, **extra})
    assert proc.returncode == 0
    assert proc.stdout == "APP"
    lines = proc.stderr.splitlines()
    assert bool(lines) == verbose
    assert all(line.startswith("selfdiscover: ") for line in lines)


def test_diagnostics_of_a_failure_never_reach_stdout(shim: list[str], in_ecs_down: dict[str, str]) -> None:
    proc = sd(shim, ["-v", "exec", "--no-env-file", "--", "printf", "APP"], in_ecs_down)
    assert proc.returncode == EX_UNAVAILABLE
    assert proc.stdout == ""
    assert proc.stderr.splitlines()[-1].startswith("selfdiscover: error: ")


# --- where env files go by default ------------------------------------------------


def test_explicit_file_never_falls_back(shim: list[str], env: dict[str, str], tmp_path: Path) -> None:
    marker = tmp_path / "cmd-ran"
    path = tmp_path / "missing-dir" / "ecs.env"
    for how in (["--env-file", str(path)], []):
        extra = (
            {"TMPDIR": str(tmp_path)}
            if how
            else {"TMPDIR": str(tmp_path), "SELFDISCOVER_ENV_FILE": str(path)}
        )
        proc = sd(shim, ["exec", *how, "--", "touch", str(marker)], {**env, **extra})
        assert proc.returncode == EX_CANTCREAT
        assert len(proc.stderr.splitlines()) == 1 and str(path) in proc.stderr
        assert not marker.exists()
        assert sorted(os.listdir(tmp_path)) == []  # no $TMPDIR/selfdiscover, no missing-dir


def _private_run_missing() -> str | None:
    exe = shutil.which("unshare")
    if exe is None:
        return "unshare is not installed"
    probe = subprocess.run(
        [exe, "--mount", "--propagation", "private", "sh", "-c", "mount -t tmpfs -o size=64k none /run"],
        capture_output=True,
        timeout=10,
    )
    return None if probe.returncode == 0 else "cannot mount a private /run here (needs root)"


PRIVATE_RUN_MISSING = _private_run_missing()
needs_private_run = pytest.mark.skipif(PRIVATE_RUN_MISSING is not None, reason=PRIVATE_RUN_MISSING or "")

# CMD inside the private namespace: what it got, and what the candidate files hold.
PROBE = (
    "import json, os, stat, sys\n"
    "files = {}\n"
    "for p in sys.argv[1:]:\n"
    "    try:\n"
    "        with open(p, encoding='utf-8') as f:\n"
    "            files[p] = [f.read(), stat.S_IMODE(os.stat(p).st_mode)]\n"
    "    except FileNotFoundError:\n"
    "        files[p] = None\n"
    "env = {k: v for k, v in os.environ.items() if k.startswith('ECS_')}\n"
    "json.dump({'env': env, 'files': files}, sys.stdout)\n"
)
DEFAULT = "/run/selfdiscover/ecs.env"


def in_private_run(
    shim: list[str], args: list[str], env: Mapping[str, str], *, read_only: bool
) -> subprocess.CompletedProcess[str]:
    """Run the shim with a fresh tmpfs on /run that only it sees (the host's /run is
    never written)."""
    opts = "ro,size=64k" if read_only else "size=64k"
    # The real default directory, inside the private /run: undo the suite's redirect.
    env = {k: v for k, v in env.items() if k != "SELFDISCOVER_RUN_DIR"}
    wrapper = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        f'mount -t tmpfs -o {opts} selfdiscover-test /run && exec "$@"',
        "sh",
    ]
    return subprocess.run([*wrapper, *shim, *args], env=dict(env), capture_output=True, text=True, timeout=30)


def _kv(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k] = v
    return out


@needs_private_run
def test_default_env_file_is_run_selfdiscover_in_docker_dialect(
    shim: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    fallback = str(tmp_path / "selfdiscover" / "ecs.env")
    proc = in_private_run(
        shim,
        ["exec", "--", PY, "-c", PROBE, DEFAULT, fallback],
        {**env, "TMPDIR": str(tmp_path)},
        read_only=False,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    content, mode = got["files"][DEFAULT]
    assert _kv(content) == got["env"]
    assert got["env"]["ECS_TASK_FAMILY"] == "web"
    assert mode == 0o644
    assert got["files"][fallback] is None
    assert proc.stderr == ""


@needs_private_run
def test_default_env_file_falls_back_to_tmpdir_when_run_is_read_only(
    shim: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    fallback = tmp_path / "selfdiscover" / "ecs.env"
    proc = in_private_run(
        shim,
        ["exec", "--", PY, "-c", PROBE, DEFAULT, str(fallback)],
        {**env, "TMPDIR": str(tmp_path)},
        read_only=True,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["files"][DEFAULT] is None
    assert got["env"]["ECS_TASK_FAMILY"] == "web"
    assert readers.read_kvfile_port(fallback) == got["env"]


@needs_private_run
@pytest.mark.parametrize("planted", ["symlink", "other-owner", "group-writable"])
def test_planted_fallback_directory_is_refused(
    shim: list[str], env: dict[str, str], tmp_path: Path, planted: str
) -> None:
    """Somebody else got to the shared $TMPDIR first: the fallback directory is a link
    to a directory of ours, or a directory we do not own, or one others may write.
    The shim writes nothing there (a default must not stop the container: CMD runs)."""
    tmp, elsewhere = tmp_path / "tmp", tmp_path / "elsewhere"
    tmp.mkdir()
    elsewhere.mkdir(mode=0o755)
    fallback = tmp / "selfdiscover"
    if planted == "symlink":
        fallback.symlink_to(elsewhere)
    else:
        fallback.mkdir()
        if planted == "other-owner":
            os.chown(fallback, 65534, 65534)
            os.chmod(fallback, 0o755)
        else:
            os.chmod(fallback, 0o775)
    proc = in_private_run(
        shim,
        ["exec", "--", PY, "-c", PROBE, DEFAULT, str(fallback / "ecs.env")],
        {**env, "TMPDIR": str(tmp)},
        read_only=True,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["env"]["ECS_TASK_FAMILY"] == "web"  # exported all the same
    assert got["files"] == {DEFAULT: None, str(fallback / "ecs.env"): None}
    assert os.listdir(elsewhere) == [] and os.listdir(tmp) == ["selfdiscover"]
    assert proc.stderr.startswith("selfdiscover: ") and "Traceback" not in proc.stderr


@needs_private_run
def test_default_env_file_nowhere_writable_warns_and_still_runs(
    shim: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    extra = {"TMPDIR": "/run/no-such-dir"}  # on the read-only /run too
    proc = in_private_run(shim, ["exec", "--", PY, "-c", PROBE, DEFAULT], {**env, **extra}, read_only=True)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["env"]["ECS_TASK_FAMILY"] == "web"  # exported all the same
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("selfdiscover: ") and "error" not in lines[0]


@needs_private_run
def test_explicit_file_on_read_only_run_fails_without_fallback(
    shim: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    proc = in_private_run(
        shim,
        ["exec", "--env-file", "/run/app.env", "--", "true"],
        {**env, "TMPDIR": str(tmp_path)},
        read_only=True,
    )
    assert proc.returncode == EX_CANTCREAT
    assert os.listdir(tmp_path) == []


@needs_private_run
@pytest.mark.parametrize("how", ["option", "variable"])
def test_no_env_file_writes_nothing(shim: list[str], env: dict[str, str], tmp_path: Path, how: str) -> None:
    args, extra = (["--no-env-file"], {}) if how == "option" else ([], {"SELFDISCOVER_NO_ENV_FILE": "1"})
    fallback = str(tmp_path / "selfdiscover" / "ecs.env")
    proc = in_private_run(
        shim,
        ["exec", *args, "--", PY, "-c", PROBE, DEFAULT, fallback],
        {**env, "TMPDIR": str(tmp_path), **extra},
        read_only=False,
    )
    got = json.loads(proc.stdout)
    assert got["files"] == {DEFAULT: None, fallback: None}
    assert got["env"]["ECS_TASK_FAMILY"] == "web"


# --- show ------------------------------------------------------------------------------

SHOW_READERS = {
    "docker": readers.read_kvfile_port if readers.docker_cli_missing() else readers.read_docker_cli,
    "shell": readers.read_shell,
    "dotenv": readers.read_dotenv,
    "systemd": readers.read_systemd_port,
    "json": read_json,
}


def test_show_prints_what_exec_writes_in_every_format(
    shim: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    written = tmp_path / "exec.json"
    exported = dumped(sd(shim, ["exec", "--env-file", f"json:{written}", "--", *dump_cmd()], env))["env"]
    assert read_json(written) == exported
    default = sd(shim, ["show"], env)
    assert default.returncode == 0 and default.stderr == ""
    assert _kv(default.stdout) == exported  # docker dialect by default
    for dialect, read in SHOW_READERS.items():
        proc = sd(shim, ["show", "--format", dialect], env)
        assert proc.returncode == 0, proc.stderr
        out = tmp_path / f"show.{dialect}"
        out.write_text(proc.stdout, encoding="utf-8")
        assert read(out) == exported, dialect
    via_var = sd(shim, ["show"], {**env, "SELFDISCOVER_FORMAT": "json"})
    assert json.loads(via_var.stdout) == exported


def test_show_matches_exec_when_a_variable_is_preset(
    shim: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    preset = {**env, "ECS_CLUSTER": "operator's choice"}
    written = tmp_path / "exec.json"
    assert sd(shim, ["exec", "--env-file", f"json:{written}", "--", "true"], preset).returncode == 0
    shown = sd(shim, ["show", "--format", "json"], preset)
    assert json.loads(shown.stdout) == read_json(written)


def test_show_all(shim: list[str], env: dict[str, str], agent: FakeAgent, task: FakeTask) -> None:
    proc = sd(shim, ["show", "--all"], env)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["arn"] == task.arn
    assert (info["family"], info["version"]) == ("web", "7")
    assert info["docker_id"] == task.containers[0].docker_id
    assert info["cluster_name"] == agent.cluster
    assert info["task_id"] == task.arn.rsplit("/", 1)[1]


def test_show_refuses_a_value_its_format_cannot_carry(
    shim: list[str], agent: FakeAgent, clean_env: dict[str, str]
) -> None:
    docker_id = random_docker_id()
    agent.add_task("web", 1, [FakeContainer("'quoted'", docker_id)])
    env = {**clean_env, "SELFDISCOVER_AGENT_URL": agent.url, "SELFDISCOVER_DOCKER_ID": docker_id}
    proc = sd(shim, ["show", "--format", "docker"], env)
    assert proc.returncode == EX_DATAERR
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and "ECS_CONTAINER_NAME" in proc.stderr
    shell = sd(shim, ["show", "--format", "json"], env)
    assert json.loads(shell.stdout)["ECS_CONTAINER_NAME"] == "'quoted'"


def test_show_failures(shim: list[str], outside: dict[str, str], in_ecs_down: dict[str, str]) -> None:
    for environ, code in ((outside, EX_NOTECS), (in_ecs_down, EX_UNAVAILABLE)):
        proc = sd(shim, ["show"], environ)
        assert proc.returncode == code
        assert proc.stdout == ""
        assert len(proc.stderr.splitlines()) == 1


# --- agent -----------------------------------------------------------------------------


def json_tool(body: bytes) -> str:
    """What `curl URL | python -m json.tool` prints."""
    proc = subprocess.run([PY, "-m", "json.tool"], input=body, capture_output=True, check=True, timeout=30)
    return proc.stdout.decode("utf-8")


@pytest.fixture
def busy_agent() -> Iterator[FakeAgent]:
    """The bundled sample tasks plus one with names that need escaping."""
    with FakeAgent(cluster="prod") as a:
        a.load_samples()
        a.add_task("web", 12, [FakeContainer('wéb <&> ☃ "q" \\', "f00d" + "0" * 60)])
        yield a


@pytest.mark.parametrize(
    "call",
    ["metadata", "tasks", "tasks --taskarn", "tasks --dockerid", "tasks --dockerid short"],
)
def test_agent_prints_what_json_tool_would(
    shim: list[str], busy_agent: FakeAgent, clean_env: dict[str, str], call: str
) -> None:
    task = busy_agent.tasks[-1]
    docker_id = task.containers[0].docker_id
    args, path = {
        "metadata": (["metadata"], "/v1/metadata"),
        "tasks": (["tasks"], "/v1/tasks"),
        "tasks --taskarn": (
            ["tasks", "--taskarn", task.arn],
            "/v1/tasks?taskarn=" + quote(task.arn, safe=""),
        ),
        "tasks --dockerid": (["tasks", "--dockerid", docker_id], "/v1/tasks?dockerid=" + docker_id),
        "tasks --dockerid short": (
            ["tasks", "--dockerid", docker_id[:12]],
            "/v1/tasks?dockerid=" + docker_id[:12],
        ),
    }[call]
    with urllib.request.urlopen(busy_agent.url + path, timeout=10) as r:
        body = r.read()
    proc = sd(shim, ["agent", *args], {**clean_env, "SELFDISCOVER_AGENT_URL": busy_agent.url})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout == json_tool(body)
    assert proc.stdout == json.dumps(json.loads(body), indent=4) + "\n"


def test_agent_url_option(shim: list[str], busy_agent: FakeAgent, clean_env: dict[str, str]) -> None:
    proc = sd(shim, ["agent", "metadata", "--agent-url", busy_agent.url], clean_env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["Cluster"] == "prod"


def _raw(status: int, body: bytes) -> Behaviour:
    def hook(method: str, target: str) -> tuple[int, dict[str, str], bytes] | None:
        return status, {"Content-Type": "application/json"}, body

    return Behaviour(override=hook)


@pytest.mark.parametrize(
    ("behaviour", "args"),
    [
        (Behaviour(down_for=120), ["metadata"]),
        (Behaviour(down_for=120), ["tasks"]),
        (Behaviour(error_for=120), ["tasks"]),
        (Behaviour(), ["tasks", "--taskarn", "arn:aws:ecs:us-west-2:111122223333:task/default/" + "0" * 32]),
        (Behaviour(), ["tasks", "--dockerid", "ab"]),  # two containers start with "ab": HTTP 400
        (_raw(200, b'{"Tasks": ['), ["tasks"]),
        (_raw(200, b'{"Tasks": "none"}'), ["tasks"]),
        (_raw(200, b"[]"), ["metadata"]),
    ],
    ids=[
        "refused-metadata",
        "refused-tasks",
        "http-500",
        "unknown-arn",
        "ambiguous-id",
        "truncated",
        "wrong-shape",
        "metadata-not-object",
    ],
)
def test_agent_errors_exit_69_with_one_line(
    shim: list[str], clean_env: dict[str, str], behaviour: Behaviour, args: list[str]
) -> None:
    with FakeAgent(behaviour=behaviour) as a:
        a.add_container_task("ab" + "1" * 62)
        a.add_container_task("ab" + "2" * 62)
        env = {**clean_env, "SELFDISCOVER_AGENT_URL": a.url, "SELFDISCOVER_TIMEOUT": "0.25"}
        proc = sd(shim, ["agent", *args], env)
    assert proc.returncode == EX_UNAVAILABLE
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("selfdiscover: error: ")


@pytest.mark.parametrize(
    "args", [["agent"], ["agent", "tasks", "--taskarn", "x", "--dockerid", "y"], ["agent", "version"]]
)
def test_agent_usage_errors(shim: list[str], clean_env: dict[str, str], args: list[str]) -> None:
    proc = sd(shim, args, clean_env)
    assert proc.returncode == EX_USAGE
    assert proc.stdout == ""


# --- demo --------------------------------------------------------------------------


def test_demo_runs_end_to_end(shim: list[str], clean_env: dict[str, str]) -> None:
    proc = sd(shim, ["demo"], clean_env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "app: ECS_TASK_FAMILY=demo-web" in proc.stdout
    assert "app: ECS_TASK_VERSION=7" in proc.stdout


def test_cli_dialects_are_the_envfile_dialects() -> None:
    # One tuple, defined with the default paths (which --help needs without importing envfile).
    from selfdiscover import cli, envfile
    from selfdiscover._outputs import _paths

    assert vars(cli)["DIALECTS"] is envfile.DIALECTS is _paths.DIALECTS


def test_only_the_subcommand_in_use_is_built_and_parses_alike() -> None:
    from selfdiscover import cli

    full = cli.build_parser()
    sub_actions = [a for a in full._actions if isinstance(a, argparse._SubParsersAction)]
    assert tuple(sub_actions[0].choices) == cli.COMMANDS  # the read-ahead knows every command
    argv = ["-v", "exec", "--required", "--env-file", "shell:/x/ecs.sh", "--tags", "--", "app", "-x"]
    assert cli._command(argv) == "exec"
    assert vars(cli.build_parser("exec").parse_args(argv)) == vars(full.parse_args(argv))
    lazy = cli.build_parser("exec")
    assert tuple(next(a for a in lazy._actions if isinstance(a, argparse._SubParsersAction)).choices) == (
        "exec",
    )
    assert cli._command(["--version"]) is None and cli._command(["exce"]) is None


@pytest.mark.parametrize("how", ["options", "variables"])
def test_show_prints_what_exec_writes_with_the_runtime_variables(
    shim: list[str], env: dict[str, str], tmp_path: Path, how: str
) -> None:
    """--set-cpu-count and --set-otel-resource: show previews exactly what exec writes."""
    flags = ["--set-cpu-count", "--set-otel-resource"] if how == "options" else []
    if how == "variables":
        env = {**env, "SELFDISCOVER_SET_CPU_COUNT": "1", "SELFDISCOVER_SET_OTEL_RESOURCE": "1"}
    env = {**env, "GOMAXPROCS": "7"}  # the operator's own: kept by both
    written = tmp_path / "exec.json"
    proc = sd(shim, ["exec", *flags, "--env-file", f"json:{written}", "--", "true"], env)
    assert proc.returncode == 0, proc.stderr
    shown = sd(shim, ["show", *flags, "--format", "json"], env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == read_json(written)
    assert read_json(written)["GOMAXPROCS"] == "7"
    assert read_json(written)["PYTHON_CPU_COUNT"] == read_json(written)["ECS_CPU_COUNT"]
    assert "aws.ecs.task.family=web" in read_json(written)["OTEL_RESOURCE_ATTRIBUTES"]

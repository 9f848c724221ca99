"""The plain reading of ``exec`` and ``write`` command lines, beside argparse.

The shim reads an ordinary command line without argparse (importing and
building it is a third of the shim's own start-up). The contract: whenever
the plain reading answers, its answer is exactly argparse's; anything it is
unsure of (help, abbreviations, a bad value, an option it does not know) it
hands to argparse, which parses or explains as before.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shimrun import python

from selfdiscover import cli
from selfdiscover.testing import FakeAgent, FakeContainer


def by_argparse(argv: list[str]) -> dict[str, Any] | None:
    """argparse's namespace, or None where it refuses the command line."""
    try:
        return vars(cli.build_parser(cli._command(argv)).parse_args(argv))
    except SystemExit:
        return None


@contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: v for k, v in os.environ.items() if k.startswith("SELFDISCOVER_")}
    for k in saved:
        del os.environ[k]
    os.environ.update(values)
    try:
        yield
    finally:
        for k in values:
            os.environ.pop(k, None)
        os.environ.update(saved)


TOKENS = [
    "--no-env-file",
    "--no-env",  # an abbreviation: argparse's business
    "--required",
    "--optional",
    "--tags",
    "--override",
    "-q",
    "-v",
    "-qv",
    "--quiet",
    "--verbose",
    "--env-file",
    "shell:/tmp/x.sh",
    "--env-file=/tmp/e.env",
    "--format",
    "shell",
    "--format=json",
    "--format=nope",
    "--mode",
    "0600",
    "--timeout",
    "2.5",
    "--timeout=0",
    "--timeout=abc",
    "--agent-url",
    "http://127.0.0.1:9",
    "--agent-url=http://[::1]:9",
    "--docker-id",
    "ab" * 32,
    "--prefix",
    "APP_",
    "--prefix=",
    "-h",
    "--help",
    "--version",
    "--bogus",
    "--t",  # ambiguous: --timeout, --tags
    "--o",
    "--",
    "-x",
    "app",
    "",
]
ENVIRONMENTS = [
    {},
    {"SELFDISCOVER_TIMEOUT": "3"},
    {"SELFDISCOVER_TIMEOUT": "abc"},
    {"SELFDISCOVER_TAGS": "1", "SELFDISCOVER_NO_ENV_FILE": "yes", "SELFDISCOVER_OVERRIDE": "on"},
    {"SELFDISCOVER_FORMAT": "shell", "SELFDISCOVER_MODE": "0600", "SELFDISCOVER_PREFIX": "X_"},
    {"SELFDISCOVER_AGENT_URL": "http://127.0.0.1:1", "SELFDISCOVER_DOCKER_ID": "cd" * 32},
]


@settings(max_examples=600, deadline=None)
@given(
    command=st.sampled_from(["exec", "write"]),
    tokens=st.lists(st.sampled_from(TOKENS), max_size=7),
    env=st.sampled_from(ENVIRONMENTS),
)
def test_whenever_the_plain_reading_answers_it_is_argparse_answer(
    command: str, tokens: list[str], env: dict[str, str]
) -> None:
    argv = [command, *tokens]
    with environ(env):
        plain = cli._read_plainly(argv)
        if plain is None:
            return
        assert vars(plain) == by_argparse(argv), argv


# Well-formed pieces of a command line, so that nearly every example is read plainly.
UNITS = [
    ["--no-env-file"],
    ["--tags"],
    ["--override"],
    ["--required"],
    ["--optional"],
    ["-q"],
    ["--verbose"],
    ["--env-file", "shell:/tmp/x.sh"],
    ["--env-file=/tmp/e.env"],
    ["--format", "json"],
    ["--format=shell"],
    ["--mode", "0600"],
    ["--timeout", "2.5"],
    ["--timeout=7"],
    ["--agent-url", "http://127.0.0.1:9"],
    ["--docker-id=" + "ab" * 32],
    ["--prefix", "APP_"],
]


@settings(max_examples=300, deadline=None)
@given(
    command=st.sampled_from(["exec", "write"]),
    units=st.lists(st.sampled_from(UNITS), max_size=6),
    tail=st.sampled_from([[], ["--", "app", "-x"], ["app", "x", "--", "--t"], ["--", "--", "app"]]),
    env=st.sampled_from(ENVIRONMENTS[:2] + ENVIRONMENTS[3:]),
)
def test_well_formed_lines_are_read_plainly_and_alike(
    command: str, units: list[list[str]], tail: list[str], env: dict[str, str]
) -> None:
    argv = [command, *(t for unit in units for t in unit), *(tail if command == "exec" else [])]
    with environ(env):
        plain = cli._read_plainly(argv)
        if ["--required"] in units and ["--optional"] in units:
            assert plain is None and by_argparse(argv) is None
            return
        assert plain is not None, argv
        assert vars(plain) == by_argparse(argv), argv


@pytest.mark.parametrize(
    "argv",
    [
        ["exec", "--", "app"],
        ["exec", "app", "value", "--", "--t"],
        ["exec", "--", "app", "--t", "-x"],
        ["exec", "--no-env-file", "--", "true"],
        ["exec", "--required", "--env-file", "shell:/x.sh", "--env-file=/y.env", "--", "app", "-x"],
        ["exec", "-q", "--timeout", "3", "--format", "shell", "--mode", "0600", "--", "app"],
        ["exec", "--agent-url", "http://127.0.0.1:9", "--docker-id", "ab" * 32, "--tags", "--", "app"],
        ["exec"],
        ["write", "--optional", "--env-file", "/ecs/ecs.env", "-v"],
        ["write"],
    ],
)
def test_ordinary_command_lines_are_read_plainly_and_alike(argv: list[str]) -> None:
    with environ({}):
        plain = cli._read_plainly(argv)
        assert plain is not None, "an ordinary command line went to argparse"
        assert vars(plain) == by_argparse(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["exec", "--help"],
        ["exec", "--no-env", "--", "app"],  # abbreviations are argparse's
        ["exec", "--timeout", "abc", "--", "app"],
        ["exec", "--format", "nope", "--", "app"],
        ["exec", "--required", "--optional", "--", "app"],
        ["exec", "-qv", "--", "app"],
        ["exec", "--agent-url", "-x", "--", "app"],
        ["write", "app"],
        ["exec", "--no-env-file", "echo", "hi", "--t"],  # argparse: ambiguous option, even in CMD
        ["exec", "app", "-x"],
        ["-v", "exec", "--", "app"],
        ["show"],
        [],
    ],
)
def test_the_unusual_goes_to_argparse(argv: list[str]) -> None:
    with environ({}):
        assert cli._read_plainly(argv) is None


def test_an_invalid_default_from_the_environment_goes_to_argparse() -> None:
    with environ({"SELFDISCOVER_TIMEOUT": "abc"}):
        assert cli._read_plainly(["exec", "--", "app"]) is None
        assert by_argparse(["exec", "--", "app"]) is None


def test_the_shim_never_imports_argparse(
    fake_agent: FakeAgent, clean_env: dict[str, str], tmp_path: Any
) -> None:
    """Proven on the real console entry: the process that execs the
    application has not imported argparse (an audit hook reports its modules
    at the exec), and the application still starts with the variables."""
    fake_agent.add_task("plain", 4, [FakeContainer("app", "ef" * 32)])
    code = (
        "import os, sys\n"
        "said = []\n"
        "def hook(event, args):\n"
        "    if event == 'os.exec' and not said:  # once: execvp tries each PATH entry\n"
        "        said.append(print('argparse' in sys.modules, flush=True))\n"
        "sys.addaudithook(hook)\n"
        "from selfdiscover.cli import main\n"
        "sys.exit(main())\n"
    )
    env = {
        **clean_env,
        "SELFDISCOVER_AGENT_URL": fake_agent.url,
        "SELFDISCOVER_DOCKER_ID": "ef" * 32,
        "SELFDISCOVER_SOURCES": "agent-url",
    }
    out = python(code, env, "exec", "--no-env-file", "--", "sh", "-c", 'echo "$ECS_TASK_FAMILY"')
    assert out.splitlines() == ["False", "plain"]

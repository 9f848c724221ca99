"""Running the installed shim, or Python code, as a subprocess: shared by the tests.

Also the one home of what the shim's tests share: the exit codes, the CMD that
reports what it got, and the in-ECS and outside-ECS environments. The fixtures
built from these (``ecs``, ``down_agent``, ``in_ecs_down``, ``outside``) are in
suite.py; ``clean_env`` there is the scrubbed environment they all start from.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from selfdiscover.testing import FakeAgent, FakeTask, random_docker_id

PY = sys.executable

# The exit codes the README documents ("Failure policy and exit codes"): the contract,
# so the tests assert these numbers, written here once, not the library's constants.
EX_USAGE = 2
EX_DATAERR = 65
EX_NOTECS = 68
EX_UNAVAILABLE = 69
EX_CANTCREAT = 73
EX_NOEXEC = 126
EX_NOTFOUND = 127

# CMD that reports what it got: its PID, parent PID and every variable with a prefix
# (``{"pid": ..., "ppid": ..., "env": {...}}``; ``dumped(proc)["env"]`` is the variables).
DUMP = (
    "import json, os, sys\n"
    "json.dump({'pid': os.getpid(), 'ppid': os.getppid(),\n"
    "           'env': {k: v for k, v in os.environ.items() if k.startswith(sys.argv[1])}},\n"
    "          sys.stdout)\n"
)


def dump_cmd(prefix: str = "ECS_") -> list[str]:
    """The DUMP CMD, reporting the variables that start with *prefix* ("" for all)."""
    return [PY, "-c", DUMP, prefix]


@dataclass
class Setup:
    """A task on the fake agent and the environment that discovers it."""

    agent: FakeAgent
    task: FakeTask
    env: dict[str, str]


def setup_task(
    agent: FakeAgent, clean_env: Mapping[str, str], family: str = "web", version: int = 7, name: str = "app"
) -> Setup:
    """A one-container task on *agent*, and discovery pointed at its container."""
    docker_id = random_docker_id()
    task = agent.add_container_task(docker_id, family, version, name)
    env = dict(
        clean_env,
        SELFDISCOVER_AGENT_URL=agent.url,
        SELFDISCOVER_DOCKER_ID=docker_id,
        SELFDISCOVER_TIMEOUT="5",
    )
    return Setup(agent, task, env)


def in_ecs_env(clean_env: Mapping[str, str], url: str, timeout: str = "0.25") -> dict[str, str]:
    """ECS evidence (the v4 endpoint variable) with every source pointing at *url*."""
    return dict(
        clean_env,
        ECS_CONTAINER_METADATA_URI_V4=f"{url}/v4/{random_docker_id()[:32]}-1",
        SELFDISCOVER_AGENT_URL=url,
        SELFDISCOVER_DOCKER_ID=random_docker_id(),
        SELFDISCOVER_TIMEOUT=timeout,
    )


def outside_ecs_env(clean_env: Mapping[str, str]) -> dict[str, str]:
    """No ECS variable, no agent URL: a laptop or CI."""
    return dict(clean_env, SELFDISCOVER_TIMEOUT="0.5")


def sd(
    shim: list[str], args: list[str], env: Mapping[str, str], timeout: float = 30, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """``selfdiscover ARGS`` with exactly ``env``; output decoded leniently."""
    return subprocess.run(
        [*shim, *args],
        env=dict(env),
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
        **kw,
    )


def dumped(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON a successful CMD printed on stdout."""
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def python(code: str, env: Mapping[str, str], *args: str, flags: tuple[str, ...] = ()) -> str:
    """What ``python [FLAGS] -c CODE ARGS`` prints, run with exactly ``env``;
    it must exit 0."""
    p = subprocess.run(
        [sys.executable, *flags, "-c", code, *args], env=dict(env), capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 0, p.stderr
    return p.stdout

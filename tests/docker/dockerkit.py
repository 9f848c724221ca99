"""Helpers for the Docker tests: the docker CLI, and containers that are
labelled for clean-up, never pull, and never get a network beyond loopback.

Every container is started with ``--network none`` or joined to a holder's
namespace with ``--network container:<holder>`` (the awsvpc shape: one
namespace, loopback only). Nothing is published and nothing is pulled.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

BASE_IMAGE = "selfdiscover-base:bookworm"
SHIM_IMAGE = "selfdiscover-example-shim"
LIBRARY_IMAGE = "selfdiscover-example-library"
EMULATOR_IMAGE = "selfdiscover-example-emulator"
EXAMPLE_IMAGES = {"shim": SHIM_IMAGE, "library": LIBRARY_IMAGE, "emulator": EMULATOR_IMAGE}

# The examples start from a public Python image (ARG BASE); the suite never pulls,
# so it passes the local base, and pip installs offline: the dependencies are the
# base image's Debian packages (the emulator's docker extra too, as python3-docker).
BUILD = (  # docker BUILD... -t TAG CONTEXT
    "build", "-q", "--network", "none",
    "--build-arg", f"BASE={BASE_IMAGE}",
    "--build-arg", "PIP_OPTIONS=--no-index --no-deps --no-build-isolation",
)  # fmt: skip

LABEL = "selfdiscover-test"  # on everything the suite starts
PID_LABEL = "selfdiscover-test.pid"  # the pytest process that owns it: stale once that is gone
COMPOSE_PREFIX = "selfdiscover-test-"  # compose project names: COMPOSE_PREFIX + [name-] + pid

AGENT_PORT = 51678
AGENT_URL = f"http://127.0.0.1:{AGENT_PORT}"
DOCKER_SOCKET = "/var/run/docker.sock"

REGION, ACCOUNT = "us-west-2", "111122223333"


def docker(
    *args: str, timeout: float = 60, check: bool = True, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI; on failure raise with its stderr in the message."""
    p = subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else dict(env),
        stdin=subprocess.DEVNULL,
    )
    if check and p.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {p.returncode}:\n{p.stderr}{p.stdout}")
    return p


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale() -> None:
    """Remove what earlier sessions left behind, and only that: containers
    (and compose projects) whose owning pytest process is gone."""
    out = docker(
        "ps", "-a", "--filter", f"label={LABEL}", "--format", f'{{{{.ID}}}} {{{{.Label "{PID_LABEL}"}}}}'
    ).stdout
    stale = [cid for cid, _, pid in (line.partition(" ") for line in out.splitlines()) if not _alive(pid)]
    out = docker(
        "ps", "-a", "--filter", "label=com.docker.compose.project",
        "--format", '{{.ID}} {{.Label "com.docker.compose.project"}}',
    ).stdout  # fmt: skip
    for cid, _, project in (line.partition(" ") for line in out.splitlines()):
        if project.startswith(COMPOSE_PREFIX) and not _alive(project.rpartition("-")[2]):
            stale.append(cid)
    if stale:
        docker("rm", "-f", "-v", *stale, check=False)
    docker("image", "prune", "-f", "--filter", f"label={LABEL}", check=False)  # dangling rebuilds only


def _alive(pid: str) -> bool:
    return pid.isdigit() and pid_alive(int(pid))


def task_labels(
    family: str = "web",
    version: str | int = 7,
    name: str = "app",
    cluster: str = "demo",
    task_id: str | None = None,
) -> dict[str, str]:
    """The labels the ECS agent puts on a task container (contract section 5.1)."""
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{cluster}/{task_id or secrets.token_hex(16)}"
    return {
        "com.amazonaws.ecs.task-arn": arn,
        "com.amazonaws.ecs.task-definition-family": family,
        "com.amazonaws.ecs.task-definition-version": str(version),
        "com.amazonaws.ecs.container-name": name,
        "com.amazonaws.ecs.cluster": cluster,
    }


@dataclass
class Result:
    id: str
    exit_code: int
    stdout: str
    stderr: str


@dataclass
class AppOutput:
    """What examples/shim/app.py printed."""

    pid: int
    ppid: int
    env: dict[str, str]
    env_file: str | None


def parse_app(stdout: str) -> AppOutput:
    pid = ppid = -1
    env: dict[str, str] = {}
    env_file: list[str] | None = None
    for line in stdout.splitlines():
        if env_file is not None:
            env_file.append(line)
        elif line.startswith("app: pid "):
            a, _, b = line[len("app: pid ") :].partition(", parent ")
            pid, ppid = int(a), int(b)
        elif line.startswith("app: env file "):
            env_file = []
        elif line.startswith("app: ECS_"):
            k, _, v = line[len("app: ") :].partition("=")
            if v:
                env[k] = v
    assert pid > 0, f"the app did not run:\n{stdout}"
    return AppOutput(pid, ppid, env, None if env_file is None else "\n".join(env_file) + "\n")


def read_env_file(text: str) -> dict[str, str]:
    """The docker dialect, as ``docker run --env-file`` reads it."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k] = v
    return out


@dataclass
class Containers:
    """Starts containers and removes every one of them in ``remove_all``."""

    ids: list[str] = field(default_factory=list)

    def start(
        self,
        image: str,
        *command: str,
        network: str,
        env: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        init: bool = False,
        volumes: Iterable[str] = (),
        entrypoint: str | None = None,
        options: Sequence[str] = (),
    ) -> str:
        assert network == "none" or network.startswith("container:"), network
        args = ["run", "-d", "--pull", "never", "--network", network]
        args += ["--label", f"{LABEL}=1", "--label", f"{PID_LABEL}={os.getpid()}"]
        for k, v in (labels or {}).items():
            args += ["--label", f"{k}={v}"]
        for k, v in (env or {}).items():
            args += ["-e", f"{k}={v}"]
        for v in volumes:
            args += ["-v", v]
        if init:
            args.append("--init")
        if entrypoint is not None:
            args += ["--entrypoint", entrypoint]
        args += [*options, image, *command]
        cid = docker(*args).stdout.strip()
        self.ids.append(cid)
        assert len(cid) == 64, cid
        return cid

    def wait(self, cid: str, timeout: float = 60) -> int:
        return int(docker("wait", cid, timeout=timeout).stdout.strip())

    def logs(self, cid: str) -> tuple[str, str]:
        p = docker("logs", cid)
        return p.stdout, p.stderr

    def run(self, image: str, *command: str, timeout: float = 60, **kw: object) -> Result:
        """Start, wait for the exit, collect the output (the container stays until remove_all)."""
        cid = self.start(image, *command, **kw)  # type: ignore[arg-type]
        code = self.wait(cid, timeout)
        out, err = self.logs(cid)
        return Result(cid, code, out, err)

    def holder(self) -> str:
        """The namespace owner, like a task's pause container: loopback only."""
        return self.start(BASE_IMAGE, "sleep", "infinity", network="none", init=True)

    def emulator(self, holder: str, *, wait: bool = True) -> str:
        """The agent emulator in ``holder``'s namespace on 127.0.0.1:51678."""
        cid = self.start(
            EMULATOR_IMAGE,
            network=f"container:{holder}",
            volumes=[f"{DOCKER_SOCKET}:{DOCKER_SOCKET}:ro"],
        )
        if wait:
            self.wait_for_output(cid, AGENT_URL)
        return cid

    def wait_for_output(self, cid: str, text: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out, err = self.logs(cid)
            if text in out:
                return
            state = docker("inspect", "-f", "{{.State.Running}}", cid).stdout.strip()
            if state != "true":
                raise AssertionError(f"container {cid[:12]} exited before printing {text!r}:\n{out}{err}")
            time.sleep(0.05)
        raise AssertionError(f"container {cid[:12]} did not print {text!r} within {timeout}s")

    def wait_for_sigterm_handler(
        self, cid: str, marker: str = "selfdiscover exec", timeout: float = 20
    ) -> None:
        """Wait until the container's process running ``marker`` catches SIGTERM.

        Read from the host's /proc (the engine is local): before the shim sets
        its handler, SIGTERM to a PID 1 Python is ignored and `docker stop`
        would wait out its timeout for reasons that are not the shim's.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for row in docker("top", cid, "-eo", "pid,args").stdout.splitlines()[1:]:
                pid, _, args = row.strip().partition(" ")
                if marker not in args or "docker-init" in args:
                    continue
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:  # not this host's /proc: fall back to a generous pause
                    time.sleep(2)
                    return
                caught = next((x.split()[1] for x in status.splitlines() if x.startswith("SigCgt:")), "0")
                if int(caught, 16) & (1 << (signal.SIGTERM - 1)):
                    return
            time.sleep(0.05)
        raise AssertionError(f"no process of {cid[:12]} running {marker!r} caught SIGTERM within {timeout}s")

    def remove_all(self) -> None:
        if self.ids:
            docker("rm", "-f", "-v", *self.ids, check=False)
            self.ids.clear()

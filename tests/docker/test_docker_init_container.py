"""The selfdiscover image (entrypoint/Dockerfile) and examples/init-container, for real.

The image is built from the local base with --build-arg (never from a registry).
The Compose example runs as its comments say: a loopback-only holder, the agent
emulator in its namespace, the selfdiscover init container writing the shared
volume, then an app container made from Debian's busybox-static with
``docker import``, an image with no Python at all. The example runs unchanged
from a copy; a second Compose file (written here) swaps in the suite's image
tags, forbids pulls and adds the suite's clean-up labels.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dockerkit as dk
import envreaders as readers
import pytest

pytestmark = pytest.mark.docker

IMAGE = "selfdiscover-test-i13-image"
BUSYBOX = "selfdiscover-test-i13-busybox"
EXAMPLE = dk.EXAMPLES / "init-container"
TASK_ARN = "arn:aws:ecs:us-west-2:111122223333:task/demo/0123456789abcdef0123456789abcdef"
NEVER_STARTED = "0001-01-01T00:00:00Z"

Compose = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture(scope="module")
def image(base_image: str) -> str:
    """entrypoint/Dockerfile, built from the repository root with the local base."""
    dk.docker(*dk.BUILD, "--label", f"{dk.LABEL}=1", "-f", "entrypoint/Dockerfile", "-t", IMAGE, str(dk.ROOT))
    return IMAGE


@pytest.fixture(scope="module")
def busybox(base_image: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An image holding only Debian's static busybox: sh, env, cat and friends, no Python.

    The .deb comes through apt (the Debian mirror .ci/docker.sh installs from);
    an image already built from it is reused.
    """
    if dk.docker("image", "inspect", BUSYBOX, check=False).returncode == 0:
        return BUSYBOX
    work = tmp_path_factory.mktemp("busybox")
    p = subprocess.run(
        ["apt-get", "download", "busybox-static"], cwd=work, capture_output=True, text=True, timeout=300
    )
    debs = sorted(work.glob("busybox-static_*.deb"))
    if len(debs) != 1:
        pytest.fail(f"apt-get download busybox-static failed:\n{p.stderr}", pytrace=False)
    deb = debs[0]
    root = work / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True, timeout=60)
    (root / "tmp").mkdir(mode=0o1777)
    exe = root / "bin" / "busybox"
    applets = subprocess.run([str(exe), "--list"], capture_output=True, text=True, check=True).stdout
    for name in applets.split():
        if not (root / "bin" / name).exists():
            (root / "bin" / name).symlink_to("busybox")
    tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
    changes = ["ENV PATH=/bin", 'CMD ["sh"]', f"LABEL selfdiscover.busybox.deb={deb.name}"]
    imp = subprocess.run(
        ["docker", "import", *(f"--change={c}" for c in changes), "-", BUSYBOX],
        stdin=tar.stdout,
        capture_output=True,
        text=True,
        timeout=120,
    )
    tar.wait(60)
    assert imp.returncode == 0 and tar.returncode == 0, imp.stderr
    return BUSYBOX


def _compose_factory(
    tmp_path_factory: pytest.TempPathFactory, image: str, busybox: str, example_images: dict[str, str]
) -> Iterator[Callable[[str], Compose]]:
    made: list[list[str]] = []

    def make(name: str) -> Compose:
        work = tmp_path_factory.mktemp(f"init-container-{name}")
        shutil.copy2(EXAMPLE / "docker-compose.yml", work / "docker-compose.yml")
        labels = {dk.LABEL: "1", dk.PID_LABEL: str(os.getpid())}
        suite = {"holder": image, "agent": example_images["emulator"], "selfdiscover": image, "app": busybox}
        override = {
            "services": {s: {"image": i, "pull_policy": "never", "labels": labels} for s, i in suite.items()}
        }
        (work / "suite.yml").write_text(json.dumps(override))  # JSON is YAML
        project = f"{dk.COMPOSE_PREFIX}i13-{name}-{os.getpid()}"
        base = ["docker", "compose", "-f", str(work / "docker-compose.yml"), "-f", str(work / "suite.yml")]
        base += ["-p", project]
        made.append(base)

        def run(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
            p = subprocess.run([*base, *args], capture_output=True, text=True, timeout=timeout)
            if check:
                assert p.returncode == 0, f"compose {' '.join(args)} exited {p.returncode}:\n{p.stderr}"
            return p

        return run

    try:
        yield make
    finally:
        for base in made:
            subprocess.run([*base, "down", "-v", "-t", "1"], capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def compose_project(
    tmp_path_factory: pytest.TempPathFactory, image: str, busybox: str, example_images: dict[str, str]
) -> Iterator[Callable[[str], Compose]]:
    yield from _compose_factory(tmp_path_factory, image, busybox, example_images)


def inspect(cid: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(dk.docker("inspect", cid).stdout)
    return data[0]


def cid_of(compose: Compose, service: str) -> str:
    cid = compose("ps", "-a", "-q", "--no-trunc", service).stdout.strip()
    assert len(cid) == 64, cid
    return cid


# --- the image ----------------------------------------------------------------------------


def test_image_is_small_non_root_and_runs_selfdiscover(image: str, base_image: str) -> None:
    config = inspect(image)["Config"]
    assert config["Entrypoint"] == ["selfdiscover"]
    assert config["User"] == "65532:65532"
    assert "/ecs" in (config.get("Volumes") or {})
    # Package and dependencies only: what it adds to the base is the wheel and its install.
    added = inspect(image)["Size"] - inspect(base_image)["Size"]
    assert 0 < added < 2_000_000, added
    p = dk.docker("run", "--rm", "--pull", "never", "--network", "none", image, "--version")
    assert p.stdout.startswith("selfdiscover ")


def test_image_needs_no_shell(image: str, containers: dk.Containers) -> None:
    """With every shell in the image replaced by /dev/null, the default command still works."""
    masks = [
        f"--mount=type=bind,src=/dev/null,dst={sh},readonly" for sh in ("/usr/bin/dash", "/usr/bin/bash")
    ]
    labels = ["--label", f"{dk.LABEL}=1", "--label", f"{dk.PID_LABEL}={os.getpid()}"]
    run = ["run", "--rm", "--pull", "never", "--network", "none", *labels, *masks]
    sh = dk.docker(*run, "--entrypoint", "sh", image, "-c", "true", check=False)
    assert sh.returncode == 127 and '"sh": executable file not found' in sh.stderr, sh.stderr
    r = containers.run(image, network="none", options=[*masks, "--read-only"])
    assert r.exit_code == 0, r.stderr  # not in ECS: empty files, exit 0
    assert "not running in ECS" in r.stderr and "writing the env files without ECS variables" in r.stderr


# --- the init-container pattern -------------------------------------------------------------


def test_init_container_pattern_runs_as_the_compose_example_says(
    compose_project: Callable[[str], Compose], busybox: str, containers: dk.Containers, tmp_path: Path
) -> None:
    compose = compose_project("ok")
    compose("up", "-d", "--wait", "agent")
    compose("up", "-d", "app")  # waits for selfdiscover to complete successfully
    app_id, init_id = cid_of(compose, "app"), cid_of(compose, "selfdiscover")
    assert containers.wait(app_id) == 0
    init, app = inspect(init_id), inspect(app_id)
    assert init["State"]["ExitCode"] == 0
    assert app["State"]["StartedAt"] > init["State"]["FinishedAt"]  # dependsOn SUCCESS
    assert (
        app["HostConfig"]["NetworkMode"]
        == init["HostConfig"]["NetworkMode"]
        == (f"container:{cid_of(compose, 'holder')}")
    )
    assert inspect(cid_of(compose, "holder"))["HostConfig"]["NetworkMode"] == "none"

    seen = dict(
        line.split("=", 1)
        for line in compose("logs", "--no-log-prefix", "app").stdout.splitlines()
        if "=" in line
    )
    got = {k: v for k, v in seen.items() if k.startswith("ECS_")}
    assert got["ECS_TASK_ARN"] == TASK_ARN
    assert (got["ECS_TASK_FAMILY"], got["ECS_TASK_VERSION"], got["ECS_CLUSTER"]) == ("orders", "3", "demo")
    assert got["ECS_TASK_DEFINITION"] == "orders:3"
    # Describes the init container, not the app (the README says so).
    assert (got["ECS_CONTAINER_NAME"], got["ECS_CONTAINER_ID"]) == ("selfdiscover", init_id)

    # The three files on the volume say the same, read by their own readers.
    for name in ("ecs.sh", "ecs.env", "ecs.json"):
        dk.docker("cp", f"{init_id}:/ecs/{name}", str(tmp_path / name))
    assert json.loads((tmp_path / "ecs.json").read_text()) == got
    assert readers.read_dotenv(tmp_path / "ecs.env") == got
    assert (
        readers.read_shell(tmp_path / "ecs.sh", shell="dash" if not readers.dash_missing() else "bash") == got
    )
    assert {(tmp_path / n).stat().st_mode & 0o777 for n in ("ecs.sh", "ecs.env", "ecs.json")} == {0o644}

    # The app image has no Python anywhere.
    find = containers.run(busybox, "find", "/", "-xdev", "-name", "python*", network="none")
    assert (find.exit_code, find.stdout) == (0, "")


def test_init_container_fails_closed_and_the_app_never_starts(
    compose_project: Callable[[str], Compose], tmp_path: Path
) -> None:
    """No agent answers, but the container is told where one should be: exit 69, app not started."""
    compose = compose_project("fail")
    fast = tmp_path / "fast.yml"
    fast.write_text(
        json.dumps({"services": {"selfdiscover": {"environment": {"SELFDISCOVER_TIMEOUT": "2"}}}})
    )
    compose("up", "-d", "--wait", "holder")
    up = compose("-f", str(fast), "up", "-d", "--no-deps", "selfdiscover", "app", check=False)
    assert up.returncode != 0
    assert 'service "selfdiscover" didn\'t complete successfully: exit 69' in up.stderr, up.stderr
    init, app = inspect(cid_of(compose, "selfdiscover")), inspect(cid_of(compose, "app"))
    assert init["State"]["ExitCode"] == 69
    logs = compose("logs", "--no-log-prefix", "selfdiscover")
    (line,) = (logs.stdout + logs.stderr).splitlines()
    assert line.startswith("selfdiscover: error: no answer from any ECS metadata source within 2s")
    assert (app["State"]["Status"], app["State"]["StartedAt"]) == ("created", NEVER_STARTED)


def test_compose_example_and_task_definition_agree(compose_project: Callable[[str], Compose]) -> None:
    """The laptop version runs what the ECS task definition runs."""
    config = json.loads(compose_project("config")("config", "--format", "json").stdout)["services"]
    taskdef = json.loads((EXAMPLE / "task-definition.json").read_text())
    ecs = {c["name"]: c for c in taskdef["containerDefinitions"]}
    assert config["selfdiscover"]["command"] == ecs["selfdiscover"]["command"]
    assert config["app"]["depends_on"]["selfdiscover"]["condition"] == "service_completed_successfully"
    # compose config keeps the $$ that stops its own interpolation
    assert [x.replace("$$", "$") for x in config["app"]["entrypoint"]] == ecs["app"]["entryPoint"]
    for name in ("selfdiscover", "app"):
        assert config[name]["read_only"] is ecs[name]["readonlyRootFilesystem"] is True
        (vol,) = config[name]["volumes"]
        (mp,) = ecs[name]["mountPoints"]
        assert (vol["target"], bool(vol.get("read_only"))) == (mp["containerPath"], mp["readOnly"])
        assert config[name]["network_mode"] == "service:holder"
    assert config["holder"]["network_mode"] == "none"

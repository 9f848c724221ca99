"""Fixtures for the Docker tests (NOTES.md describes the engine they expect).

Session set-up, once: check the engine (skip without one, fail instead when
SELFDISCOVER_REQUIRE_DOCKER=1), remove what dead sessions left, make sure the
base image exists (tests/docker/build_base_image.sh, cached by tag), build
the selfdiscover wheel offline inside a container, and build the example
images from examples/*/Dockerfile with that wheel in their build context.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dockerkit as dk
import pytest

HERE = Path(__file__).resolve().parent
# What the wheel is built from: the package and its packaging files.
SOURCE_FILES = ("setup.py", "setup.cfg", "pyproject.toml", "README.md", "MANIFEST.in", "LICENSE")


def _required() -> bool:
    return os.environ.get("SELFDISCOVER_REQUIRE_DOCKER", "").strip().lower() in ("1", "true", "yes", "on")


@pytest.fixture(scope="session", autouse=True)
def docker_engine() -> None:
    """Skip the Docker tests when no engine answers, unless it is required."""
    try:
        p = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=30
        )
        ok = p.returncode == 0 and bool(p.stdout.strip())
        why = (p.stderr or p.stdout).strip().splitlines()[-1:] if not ok else []
    except (OSError, subprocess.TimeoutExpired) as e:
        ok, why = False, [str(e)]
    if not ok:
        reason = f"no Docker engine answers `docker info` ({' '.join(why) or 'no server version'})"
        if _required():
            pytest.fail(f"{reason}, and SELFDISCOVER_REQUIRE_DOCKER=1", pytrace=False)
        pytest.skip(reason)
    dk.remove_stale()


@pytest.fixture(scope="session")
def base_image(docker_engine: None) -> str:
    """selfdiscover-base:bookworm; the script skips the build when the tag is current."""
    if os.geteuid() == 0:
        p = subprocess.run(
            ["bash", str(HERE / "build_base_image.sh")], capture_output=True, text=True, timeout=900
        )
        if p.returncode != 0:
            pytest.fail(f"build_base_image.sh failed:\n{p.stderr[-3000:]}", pytrace=False)
    elif dk.docker("image", "inspect", dk.BASE_IMAGE, check=False).returncode != 0:
        pytest.fail(f"{dk.BASE_IMAGE} is missing: run `bash tests/docker/build_base_image.sh` as root")
    return dk.BASE_IMAGE


@pytest.fixture(scope="session")
def wheel(base_image: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of the work tree, built offline in the base image (Debian's pip,
    setuptools and wheel; no build isolation, no index)."""
    work = tmp_path_factory.mktemp("wheel")
    src, out = work / "src", work / "out"
    shutil.copytree(
        dk.ROOT / "selfdiscover", src / "selfdiscover", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in SOURCE_FILES:
        if (dk.ROOT / name).is_file():
            shutil.copy2(dk.ROOT / name, src / name)
    out.mkdir()
    dk.docker(
        "run",
        "--rm",
        "--pull",
        "never",
        "--network",
        "none",
        "--label",
        f"{dk.LABEL}=1",
        "--label",
        f"{dk.PID_LABEL}={os.getpid()}",
        "-v",
        f"{src}:/src",
        "-v",
        f"{out}:/out",
        "-e",
        "SOURCE_DATE_EPOCH=315532800",  # same source, same bytes: the image layer cache holds
        "-e",
        "PIP_DISABLE_PIP_VERSION_CHECK=1",
        base_image,
        "python3",
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-index",
        "--no-build-isolation",
        "-w",
        "/out",
        "/src",
        timeout=300,
    )
    (whl,) = out.glob("selfdiscover-*.whl")
    return whl


@pytest.fixture(scope="session")
def example_images(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Build examples/{shim,library,emulator} from their own Dockerfiles, with the wheel in wheels/."""
    work = tmp_path_factory.mktemp("contexts")
    procs = {}
    for name, tag in dk.EXAMPLE_IMAGES.items():
        ctx = work / name
        shutil.copytree(dk.EXAMPLES / name, ctx, ignore=shutil.ignore_patterns("wheels", "__pycache__"))
        (ctx / "wheels").mkdir()
        shutil.copy2(wheel, ctx / "wheels" / wheel.name)
        procs[name] = subprocess.Popen(
            ["docker", *dk.BUILD, "--label", f"{dk.LABEL}=1", "-t", tag, str(ctx)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    failed = []
    for name, p in procs.items():
        out, err = p.communicate(timeout=600)
        if p.returncode != 0:
            failed.append(f"examples/{name}: docker build exited {p.returncode}:\n{err}{out}")
    if failed:
        pytest.fail("\n".join(failed), pytrace=False)
    # the images these builds replaced, if the wheel or an example changed
    dk.docker("image", "prune", "-f", "--filter", f"label={dk.LABEL}", check=False)
    return dict(dk.EXAMPLE_IMAGES)


@pytest.fixture
def containers(example_images: dict[str, str]) -> Iterator[dk.Containers]:
    """Containers for one test, removed (with their anonymous volumes) after it."""
    c = dk.Containers()
    try:
        yield c
    finally:
        c.remove_all()


@pytest.fixture(scope="session")
def task_ns(example_images: dict[str, str]) -> Iterator[str]:
    """One shared namespace for the session: a holder plus the agent emulator
    on 127.0.0.1:51678. Returns the ``--network`` value that joins it."""
    c = dk.Containers()
    try:
        holder = c.holder()
        c.emulator(holder)
        yield f"container:{holder}"
    finally:
        c.remove_all()


@pytest.fixture
def agent_env() -> dict[str, str]:
    """What an app container in ``task_ns`` needs to find the emulator."""
    return {"SELFDISCOVER_AGENT_URL": dk.AGENT_URL, "SELFDISCOVER_TIMEOUT": "20"}

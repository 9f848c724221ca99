"""container.id from inside a real container: the official ECS detector against
selfdiscover's, both run in the container on the same fake TMDE v4.

The fake agent runs in the container itself (``--network none``: loopback
only) and knows the container by the ID Docker assigned, as the real agent
does. With the host's cgroup namespace both detectors find that ID; with a
private one (the default under cgroup v2) every /proc/self/cgroup path is
``/`` and the official detector's ID is empty.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from importlib.metadata import distribution
from pathlib import Path

import dockerkit as dk
import pytest

pytestmark = pytest.mark.docker

# The SDK, the official detector and what they import, copied from this
# environment into the container (pure Python; the base image has neither).
DISTRIBUTIONS = (
    "opentelemetry-api",
    "opentelemetry-sdk",
    "opentelemetry-semantic-conventions",
    "opentelemetry-sdk-extension-aws",
    "typing-extensions",
)

PROBE = """
import json, os, socket, sys, time
sys.path.insert(0, "/src/tests")
import otelkit
from opentelemetry.sdk.extension.aws.resource.ecs import AwsEcsResourceDetector
from selfdiscover.otel import SelfdiscoverResourceDetector

deadline = time.monotonic() + 30
while not os.path.exists("/in/cid") and time.monotonic() < deadline:
    time.sleep(0.02)
tmde = otelkit.sample()
tmde.container["DockerId"] = open("/in/cid").read().strip()
with tmde.agent:
    os.environ["ECS_CONTAINER_METADATA_URI_V4"] = tmde.uri
    official = dict(AwsEcsResourceDetector(raise_on_error=True).detect().attributes)
    ours = dict(SelfdiscoverResourceDetector(raise_on_error=True).detect().attributes)
print(json.dumps({
    "cgroup": open("/proc/self/cgroup").read(),
    "hostname": socket.gethostname(),
    "official": official,
    "ours": ours,
}))
"""


@pytest.fixture(scope="module")
def otel_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("otel-packages")
    for name in DISTRIBUTIONS:
        dist = distribution(name)
        for f in dist.files or ():
            src = Path(str(dist.locate_file(f)))
            if src.is_file() and "__pycache__" not in f.parts and f.parts[0] != "..":
                dest = out / f
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest)
    return out


@pytest.fixture
def own_containers(base_image: str) -> Iterator[dk.Containers]:
    c = dk.Containers()
    try:
        yield c
    finally:
        c.remove_all()


@pytest.mark.parametrize("cgroupns", ["host", "private"])
def test_container_id_official_and_ours(
    own_containers: dk.Containers, otel_packages: Path, tmp_path: Path, cgroupns: str
) -> None:
    cid = own_containers.start(
        dk.BASE_IMAGE,
        "python3",
        "-c",
        PROBE,
        network="none",
        env={"PYTHONPATH": "/src:/otel"},
        volumes=[f"{dk.ROOT}:/src:ro", f"{otel_packages}:/otel:ro", f"{tmp_path}:/in"],
        options=[f"--cgroupns={cgroupns}"],
    )
    (tmp_path / "cid.tmp").write_text(cid)
    os.replace(tmp_path / "cid.tmp", tmp_path / "cid")  # the agent learns the ID from Docker, atomically
    code = own_containers.wait(cid)
    out, err = own_containers.logs(cid)
    assert code == 0, err
    got = json.loads(out)
    official, ours = got["official"], got["ours"]
    assert ours["container.id"] == cid
    assert ours["container.name"] == "app"
    assert official["container.name"] == got["hostname"] == cid[:12]  # the hostname, not the name
    if cgroupns == "host":
        assert cid in got["cgroup"]
        assert official["container.id"] == cid
    else:
        assert all(line.endswith(":/") for line in got["cgroup"].splitlines()), got["cgroup"]
        assert official["container.id"] == ""
    assert official["aws.ecs.task.arn"] == ours["aws.ecs.task.arn"]

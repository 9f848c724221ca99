"""The container ID selfdiscover reads from inside equals the one Docker assigned."""

from __future__ import annotations

import json

import dockerkit as dk
import pytest

pytestmark = pytest.mark.docker

PROBE = """
import json, selfdiscover
cgroup = open("/proc/self/cgroup").read()
print(json.dumps({"id": selfdiscover.container_id(), "cgroup": cgroup}))
"""


@pytest.mark.parametrize("cgroupns", ["host", "private"])
def test_container_id_matches_dockers(containers: dk.Containers, cgroupns: str) -> None:
    """host: the ID is in /proc/self/cgroup. private: every cgroup path is "/",
    so the ID can only come from /proc/self/mountinfo (the container's own
    hostname/hosts/resolv.conf bind mounts: hence --network none, no holder)."""
    r = containers.run(
        dk.SHIM_IMAGE,
        "-c",
        PROBE,
        network="none",
        entrypoint="python3",
        options=[f"--cgroupns={cgroupns}"],
    )
    assert r.exit_code == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["id"] == r.id
    if cgroupns == "host":
        assert r.id in got["cgroup"]
    else:
        assert r.id not in got["cgroup"]

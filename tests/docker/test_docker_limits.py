"""How big am I, in real containers on this machine's Docker engine: what Docker enforces
(``--cpus``, ``--cpuset-cpus``, ``--memory``, ``--cpu-shares``) and the ECS shape, where the task's CPU
quota sits on a parent cgroup (``--cgroup-parent``) that the container cannot see, so only the task
metadata (as the shim exports it) knows it."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import dockerkit as dk
import pytest

pytestmark = pytest.mark.docker

MIB = 1024 * 1024
# What the container reports: effective_limits() as the library computes it, and Python's own counts.
REPORT = (
    "import json, os, selfdiscover\n"
    "e = selfdiscover.effective_limits()\n"
    "print(json.dumps({'cpu': e.cpu, 'count': e.cpu_count, 'memory': e.memory,\n"
    "                  'cpu_source': e.cpu_source, 'os_cpu_count': os.cpu_count()}))\n"
)


def report(containers: dk.Containers, *options: str, env: dict[str, str] | None = None) -> dict[str, object]:
    r = containers.run(
        dk.LIBRARY_IMAGE, "-c", REPORT, network="none", entrypoint="python3", options=options, env=env
    )
    assert r.exit_code == 0, r.stderr
    out: dict[str, object] = json.loads(r.stdout)
    return out


def test_cpus_is_a_hard_limit(containers: dk.Containers) -> None:
    got = report(containers, "--cpus", "0.5")
    assert (got["cpu"], got["count"]) == (0.5, 1)
    assert got["os_cpu_count"] == os.cpu_count()  # what Python alone believes


def test_cpuset_lowers_the_count_not_the_limit(containers: dk.Containers) -> None:
    got = report(containers, "--cpuset-cpus", "0")
    assert (got["cpu"], got["count"]) == (None, 1)


def test_memory_is_a_hard_limit(containers: dk.Containers) -> None:
    got = report(containers, "--memory", "256m")
    assert got["memory"] == 256 * MIB


def test_cpu_shares_are_never_a_limit(containers: dk.Containers) -> None:
    got = report(containers, "--cpu-shares", "256")
    assert got["cpu"] is None
    assert got["count"] == len(os.sched_getaffinity(0))


@pytest.fixture
def task_cgroup() -> Iterator[str]:
    """A parent cgroup like the agent's task cgroup (``/ecs/<task-id>`` on v1), with a CFS quota of
    0.5 vCPU, made directly under the cgroup root (the engine's cgroupfs driver takes it as
    ``--cgroup-parent``); removed after."""
    root = Path("/sys/fs/cgroup")
    name = f"selfdiscover-test-{secrets.token_hex(6)}"
    v1 = next((root / c for c in ("cpu,cpuacct", "cpu") if (root / c / "cpu.cfs_quota_us").is_file()), None)
    path = (v1 if v1 is not None else root) / name
    path.mkdir()
    try:
        if v1 is not None:
            (path / "cpu.cfs_period_us").write_text("100000")
            (path / "cpu.cfs_quota_us").write_text("50000")
        else:  # cgroup v2: the cpu controller must be on for the children
            (path / "cpu.max").write_text("50000 100000")
        yield f"/{name}"
    finally:
        path.rmdir()  # empty once the container is gone (the test removes it first)


def test_the_ecs_task_quota_is_invisible_inside_and_the_task_metadata_fills_it(
    containers: dk.Containers, task_cgroup: str
) -> None:
    kernel_only = report(containers, "--cgroup-parent", task_cgroup)
    with_task = report(containers, "--cgroup-parent", task_cgroup, env={"ECS_TASK_CPU": "512"})
    containers.remove_all()  # the parent cgroup can go only when its containers have
    # The quota is enforced on the parent, yet the container's own cgroup shows none...
    assert kernel_only["cpu"] is None
    assert kernel_only["count"] == len(os.sched_getaffinity(0))
    # ...so only the task's Limits.CPU, as the shim exports it (ECS_TASK_CPU, CPU units), tells.
    assert (with_task["cpu"], with_task["count"], with_task["cpu_source"]) == (0.5, 1, "$ECS_TASK_CPU")

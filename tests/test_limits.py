"""The kernel side of "how big am I": cgroup parsers and the walk over fake /proc and /sys trees.

Trees are built under ``tmp_path``: ``proc/self/{cgroup,mountinfo}`` plus files below ``sys/``, which is
passed as ``sys_root`` so the mount points in the fake mountinfo land inside the test directory.
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfdiscover._limits import (
    MAX_LEVELS,
    CgroupMount,
    CgroupPaths,
    KernelLimits,
    cpu_count,
    kernel_limits,
    parse_cfs,
    parse_cgroup_mounts,
    parse_cgroup_paths,
    parse_cpu_max,
    parse_memory_max,
)

TASK = "0123456789abcdef0123456789abcdef"
CID = "a" * 64
LONG_MAX_4K = "9223372036854771712"
GIB = 1024**3

V2 = "/sys/fs/cgroup"
V1_CPU = "/sys/fs/cgroup/cpu,cpuacct"
V1_MEM = "/sys/fs/cgroup/memory"


def v2_mount(root: str = "/", point: str = V2) -> str:
    return f"30 23 0:26 {root} {point} rw,nosuid,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"


def v1_mounts(root: str = "/") -> str:
    return (
        f"31 23 0:28 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs ro,mode=755\n"
        f"32 31 0:29 {root} {V1_CPU} rw,nosuid - cgroup cgroup rw,cpu,cpuacct\n"
        f"33 31 0:30 {root} /sys/fs/cgroup/cpuset rw,nosuid - cgroup cgroup rw,cpuset\n"
        f"34 31 0:31 {root} {V1_MEM} rw,nosuid - cgroup cgroup rw,memory\n"
        f"35 31 0:32 {root} /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd\n"
    )


def tree(tmp_path: Path, cgroup: str, mountinfo: str, files: dict[str, str | bytes]) -> tuple[str, str]:
    """(proc_root, sys_root) for a fake machine; ``files`` keys are paths as the container sees them."""
    proc = tmp_path / "proc" / "self"
    proc.mkdir(parents=True)
    (proc / "cgroup").write_text(cgroup)
    (proc / "mountinfo").write_text(mountinfo)
    sys_root = tmp_path / "sys-root"
    for name, content in files.items():
        path = sys_root / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    (sys_root / V2.lstrip("/")).mkdir(parents=True, exist_ok=True)
    return str(tmp_path / "proc"), str(sys_root)


def limits(tmp_path: Path, cgroup: str, mountinfo: str, files: dict[str, str | bytes]) -> KernelLimits:
    return kernel_limits(*tree(tmp_path, cgroup, mountinfo, files))


def rel(result_path: str | None, tmp_path: Path) -> str | None:
    """A source path as the container would name it."""
    prefix = str(tmp_path / "sys-root")
    assert result_path is None or result_path.startswith(prefix)
    return None if result_path is None else result_path[len(prefix) :]


# --- parsers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("50000 100000\n", 0.5),
        ("25000 100000", 0.25),
        ("150000 100000\n", 1.5),
        ("400000 100000\n", 4.0),
        ("max 100000\n", None),
        ("max\n", None),
        ("50000 0\n", None),
        ("-50000 100000\n", None),
        ("0 100000\n", None),
        ("50000\n", None),
        ("fifty 100000\n", None),
        ("5\x0000 100000\n", None),
        ("50000 100000 7\n", None),
        ("٥٠٠٠٠ 100000\n", None),  # Arabic-Indic digits: int() would take them, the kernel never writes them
        ("5_0000 100000\n", None),
        ("", None),
        ("50000 100000" + " " * 100, None),  # longer than any real cpu.max
    ],
)
def test_parse_cpu_max(text: str, expected: float | None) -> None:
    assert parse_cpu_max(text) == expected


@pytest.mark.parametrize(
    ("quota", "period", "expected"),
    [
        ("50000\n", "100000\n", 0.5),
        ("200000", "100000", 2.0),
        ("-1\n", "100000\n", None),
        ("-1\n", "", None),  # no quota: the period does not matter
        ("50000", "0", None),
        ("50000", "", None),
        ("0", "100000", None),
        ("50000", "-100000", None),
        ("lots", "100000", None),
        ("50000", "1e5", None),
    ],
)
def test_parse_cfs(quota: str, period: str, expected: float | None) -> None:
    assert parse_cfs(quota, period) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("536870912\n", 512 * 1024 * 1024),
        ("max\n", None),
        (LONG_MAX_4K + "\n", None),  # v1 "no limit" with 4 KiB pages
        ("9223372036854710272\n", None),  # the same with 64 KiB pages (arm64)
        (str(2**62), None),
        (str(2**62 - 1), 2**62 - 1),
        ("0\n", None),
        ("-1\n", None),
        ("1G\n", None),
        ("", None),
        ("99999999999999999999999", None),  # more digits than any u64
    ],
)
def test_parse_memory_max(text: str, expected: int | None) -> None:
    assert parse_memory_max(text) == expected


def test_parse_cgroup_paths_v2_v1_and_hybrid() -> None:
    assert parse_cgroup_paths("0::/ecs/x\n") == CgroupPaths("/ecs/x", None, None)
    v1 = "12:memory:/ecs/t/c\n5:cpu,cpuacct:/ecs/t/c\n3:cpuset:/other\n1:name=systemd:/s\n"
    assert parse_cgroup_paths(v1) == CgroupPaths(None, "/ecs/t/c", "/ecs/t/c")
    assert parse_cgroup_paths(v1 + "0::/u\n") == CgroupPaths("/u", "/ecs/t/c", "/ecs/t/c")
    # cpuacct and cpuset are not cpu; a colon inside the path stays part of the path.
    assert parse_cgroup_paths("4:cpuacct:/a\n3:cpuset:/b\n2:cpu:/c:d\n") == CgroupPaths(None, "/c:d", None)
    assert parse_cgroup_paths("x:cpu:/a\n4:memory:\n::/b\ngarbage\n") == CgroupPaths(None, None, None)
    assert parse_cgroup_paths("2:cpu:/first\n3:cpu:/second\n").cpu == "/first"


def test_parse_cgroup_mounts() -> None:
    text = v1_mounts() + v2_mount(point="/sys/fs/cgroup/unified") + "40 1 0:5 / /proc rw - proc proc rw\n"
    assert parse_cgroup_mounts(text) == (
        CgroupMount(1, frozenset({"cpu"}), "/", V1_CPU),
        CgroupMount(1, frozenset({"memory"}), "/", V1_MEM),
        CgroupMount(2, frozenset(), "/", "/sys/fs/cgroup/unified"),
    )
    # Optional fields vary in number; escapes in the mount point are undone.
    spaced = "30 23 0:26 /a\\040b /sys/fs/my\\040cg rw shared:4 master:1 - cgroup2 none rw\n"
    assert parse_cgroup_mounts(spaced) == (CgroupMount(2, frozenset(), "/a b", "/sys/fs/my cg"),)
    assert parse_cgroup_mounts("30 23 0:26 / /x rw - cgroup\n30 23 / /y - cgroup2 x rw\n") == ()


# --- the walk -------------------------------------------------------------------------------------------


def test_v2_leaf_cpu_max(tmp_path: Path) -> None:
    leaf = f"/system.slice/docker-{CID}.scope"
    got = limits(
        tmp_path,
        f"0::{leaf}\n",
        v2_mount(),
        {f"{V2}{leaf}/cpu.max": "50000 100000\n", f"{V2}{leaf}/memory.max": "max\n"},
    )
    assert (got.cpu, rel(got.cpu_source, tmp_path)) == (0.5, f"{V2}{leaf}/cpu.max")
    assert (got.memory, got.memory_source) == (None, None)
    assert got.notes == ()


def test_v2_ecs_task_slice_ancestor_only(tmp_path: Path) -> None:
    """Host cgroup namespace: the quota is on ecstasks-<task>.slice, the container's scope has none."""
    task = f"/ecstasks.slice/ecstasks-{TASK}.slice"
    leaf = f"{task}/docker-{CID}.scope"
    got = limits(
        tmp_path,
        f"0::{leaf}\n",
        v2_mount(),
        {
            f"{V2}{leaf}/cpu.max": "max 100000\n",
            f"{V2}{leaf}/memory.max": "max\n",
            f"{V2}{task}/cpu.max": "25000 100000\n",
            f"{V2}{task}/memory.max": f"{512 * 1024 * 1024}\n",
            f"{V2}/ecstasks.slice/cpu.max": "max 100000\n",
        },
    )
    assert (got.cpu, rel(got.cpu_source, tmp_path)) == (0.25, f"{V2}{task}/cpu.max")
    assert (got.memory, rel(got.memory_source, tmp_path)) == (512 * 1024 * 1024, f"{V2}{task}/memory.max")


@pytest.mark.parametrize("mount_root", ["/", f"/ecstasks.slice/ecstasks-{TASK}.slice/docker-{CID}.scope"])
def test_private_namespace_sees_only_the_leaf(tmp_path: Path, mount_root: str) -> None:
    """cgroup path "/" : the mount point is our own cgroup, whatever root the mount reports."""
    got = limits(
        tmp_path,
        "0::/\n",
        v2_mount(root=mount_root),
        {f"{V2}/cpu.max": "200000 100000\n", "/sys/fs/cpu.max": "10000 100000\n"},
    )
    assert (got.cpu, rel(got.cpu_source, tmp_path)) == (2.0, f"{V2}/cpu.max")
    assert any("only cgroup level visible" in note for note in got.notes)


def test_v1_ecs_parent_quota_leaf_unlimited(tmp_path: Path) -> None:
    """The measured v1 case: /ecs/<task> has the quota, the container's own cgroup says -1."""
    task, leaf = f"/ecs/{TASK}", f"/ecs/{TASK}/{CID}"
    got = limits(
        tmp_path,
        f"11:memory:{leaf}\n4:cpu,cpuacct:{leaf}\n2:cpuset:{leaf}\n1:name=systemd:{leaf}\n",
        v1_mounts(),
        {
            f"{V1_CPU}{leaf}/cpu.cfs_quota_us": "-1\n",
            f"{V1_CPU}{leaf}/cpu.cfs_period_us": "100000\n",
            f"{V1_CPU}{task}/cpu.cfs_quota_us": "50000\n",
            f"{V1_CPU}{task}/cpu.cfs_period_us": "100000\n",
            f"{V1_CPU}/ecs/cpu.cfs_quota_us": "-1\n",
            f"{V1_MEM}{leaf}/memory.limit_in_bytes": LONG_MAX_4K + "\n",
            f"{V1_MEM}{task}/memory.limit_in_bytes": f"{GIB}\n",
            f"{V1_MEM}/memory.limit_in_bytes": LONG_MAX_4K + "\n",
        },
    )
    assert (got.cpu, rel(got.cpu_source, tmp_path)) == (0.5, f"{V1_CPU}{task}/cpu.cfs_quota_us")
    assert (got.memory, rel(got.memory_source, tmp_path)) == (GIB, f"{V1_MEM}{task}/memory.limit_in_bytes")
    assert got.notes == ()


def test_v1_memory_long_max_everywhere_is_no_limit(tmp_path: Path) -> None:
    leaf = f"/docker/{CID}"
    got = limits(
        tmp_path,
        f"4:memory:{leaf}\n",
        v1_mounts(),
        {
            f"{V1_MEM}{leaf}/memory.limit_in_bytes": LONG_MAX_4K,
            f"{V1_MEM}/memory.limit_in_bytes": LONG_MAX_4K,
        },
    )
    assert (got.memory, got.memory_source) == (None, None)
    assert any("cpu: no cgroup listed" in note for note in got.notes)


def test_hybrid_reads_limits_from_v1(tmp_path: Path) -> None:
    """cpu is bound to v1, so a cpu.max in the unified tree is not ours; memory is on no v1 line here,
    so it comes from v2."""
    leaf = f"/docker/{CID}"
    unified = "/sys/fs/cgroup/unified"
    got = limits(
        tmp_path,
        f"4:cpu,cpuacct:{leaf}\n1:name=systemd:{leaf}\n0::{leaf}\n",
        v1_mounts() + v2_mount(point=unified),
        {
            f"{V1_CPU}{leaf}/cpu.cfs_quota_us": "200000\n",
            f"{V1_CPU}{leaf}/cpu.cfs_period_us": "100000\n",
            f"{unified}{leaf}/cpu.max": "10000 100000\n",
            f"{unified}{leaf}/memory.max": f"{GIB}\n",
            f"{V1_MEM}{leaf}/memory.limit_in_bytes": "4096\n",
        },
    )
    assert (got.cpu, rel(got.cpu_source, tmp_path)) == (2.0, f"{V1_CPU}{leaf}/cpu.cfs_quota_us")
    assert (got.memory, rel(got.memory_source, tmp_path)) == (GIB, f"{unified}{leaf}/memory.max")


def test_v1_line_without_its_mount_does_not_fall_back_to_v2(tmp_path: Path) -> None:
    leaf = f"/docker/{CID}"
    got = limits(tmp_path, f"4:cpu:{leaf}\n0::{leaf}\n", v2_mount(), {f"{V2}{leaf}/cpu.max": "10000 100000"})
    assert got.cpu is None
    assert any("no cgroup v1 mount" in note for note in got.notes)


def test_minimum_across_levels(tmp_path: Path) -> None:
    a, b, c = "/a.slice", "/a.slice/b.slice", "/a.slice/b.slice/c.scope"
    got = limits(
        tmp_path,
        f"0::{c}\n",
        v2_mount(),
        {
            f"{V2}{a}/cpu.max": "200000 100000\n",
            f"{V2}{b}/cpu.max": "50000 100000\n",
            f"{V2}{c}/cpu.max": "100000 100000\n",
            f"{V2}{a}/memory.max": f"{GIB}\n",
            f"{V2}{b}/memory.max": f"{4 * GIB}\n",
            f"{V2}{c}/memory.max": f"{2 * GIB}\n",
        },
    )
    assert (got.cpu, rel(got.cpu_source, tmp_path)) == (0.5, f"{V2}{b}/cpu.max")
    assert (got.memory, rel(got.memory_source, tmp_path)) == (GIB, f"{V2}{a}/memory.max")


def test_equal_limits_name_the_leaf_most_file(tmp_path: Path) -> None:
    a, b = "/a.slice", "/a.slice/b.scope"
    files: dict[str, str | bytes] = {f"{V2}{a}/cpu.max": "50000 100000", f"{V2}{b}/cpu.max": "50000 100000"}
    got = limits(tmp_path, f"0::{b}\n", v2_mount(), files)
    assert rel(got.cpu_source, tmp_path) == f"{V2}{b}/cpu.max"


HOSTILE: list[tuple[str, str | bytes, bool]] = [  # (case, cpu.max content, noted as unreadable/garbage)
    ("huge", b"50000 100000\n" * 1000, True),
    ("huge one line", b"5" * (1 << 20), True),
    ("binary", b"\x00\xff\xfe50000\x00 100000\n", True),
    ("max", "max 100000\n", False),
    ("negative", "-5000 100000\n", True),
    ("zero period", "50000 0\n", True),
    ("not numbers", "half a cpu\n", True),
    ("empty", "", True),
]


@pytest.mark.parametrize(("case", "content", "noted"), HOSTILE, ids=[case for case, _, _ in HOSTILE])
def test_hostile_leaf_falls_through_to_ancestor(
    tmp_path: Path, case: str, content: str | bytes, noted: bool
) -> None:
    parent, leaf = "/task.slice", "/task.slice/c.scope"
    files: dict[str, str | bytes] = {
        f"{V2}{leaf}/cpu.max": content,
        f"{V2}{parent}/cpu.max": "150000 100000\n",
    }
    got = limits(tmp_path, f"0::{leaf}\n", v2_mount(), files)
    assert (got.cpu, rel(got.cpu_source, tmp_path)) == (1.5, f"{V2}{parent}/cpu.max"), case
    assert any(f"{leaf}/cpu.max" in note for note in got.notes) is noted


def run_briefly(proc_root: str, sys_root: str) -> KernelLimits:
    """kernel_limits in a thread, failing the test instead of hanging it if a read blocks."""
    results: list[KernelLimits] = []
    worker = threading.Thread(target=lambda: results.append(kernel_limits(proc_root, sys_root)), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "kernel_limits blocked"
    return results[0]


def test_fifo_limit_file_does_not_block(tmp_path: Path) -> None:
    leaf = "/c.scope"
    proc_root, sys_root = tree(tmp_path, f"0::{leaf}\n", v2_mount(), {f"{V2}/cpu.max": "100000 100000\n"})
    os.mkdir(f"{sys_root}{V2}{leaf}")
    os.mkfifo(f"{sys_root}{V2}{leaf}/cpu.max")
    os.mkfifo(f"{sys_root}{V2}{leaf}/memory.max")
    got = run_briefly(proc_root, sys_root)
    assert got.cpu == 1.0
    assert any("cpu.max: not a regular file" in note for note in got.notes)
    assert any("memory.max: not a regular file" in note for note in got.notes)


def test_fifo_in_place_of_proc_self_cgroup_does_not_block(tmp_path: Path) -> None:
    proc_root, sys_root = tree(tmp_path, "", v2_mount(), {})
    os.unlink(f"{proc_root}/self/cgroup")
    os.mkfifo(f"{proc_root}/self/cgroup")
    got = run_briefly(proc_root, sys_root)
    assert (got.cpu, got.memory) == (None, None)
    assert any("cgroup: not a regular file" in note for note in got.notes)


def test_directory_in_place_of_limit_file(tmp_path: Path) -> None:
    """The root-proof way to make a limit file unreadable."""
    files: dict[str, str | bytes] = {f"{V2}/c.scope/cpu.max/x": "", f"{V2}/cpu.max": "300000 100000"}
    got = limits(tmp_path, "0::/c.scope\n", v2_mount(), files)
    assert (got.cpu, rel(got.cpu_source, tmp_path)) == (3.0, f"{V2}/cpu.max")
    assert any("/c.scope/cpu.max: not a regular file" in note for note in got.notes)


def test_chmod_000_limit_file(tmp_path: Path) -> None:
    """Unreadable without privileges; as root (CAP_DAC_OVERRIDE) chmod stops nothing, and the honest
    answer is that the file is then read like any other."""
    proc_root, sys_root = tree(
        tmp_path, "0::/c.scope\n", v2_mount(), {f"{V2}/c.scope/cpu.max": "50000 100000"}
    )
    path = f"{sys_root}{V2}/c.scope/cpu.max"
    os.chmod(path, 0)
    try:
        got = kernel_limits(proc_root, sys_root)
        if os.access(path, os.R_OK):
            assert got.cpu == 0.5
        else:
            assert got.cpu is None
            assert any("c.scope/cpu.max: Permission denied" in note for note in got.notes)
    finally:
        os.chmod(path, 0o644)


def test_walk_stops_at_the_mount_point(tmp_path: Path) -> None:
    """A lower quota just above the mount point (outside cgroupfs) must not be read."""
    leaf = "/a/b"
    files: dict[str, str | bytes] = {"/sys/fs/cpu.max": "1000 100000", f"{V2}{leaf}/cpu.max": "max 100000"}
    got = limits(tmp_path, f"0::{leaf}\n", v2_mount(), files)
    assert (got.cpu, got.cpu_source) == (None, None)


@pytest.mark.parametrize("path", ["/../..", "/a/../../..", "/a/..", "a/b", "/a/\x00/b"])
def test_hostile_cgroup_path_is_refused(tmp_path: Path, path: str) -> None:
    files: dict[str, str | bytes] = {
        "/sys/fs/cpu.max": "1000 100000",
        "/cpu.max": "1000 100000",
        "/a/cpu.max": "1",
    }
    got = limits(tmp_path, f"0::{path}\n", v2_mount(), files)
    assert (got.cpu, got.cpu_source) == (None, None)
    assert any("cpu: refused cgroup path" in note for note in got.notes)


def test_symlink_out_of_the_mount_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "cpu.max").write_text("1000 100000\n")
    proc_root, sys_root = tree(tmp_path, "0::/a/evil\n", v2_mount(), {f"{V2}/a/cpu.max": "100000 100000"})
    os.symlink(outside, f"{sys_root}{V2}/a/evil")
    got = kernel_limits(proc_root, sys_root)
    assert (got.cpu, rel(got.cpu_source, tmp_path)) == (1.0, f"{V2}/a/cpu.max")
    assert any("resolves outside the cgroup mount" in note for note in got.notes)


def test_symlink_loop_is_survived(tmp_path: Path) -> None:
    proc_root, sys_root = tree(tmp_path, "0::/a/loop\n", v2_mount(), {f"{V2}/a/cpu.max": "100000 100000"})
    os.symlink("loop", f"{sys_root}{V2}/a/loop")
    got = run_briefly(proc_root, sys_root)
    assert (got.cpu, rel(got.cpu_source, tmp_path)) == (1.0, f"{V2}/a/cpu.max")
    assert any("/a/loop/cpu.max: Too many levels of symbolic links" in note for note in got.notes)


def test_cgroup_path_outside_the_mount_root(tmp_path: Path) -> None:
    got = limits(tmp_path, "0::/other/c\n", v2_mount(root="/ecs/t/c"), {f"{V2}/cpu.max": "1000 100000"})
    assert got.cpu is None
    assert any("no cgroup v2 mount in self/mountinfo shows '/other/c'" in note for note in got.notes)


def test_mount_root_below_slash_maps_the_rest_of_the_path(tmp_path: Path) -> None:
    """A bind mount of /ecs shows /ecs/<task>/<id> at <mount>/<task>/<id>."""
    leaf = f"/ecs/{TASK}/{CID}"
    files: dict[str, str | bytes] = {
        f"{V2}/{TASK}/cpu.max": "50000 100000",
        f"{V2}/{TASK}/{CID}/cpu.max": "max 1",
    }
    got = limits(tmp_path, f"0::{leaf}\n", v2_mount(root="/ecs"), files)
    assert (got.cpu, rel(got.cpu_source, tmp_path)) == (0.5, f"{V2}/{TASK}/cpu.max")


def test_the_walk_is_bounded(tmp_path: Path) -> None:
    deep = "".join(f"/l{i}" for i in range(MAX_LEVELS + 8))
    files: dict[str, str | bytes] = {
        f"{V2}/cpu.max": "1000 100000",  # beyond the bound: not read
        f"{V2}{deep}/cpu.max": "300000 100000",
    }
    got = limits(tmp_path, f"0::{deep}\n", v2_mount(), files)
    assert (got.cpu, rel(got.cpu_source, tmp_path)) == (3.0, f"{V2}{deep}/cpu.max")
    assert any(f"read only the lowest {MAX_LEVELS}" in note for note in got.notes)


def test_missing_proc_files(tmp_path: Path) -> None:
    got = kernel_limits(str(tmp_path / "nowhere"), str(tmp_path))
    assert (got.cpu, got.memory) == (None, None)
    assert any("self/cgroup: No such file" in note for note in got.notes)
    assert any("self/mountinfo: No such file" in note for note in got.notes)
    assert got.affinity >= 1


def test_missing_mount_point_directory(tmp_path: Path) -> None:
    got = limits(tmp_path, "0::/\n", v2_mount(point="/sys/fs/elsewhere"), {})
    assert got.cpu is None
    assert any("/sys/fs/elsewhere' is not a directory" in note for note in got.notes)


# --- cpu_count -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("affinity", "limit", "expected"),
    [
        (4, 0.5, 1),
        (4, 1.5, 2),
        (4, 2.0, 2),
        (4, 0.01, 1),
        (4, None, 4),
        (2, 8.0, 2),
        (0, None, 1),
        (-3, 0.5, 1),
        (4, math.nan, 4),
        (4, math.inf, 4),
        (4, -1.0, 4),
    ],
)
def test_cpu_count(affinity: int, limit: float | None, expected: int) -> None:
    assert cpu_count(affinity, limit) == expected


# --- properties ------------------------------------------------------------------------------------------


@given(st.text(max_size=300), st.text(max_size=300))
def test_parsers_never_raise(first: str, second: str) -> None:
    cpu = parse_cpu_max(first)
    assert cpu is None or cpu > 0
    cfs = parse_cfs(first, second)
    assert cfs is None or cfs > 0
    memory = parse_memory_max(first)
    assert memory is None or 0 < memory < 2**62
    assert isinstance(parse_cgroup_paths(first + "\n" + second), CgroupPaths)
    assert all(m.version in (1, 2) for m in parse_cgroup_mounts(first + " - " + second))


@given(st.integers(min_value=-5, max_value=4096), st.none() | st.floats())
def test_cpu_count_stays_within_affinity(affinity: int, limit: float | None) -> None:
    assert 1 <= cpu_count(affinity, limit) <= max(1, affinity)


# --- this machine ----------------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no sched_getaffinity on this platform")
def test_this_machine() -> None:
    got = kernel_limits()
    assert got.affinity == len(os.sched_getaffinity(0))
    assert got.cpu is None or got.cpu > 0
    assert got.memory is None or got.memory > 0
    assert (got.cpu is None) is (got.cpu_source is None)
    assert (got.memory is None) is (got.memory_source is None)
    assert all(isinstance(note, str) and note for note in got.notes)

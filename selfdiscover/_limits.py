"""How big is this container, as the kernel enforces it: the cgroup CPU quota and memory limit.

ECS puts the task's limits on the *task* cgroup (``/ecs/<task>`` on v1, ``ecstasks-<task>.slice`` on v2) and
the container's own cgroup usually shows none, which is why leaf-only readers (automaxprocs, Go) report no
limit on ECS. Like the JVM and libuv we read the leaf and every ancestor visible under the mount and take the
lowest. Under a private cgroup namespace the ancestors are invisible: then only the task metadata knows the
task's limit, so this is one of two halves and says so in ``notes`` rather than guessing.

Every file here is hostile input: reads are bounded and non-blocking (``_files``), paths from
``/proc/self/cgroup`` with ``..`` are refused and every file read must resolve inside the mount.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from ._containerid import (
    CGROUP_MAX_BYTES,
    MOUNTINFO_MAX_BYTES,
    MOUNTINFO_MAX_LINES,
    _bounded_lines,
    _unescape,
)
from ._files import read_capped
from ._model._fields import CPU_UNITS_PER_VCPU, MIB

if TYPE_CHECKING:
    from ._model import TaskInfo

__all__ = [
    "CgroupMount",
    "CgroupPaths",
    "EffectiveLimits",
    "KernelLimits",
    "combine",
    "cpu_count",
    "effective_limits",
    "kernel_limits",
    "parse_cfs",
    "parse_cgroup_mounts",
    "parse_cgroup_paths",
    "parse_cpu_max",
    "parse_memory_max",
]

LIMIT_MAX_BYTES = 4096
MAX_LEVELS = 32  # directories read per controller, leaf first; real ECS trees are 3-4 deep
_MAX_PATH = 4096  # PATH_MAX: a longer cgroup path cannot be real
_MAX_VALUE_CHARS = 64  # no limit file holds more; parsers refuse longer text before any other work

# v1 reports "no limit" as LONG_MAX rounded down to the page size, which differs by page size (4 KiB:
# 9223372036854771712, 64 KiB: 9223372036854710272). Anything from 4 EiB up is no machine's memory, so one
# threshold far below every rounding covers all of them; v2 takes the same rule for an explicit huge value.
_NO_MEMORY_LIMIT = 2**62

_CPU_MAX = re.compile(r"(max|[0-9]{1,19}) ([0-9]{1,19})")
_SIGNED = re.compile(r"-?[0-9]{1,19}")
_UNSIGNED = re.compile(r"[0-9]{1,20}")

_T = TypeVar("_T", int, float)


@dataclass(frozen=True, slots=True)
class CgroupPaths:
    """The process's cgroup per hierarchy, from ``/proc/self/cgroup``; None where not listed."""

    unified: str | None  # v2 ("0::<path>")
    cpu: str | None  # the v1 hierarchy holding the cpu controller
    memory: str | None  # the v1 hierarchy holding the memory controller


@dataclass(frozen=True, slots=True)
class CgroupMount:
    """One cgroup filesystem mount: ``root`` is the cgroup shown at ``mount_point``."""

    version: int  # 1 or 2
    controllers: frozenset[str]  # v1: which of cpu/memory it carries; v2: empty (the file names tell)
    root: str
    mount_point: str


@dataclass(frozen=True, slots=True)
class KernelLimits:
    """Limits the kernel enforces on this process; None means none found, not "none exists".

    ``*_source`` is the file that gave the (lowest) value (on v1 the quota file); ``notes`` say what
    could not be read and why, for ``doctor``. ``affinity`` is the CPUs the scheduler lets us run on.
    """

    cpu: float | None
    cpu_source: str | None
    memory: int | None
    memory_source: str | None
    affinity: int
    notes: tuple[str, ...]


# --- pure parsers: each internal one returns (value, well_formed) so the walk can report garbage ----------


def _cpu_max(text: str) -> tuple[float | None, bool]:
    match = _CPU_MAX.fullmatch(text.strip()) if len(text) <= _MAX_VALUE_CHARS else None
    if match is None or int(match.group(2)) == 0:
        return None, False
    if match.group(1) == "max":
        return None, True
    quota = int(match.group(1))
    return (quota / int(match.group(2)), True) if quota > 0 else (None, False)


def _cfs(quota_text: str, period_text: str) -> tuple[float | None, bool]:
    quota = quota_text.strip() if len(quota_text) <= _MAX_VALUE_CHARS else ""
    if not _SIGNED.fullmatch(quota):
        return None, False
    if quota.startswith("-"):  # the kernel stores any negative as "no quota" and shows -1
        return None, True
    period = period_text.strip() if len(period_text) <= _MAX_VALUE_CHARS else ""
    if not _UNSIGNED.fullmatch(period) or int(period) == 0 or int(quota) == 0:
        return None, False
    return int(quota) / int(period), True


def _memory(text: str) -> tuple[int | None, bool]:
    value = text.strip() if len(text) <= _MAX_VALUE_CHARS else ""
    if value == "max":
        return None, True
    if not _UNSIGNED.fullmatch(value) or int(value) == 0:
        return None, False
    return (int(value), True) if int(value) < _NO_MEMORY_LIMIT else (None, True)


def parse_cpu_max(text: str) -> float | None:
    """vCPUs from a v2 ``cpu.max`` (``"50000 100000"`` -> 0.5); None for ``max`` and anything malformed."""
    return _cpu_max(text)[0]


def parse_cfs(quota_text: str, period_text: str) -> float | None:
    """vCPUs from v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``; None for -1 and anything malformed."""
    return _cfs(quota_text, period_text)[0]


def parse_memory_max(text: str) -> int | None:
    """Bytes from v2 ``memory.max`` or v1 ``memory.limit_in_bytes``; None for the no-limit sentinels,
    0 and anything malformed."""
    return _memory(text)[0]


def parse_cgroup_paths(text: str) -> CgroupPaths:
    """The v2 path and the v1 cpu/memory paths; the first line naming each wins."""
    found: dict[str, str] = {}
    for raw in _bounded_lines(text, CGROUP_MAX_BYTES):
        fields = raw.strip().split(":", 2)
        if len(fields) != 3 or not (fields[0].isascii() and fields[0].isdigit()) or not fields[2]:
            continue
        hierarchy, controllers, path = fields
        names = ["unified"] if hierarchy == "0" and not controllers else controllers.split(",")
        for name in names:
            if name in ("unified", "cpu", "memory"):
                found.setdefault(name, path)
    return CgroupPaths(found.get("unified"), found.get("cpu"), found.get("memory"))


def parse_cgroup_mounts(text: str) -> tuple[CgroupMount, ...]:
    """Every cgroup2 mount and every v1 mount carrying cpu or memory, in file order.

    The fs type and super options follow the " - " separator; optional fields make positions before
    it variable except the first six.
    """
    mounts: list[CgroupMount] = []
    for line in _bounded_lines(text, MOUNTINFO_MAX_BYTES, MOUNTINFO_MAX_LINES):
        left, sep, right = line.partition(" - ")
        fields = left.split(" ", 5)
        tail = right.strip().split(" ", 2)
        if not sep or len(fields) < 6 or len(tail) < 2:
            continue
        root, mount_point = _unescape(fields[3]), _unescape(fields[4])
        if tail[0] == "cgroup2":
            mounts.append(CgroupMount(2, frozenset(), root, mount_point))
        elif tail[0] == "cgroup" and len(tail) == 3:
            controllers = frozenset(tail[2].split(",")) & {"cpu", "memory"}
            if controllers:
                mounts.append(CgroupMount(1, controllers, root, mount_point))
    return tuple(mounts)


def _parts(path: str) -> list[str] | None:
    """Path components, or None for anything that is not a plain absolute path: ``..`` could climb out
    of the mount, and a NUL would make ``os`` raise."""
    if not path.startswith("/") or len(path) > _MAX_PATH or "\0" in path:
        return None
    parts = [part for part in path.split("/") if part and part != "."]
    return None if ".." in parts else parts


def _relative(path: str, root: str) -> list[str] | None:
    """``path`` below the mount's ``root``, or None when the mount does not show it.

    A path of ``/`` is the root of our own cgroup namespace, so the mount point is our own cgroup
    whatever the root says: runc bind-mounts the container's host directory there (root = its host
    path) or mounts the namespace root (root = ``/``). Either way nothing above is visible.
    """
    parts, root_parts = _parts(path), _parts(root)
    if parts is None or root_parts is None:
        return None
    if not parts:
        return []
    return parts[len(root_parts) :] if parts[: len(root_parts)] == root_parts else None


def _plan(controller: str, paths: CgroupPaths, mounts: Sequence[CgroupMount]) -> tuple[int, str, list[str]]:
    """(version, mount point, path components below it), or raises ValueError saying why not.

    Hybrid hosts list both hierarchies; the kernel binds a controller to one hierarchy at a time, so a
    v1 line naming the controller means its limits are in v1 and the v2 tree has no such files. No
    fallback to v2 then: it could only hold stale or planted files.
    """
    v1 = paths.cpu if controller == "cpu" else paths.memory
    version, path = (1, v1) if v1 is not None else (2, paths.unified)
    if path is None:
        raise ValueError(f"{controller}: no cgroup listed for it in self/cgroup")
    if _parts(path) is None:
        raise ValueError(f"{controller}: refused cgroup path {path[:200]!r} (not absolute, '..' or too long)")
    best: tuple[CgroupMount, list[str]] | None = None
    for mount in mounts:
        if mount.version != version or (version == 1 and controller not in mount.controllers):
            continue
        rel = _relative(path, mount.root)
        if rel is None or _parts(mount.mount_point) is None:
            continue
        if best is None or len(rel) > len(best[1]):  # the shortest root shows the most ancestors
            best = (mount, rel)
    if best is None:
        raise ValueError(f"{controller}: no cgroup v{version} mount in self/mountinfo shows {path[:200]!r}")
    return version, best[0].mount_point, best[1]


# --- the walk ---------------------------------------------------------------------------------------


def _inside(path: str, top: str) -> bool:
    try:
        real = os.path.realpath(path)
    except (OSError, ValueError):
        return False
    return real == top or real.startswith(top.rstrip("/") + "/")


def _read_value(path: str, top: str) -> tuple[str | None, str | None]:
    """(text, note). A missing file is normal (most levels carry no limit) and gets no note."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None, None
    except (OSError, ValueError) as exc:  # ELOOP, EACCES on a directory, ...
        return None, f"{path}: {getattr(exc, 'strerror', None) or type(exc).__name__}"
    if not _inside(path, top):
        return None, f"{path}: resolves outside the cgroup mount, not read"
    text, note = read_capped(path, LIMIT_MAX_BYTES)
    if text is None or note:  # a limit file cut by the cap is no limit file
        return None, f"{path}{note}" if text is not None else note
    return text, None


_Reader = Callable[[str, str], tuple[_T | None, str, str | None]]


def _one_file(name: str, parse: Callable[[str], tuple[_T | None, bool]]) -> _Reader[_T]:
    def read(directory: str, top: str) -> tuple[_T | None, str, str | None]:
        path = f"{directory}/{name}"
        text, note = _read_value(path, top)
        if text is None:
            return None, path, note
        value, ok = parse(text)
        return value, path, None if ok else f"{path}: unexpected content {text[:40]!r}"

    return read


def _v1_cpu(directory: str, top: str) -> tuple[float | None, str, str | None]:
    path = f"{directory}/cpu.cfs_quota_us"
    quota, note = _read_value(path, top)
    if quota is None:
        return None, path, note
    period, period_note = _read_value(f"{directory}/cpu.cfs_period_us", top)
    value, ok = _cfs(quota, period or "")
    if ok:
        return value, path, None
    bad = f"{path}: unexpected quota {quota[:40]!r} or period {(period or '')[:40]!r}"
    return None, path, period_note or bad


def _walk(
    directories: list[str], top: str, read: _Reader[_T], notes: list[str]
) -> tuple[_T | None, str | None]:
    """The lowest value over all directories; on a tie the leaf-most file is named."""
    best: _T | None = None
    source: str | None = None
    for directory in directories:
        value, path, note = read(directory, top)
        if note:
            notes.append(note)
        if value is not None and (best is None or value < best):
            best, source = value, path
    return best, source


def _controller(
    controller: str, paths: CgroupPaths, mounts: Sequence[CgroupMount], sys_root: str, notes: list[str]
) -> tuple[list[str], str, int] | None:
    """(directories leaf first, resolved mount point, version) or None with the reason noted."""
    try:
        version, mount_point, rel = _plan(controller, paths, mounts)
    except ValueError as exc:
        notes.append(str(exc))
        return None
    top = sys_root.rstrip("/") + mount_point.rstrip("/")
    if not os.path.isdir(top or "/"):
        notes.append(f"{controller}: cgroup mount point {top!r} is not a directory here")
        return None
    if len(rel) >= MAX_LEVELS:
        notes.append(f"{controller}: cgroup {len(rel)} levels deep, read only the lowest {MAX_LEVELS}")
    depths = range(len(rel), max(-1, len(rel) - MAX_LEVELS), -1)
    directories = ["/".join([top, *rel[:depth]]) for depth in depths]
    if len(directories) == 1:
        notes.append(f"{controller}: {top!r} is the only cgroup level visible; limits above it are unseen")
    return directories, os.path.realpath(top or "/"), version


def kernel_limits(proc_root: str = "/proc", sys_root: str = "") -> KernelLimits:
    """CPU quota (vCPUs) and memory limit (bytes) over this process's cgroup and its visible ancestors.

    ``sys_root`` is prepended to the mount points found in mountinfo so tests can build a fake tree.
    Never raises and never guesses: what could not be read is in ``notes``.
    """
    notes: list[str] = []
    paths = CgroupPaths(None, None, None)
    mounts: tuple[CgroupMount, ...] = ()
    text, note = read_capped(os.path.join(proc_root, "self", "cgroup"), CGROUP_MAX_BYTES)
    if text is None:
        notes.append(note)
    else:
        paths = parse_cgroup_paths(text)
    text, note = read_capped(os.path.join(proc_root, "self", "mountinfo"), MOUNTINFO_MAX_BYTES)
    if text is None:
        notes.append(note)
    else:
        mounts = parse_cgroup_mounts(text)

    cpu: float | None = None
    memory: int | None = None
    cpu_source = memory_source = None
    plan = _controller("cpu", paths, mounts, sys_root, notes)
    if plan is not None:
        directories, top, version = plan
        cpu_reader = _v1_cpu if version == 1 else _one_file("cpu.max", _cpu_max)
        cpu, cpu_source = _walk(directories, top, cpu_reader, notes)
    plan = _controller("memory", paths, mounts, sys_root, notes)
    if plan is not None:
        directories, top, version = plan
        name = "memory.limit_in_bytes" if version == 1 else "memory.max"
        memory, memory_source = _walk(directories, top, _one_file(name, _memory), notes)
    return KernelLimits(cpu, cpu_source, memory, memory_source, _affinity(), tuple(notes))


def _affinity() -> int:
    if hasattr(os, "sched_getaffinity"):
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except OSError:
            pass
    return os.cpu_count() or 1


def cpu_count(affinity: int, cpu_limit: float | None) -> int:
    """CPUs worth running in parallel: affinity lowered to ceil(limit), at least 1.

    Ceil as the JVM and Go do: a 0.5 vCPU task still needs one worker, and 1.5 vCPUs keep two busy.
    """
    count = max(1, affinity)
    if cpu_limit is not None and math.isfinite(cpu_limit) and cpu_limit > 0:
        count = min(count, math.ceil(cpu_limit))
    return max(1, count)


# --- the task's side, and the answer ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EffectiveLimits:
    """How big this container is: the smallest limit that applies, wherever it is set.

    ``cpu`` is the hard CPU limit in vCPUs (None: nothing limits), ``cpu_count`` the CPUs worth running
    in parallel, ``memory`` the hard memory limit in bytes (None: nothing limits). ``cpu_source`` and
    ``memory_source`` say where each came from (a cgroup file, or a task metadata field); ``notes`` what
    could not be read.
    """

    cpu: float | None
    cpu_count: int
    memory: int | None
    cpu_source: str | None = None
    memory_source: str | None = None
    notes: tuple[str, ...] = ()


# The task definition's hard limits, as TaskInfo fields (CPU units, MiB), the task metadata field each
# came from, and whether it describes the whole task. Container CPU (shares) and ``memoryReservation``
# (soft) are never limits.
_TASK_LIMITS = (
    ("task_cpu", "task Limits.CPU", True),
    ("task_memory", "task Limits.Memory", True),
    ("container_memory", "container Limits.Memory", False),
)


def _task_figures(
    info: TaskInfo | None, environ: Mapping[str, str], prefix: str
) -> dict[str, tuple[int, str]]:
    """``{field: (value, source)}`` from ``info``, else from the variables the shim exported: only the
    task-wide ones there, since the file an init container wrote names the init container's own
    memory (a container's own memory limit is on its own cgroup, which it always sees)."""
    out: dict[str, tuple[int, str]] = {}
    for name, label, task_wide in _TASK_LIMITS:
        if info is not None:
            value = getattr(info, name)
            source = f"{label} (task metadata)"
        elif not task_wide:
            continue
        else:
            text = environ.get(prefix + name.upper(), "").strip()
            value = int(text) if _UNSIGNED.fullmatch(text) else None
            source = f"${prefix}{name.upper()}"
        if value:
            out[name] = (value, source)
    return out


def effective_limits(
    info: TaskInfo | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    prefix: str = "ECS_",
    proc_root: str = "/proc",
    sys_root: str = "",
) -> EffectiveLimits:
    """The smallest of the kernel's limits and the ECS task's.

    With ``info`` (a ``TaskInfo``) its task CPU, task memory and container memory count; without one,
    the task's figures as ``selfdiscover exec`` or ``write`` exported them (``ECS_TASK_CPU``,
    ``ECS_TASK_MEMORY``), if present; else the kernel's alone. ECS puts a task's CPU limit on the
    task's cgroup, which a container with a private cgroup namespace cannot see, so only the task
    metadata knows it. Never makes a request and never raises.
    """
    env = os.environ if environ is None else environ
    return combine(kernel_limits(proc_root, sys_root), info, env, prefix)


def combine(
    kernel: KernelLimits, info: TaskInfo | None, environ: Mapping[str, str], prefix: str = "ECS_"
) -> EffectiveLimits:
    """``effective_limits()`` from limits already read: the pure half, for a caller that
    also reports the kernel's own figures (``doctor``) and should read them once."""
    cpu, cpu_source = kernel.cpu, kernel.cpu_source
    memory, memory_source = kernel.memory, kernel.memory_source
    task = _task_figures(info, environ, prefix)
    if "task_cpu" in task:
        units, source = task["task_cpu"]
        if cpu is None or units / CPU_UNITS_PER_VCPU < cpu:
            cpu, cpu_source = units / CPU_UNITS_PER_VCPU, source
    for name in ("task_memory", "container_memory"):
        if name in task:
            mib, source = task[name]
            if memory is None or mib * MIB < memory:
                memory, memory_source = mib * MIB, source
    count = cpu_count(kernel.affinity, cpu)
    return EffectiveLimits(cpu, count, memory, cpu_source, memory_source, kernel.notes)

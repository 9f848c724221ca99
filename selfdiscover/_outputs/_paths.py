"""Where the default env file lives, and which copy of it a reader may believe.

The shim writes ``/run/selfdiscover/ecs.env``, or ``$TMPDIR/selfdiscover/ecs.env``
when the root filesystem is read-only. ``SELFDISCOVER_RUN_DIR`` moves the first
and ``TMPDIR`` the second, for writer and readers alike, so nothing (a test
included) has to touch the machine's own ``/run`` or ``/tmp``.

Readers (log enrichment in ``docker exec`` and ECS Exec sessions, which never
pass through the ENTRYPOINT) believe only what the shim could have written:
a real directory and a regular file, neither a symlink, owned by the reader,
by root or by PID 1's user (the shim's), and writable by nobody else. Of what
is left they prefer the newest file, and drop one older than PID 1: a file
baked into the image, or left by another task, predates this container.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass

from .._errors import EnvFileError

# The env-file dialects, by the reader each one is written for (see envfile).
DIALECTS = ("docker", "shell", "dotenv", "systemd", "json")
RUN_DIR_ENV = "SELFDISCOVER_RUN_DIR"
DEFAULT_RUN_DIR = "/run/selfdiscover"
BASENAME = "ecs.env"
DEFAULT_ENV_FILE = f"{DEFAULT_RUN_DIR}/{BASENAME}"
FALLBACK_DIR = "selfdiscover"  # under $TMPDIR

_MAX_BYTES = 1024 * 1024
# PID 1's start time is known to a clock tick, boot time only to the second,
# and a file's mtime lags the clock by up to a tick: a file the shim wrote can
# look up to a second older than PID 1, never more.
_SLACK = 1.0


def split_spec(spec: str) -> tuple[str | None, str]:
    """``PATH`` or ``DIALECT:PATH`` (e.g. ``shell:/run/ecs.sh``) -> (dialect or None, path)."""
    head, sep, tail = spec.partition(":")
    if sep and head in DIALECTS and tail:
        return head, tail
    return None, spec


def default_env_paths(environ: Mapping[str, str]) -> list[str]:
    """The default env file, then its fallback for a read-only root filesystem."""
    run_dir = environ.get(RUN_DIR_ENV) or DEFAULT_RUN_DIR
    tmp = environ.get("TMPDIR") or "/tmp"
    return [os.path.join(run_dir, BASENAME), os.path.join(tmp, FALLBACK_DIR, BASENAME)]


def _dir_problem(path: str, owners: frozenset[int]) -> str | None:
    """Why a directory cannot be trusted, or None. Missing is a problem too."""
    try:
        st = os.lstat(path)
    except OSError as e:
        return f"{path}: {e.strerror or e}"
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symbolic link, not a directory"
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a directory"
    return _owner_problem(path, st, owners)


def _owner_problem(path: str, st: os.stat_result, owners: frozenset[int]) -> str | None:
    if st.st_uid not in owners:
        allowed = ", ".join(f"uid {u}" for u in sorted(owners))
        return f"{path} is owned by uid {st.st_uid}, not by {allowed}"
    if st.st_mode & 0o022:
        return f"{path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def own_dir(path: str) -> None:
    """Create ``path`` or accept it only if it is a real directory we own that
    nobody else can write: in a shared /tmp somebody may have planted it.
    Raises ``EnvFileError`` saying which of those it is not."""
    try:
        os.makedirs(path, mode=0o755, exist_ok=True)
    except FileExistsError:
        pass  # a file or a dangling symlink there: said precisely below
    except OSError as e:
        raise EnvFileError(f"cannot create {path}: {e.strerror or e}", reason=e.strerror or str(e)) from e
    problem = _dir_problem(path, frozenset({os.geteuid()}))
    if problem is not None:
        raise EnvFileError(problem, reason=problem)


# --- PID 1's start time -----------------------------------------------------------


def parse_start_time(pid_stat: str, proc_stat: str, ticks_per_second: int) -> float | None:
    """PID 1's start as a Unix time, from ``/proc/1/stat`` and ``/proc/stat`` text.

    ``comm`` (field 2) may hold spaces and parentheses, so fields are counted
    from the last ``)``; ``starttime`` is field 22, in clock ticks since boot,
    and ``btime`` in ``/proc/stat`` is the boot time. None when either is not
    what the kernel writes.
    """
    _, paren, rest = pid_stat.rpartition(")")
    fields = rest.split()
    if not paren or len(fields) < 20 or not fields[19].isdigit() or len(fields[19]) > 20:
        return None
    boot = None
    for line in proc_stat.splitlines():
        key, _, value = line.partition(" ")
        if key == "btime" and value.strip().isdigit() and len(value.strip()) <= 20:
            boot = int(value.strip())
            break
    if boot is None or ticks_per_second <= 0:
        return None
    return boot + int(fields[19]) / ticks_per_second


def pid1_start(proc_root: str = "/proc") -> float | None:
    from .._files import read_bounded

    pid_stat = read_bounded(os.path.join(proc_root, "1", "stat"), 4096)
    proc_stat = read_bounded(os.path.join(proc_root, "stat"), 1024 * 1024)
    if pid_stat is None or proc_stat is None:
        return None
    return parse_start_time(pid_stat, proc_stat, os.sysconf("SC_CLK_TCK"))


def _trusted_owners(proc_root: str) -> frozenset[int]:
    owners = {0, os.geteuid()}
    # /proc/<pid> belongs to the process's effective uid: the shim's, once it has exec'd.
    with contextlib.suppress(OSError):
        owners.add(os.stat(os.path.join(proc_root, "1")).st_uid)
    return frozenset(owners)


# --- reading the default file -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Found:
    path: str
    text: str
    mtime: float


def _read_trusted(path: str, owners: frozenset[int]) -> Found | str | None:
    """The file if a writer could have made it, a reason if not, None if absent."""
    if not os.path.lexists(os.path.dirname(path)):
        return None
    problem = _dir_problem(os.path.dirname(path), owners)
    if problem is not None:
        return problem
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as e:
        if os.path.islink(path):
            return f"{path} is a symbolic link, not a file"
        return f"{path}: {e.strerror or e}"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return f"{path} is not a regular file"
        problem = _owner_problem(path, st, owners)
        if problem is not None:
            return problem
        data = os.read(fd, _MAX_BYTES + 1)
    except OSError as e:
        return f"{path}: {e.strerror or e}"
    finally:
        os.close(fd)
    if len(data) > _MAX_BYTES:
        return f"{path} is larger than {_MAX_BYTES} bytes"
    return Found(path, data.decode("utf-8", "replace"), st.st_mtime)


def read_defaults(environ: Mapping[str, str], proc_root: str = "/proc") -> tuple[list[Found], list[str]]:
    """The default files a reader may believe, best first, and why others were not.

    Best is newest; with PID 1's start time known, a file older than it is left
    out (it cannot be this container's).
    """
    owners = _trusted_owners(proc_root)
    found: list[Found] = []
    notes: list[str] = []
    for path in default_env_paths(environ):
        got = _read_trusted(path, owners)
        if isinstance(got, Found):
            found.append(got)
        elif got is not None:
            notes.append(f"ignored {got}")
    start = pid1_start(proc_root)
    if start is not None:
        for f in found:
            if f.mtime < start - _SLACK:
                age = start - f.mtime
                notes.append(f"ignored {f.path}: written {age:.0f}s before this container started")
        found = [f for f in found if f.mtime >= start - _SLACK]
    found.sort(key=lambda f: f.mtime, reverse=True)
    return found, notes

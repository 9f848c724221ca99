"""Env-file readers believe only what the shim could have written, and error
messages say where and why, once.

Every test here redirects the default locations (``SELFDISCOVER_RUN_DIR``,
``TMPDIR``) and ``/proc`` into a directory it made: PID 1's start time comes
from a planted ``proc/1/stat`` and ``proc/stat``, so "older than this
container" is decided by the test, not by the machine's uptime.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from shimrun import EX_CANTCREAT, sd

from selfdiscover import _tags
from selfdiscover._errors import EnvFileError
from selfdiscover._outputs import _paths
from selfdiscover.testing import FakeAgent, random_docker_id

ARN = "arn:aws:ecs:us-west-2:111122223333:task/prod/{}"
PID1_AGE = 600.0  # the planted PID 1 started this long ago
OTHER_UID = 4242

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="planting a file owned by another uid needs root")


@dataclass
class Root:
    """A redirected filesystem root: both default locations and a /proc."""

    base: Path
    run_dir: Path
    tmp: Path
    proc: Path
    pid1_start: float

    @property
    def env(self) -> dict[str, str]:
        return {"SELFDISCOVER_RUN_DIR": str(self.run_dir), "TMPDIR": str(self.tmp)}

    @property
    def run_file(self) -> Path:
        return self.run_dir / "ecs.env"

    @property
    def tmp_file(self) -> Path:
        return self.tmp / "selfdiscover" / "ecs.env"


def plant_proc(proc: Path, started: float) -> None:
    """/proc/1/stat and /proc/stat saying PID 1 started at ``started``."""
    hz = os.sysconf("SC_CLK_TCK")
    boot = int(started) - 1000
    ticks = round((started - boot) * hz)
    (proc / "1").mkdir(parents=True)
    # comm with a space and a ')' : fields must be counted from the last ')'
    fields = ["S", "0", "1", "1"] + ["0"] * 15 + [str(ticks), "0"]
    (proc / "1" / "stat").write_text("1 (my app) x) " + " ".join(fields) + "\n")
    (proc / "stat").write_text(f"cpu  1 2 3 4\nbtime {boot}\nprocesses 9\n")


@pytest.fixture
def root(tmp_path: Path) -> Root:
    started = time.time() - PID1_AGE
    r = Root(tmp_path, tmp_path / "run" / "selfdiscover", tmp_path / "tmp", tmp_path / "proc", started)
    r.run_dir.mkdir(parents=True)
    (r.tmp / "selfdiscover").mkdir(parents=True)
    plant_proc(r.proc, started)
    return r


def write_env(path: Path, family: str, *, mtime: float | None = None) -> str:
    task = os.urandom(16).hex()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# written by selfdiscover\nECS_TASK_ARN={ARN.format(task)}\nECS_TASK_FAMILY={family}\n")
    path.chmod(0o644)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return task


def resolve(root: Root, **kw: str) -> dict[str, str] | None:
    return _tags.resolve(environ={**root.env, **kw}, proc_root=str(root.proc))


def explained(root: Root) -> tuple[dict[str, str] | None, list[str]]:
    return _tags.resolve_explained(environ=root.env, proc_root=str(root.proc))


# --- PID 1's start time ------------------------------------------------------------


def test_pid1_start_is_read_from_the_planted_proc(root: Root) -> None:
    got = _paths.pid1_start(str(root.proc))
    assert got is not None
    assert abs(got - root.pid1_start) < 0.05


@pytest.mark.parametrize(
    ("pid_stat", "proc_stat"),
    [
        ("", "btime 100\n"),
        ("1 (sh) S 0", "btime 100\n"),  # too few fields
        ("1 (sh) " + " ".join(["0"] * 19) + " 12x 0", "btime 100\n"),  # starttime not a number
        ("1 (sh) " + " ".join(["0"] * 21), "cpu 1\n"),  # no btime
        ("1 (sh) " + " ".join(["0"] * 21), "btime -5\n"),
        ("1 sh " + " ".join(["0"] * 21), "btime 100\n"),  # no ')' at all
    ],
)
def test_malformed_proc_text_gives_no_start_time(pid_stat: str, proc_stat: str) -> None:
    assert _paths.parse_start_time(pid_stat, proc_stat, 100) is None


def test_start_time_counts_fields_from_the_last_paren() -> None:
    fields = ["R"] + ["7"] * 18 + ["250", "9"]  # field 22 = 250 ticks
    text = "1 (a) (b) c) " + " ".join(fields)
    assert _paths.parse_start_time(text, "btime 1000\n", 100) == 1002.5


# --- which file a reader believes ----------------------------------------------------


def test_default_paths_are_exactly_the_redirected_ones(root: Root) -> None:
    assert _paths.default_env_paths(root.env) == [str(root.run_file), str(root.tmp_file)]
    assert _paths.default_env_paths({}) == ["/run/selfdiscover/ecs.env", "/tmp/selfdiscover/ecs.env"]


def test_a_named_file_means_exactly_that_file(root: Root) -> None:
    write_env(root.run_file, "planted-run")
    write_env(root.tmp_file, "planted-tmp")
    named = root.base / "named.env"
    write_env(named, "named")
    assert (resolve(root, SELFDISCOVER_ENV_FILE=str(named)) or {})["TASK_FAMILY"] == "named"
    got = _tags.resolve(env_file=str(named), environ=root.env, proc_root=str(root.proc))
    assert (got or {})["TASK_FAMILY"] == "named"
    missing = str(root.base / "missing.env")
    assert resolve(root, SELFDISCOVER_ENV_FILE=missing) is None  # not the defaults instead
    assert _tags.resolve(env_file=missing, environ=root.env, proc_root=str(root.proc)) is None
    assert (resolve(root) or {})["TASK_FAMILY"] in ("planted-run", "planted-tmp")  # the defaults are live


def test_the_newest_trusted_default_wins(root: Root) -> None:
    now = time.time()
    write_env(root.run_file, "run", mtime=now - 20)
    write_env(root.tmp_file, "tmp", mtime=now - 10)
    assert (resolve(root) or {})["TASK_FAMILY"] == "tmp"
    os.utime(root.run_file, (now - 5, now - 5))
    assert (resolve(root) or {})["TASK_FAMILY"] == "run"


def test_a_file_older_than_pid1_is_not_this_containers(root: Root) -> None:
    """Read-only root with an old /run file baked into the image: the shim wrote
    the $TMPDIR fallback, and that is the one readers take."""
    write_env(root.run_file, "baked-into-the-image", mtime=root.pid1_start - 3600)
    write_env(root.tmp_file, "this-container")
    assert (resolve(root) or {})["TASK_FAMILY"] == "this-container"
    root.tmp_file.unlink()
    found, notes = explained(root)
    assert found is None
    assert notes == [f"ignored {root.run_file}: written 3600s before this container started"]


def test_without_pid1_start_the_newest_still_wins(root: Root) -> None:
    (root.proc / "stat").unlink()  # e.g. /proc not readable: no freshness rule, newest first
    write_env(root.run_file, "old", mtime=root.pid1_start - 3600)
    write_env(root.tmp_file, "new")
    assert (resolve(root) or {})["TASK_FAMILY"] == "new"
    root.tmp_file.unlink()
    assert (resolve(root) or {})["TASK_FAMILY"] == "old"


def _fifo(p: Path) -> None:
    os.mkfifo(p)


def _directory(p: Path) -> None:
    p.mkdir()


def _symlink_to_a_file(p: Path) -> None:
    target = p.parent.parent / f"target-of-{p.parent.name}.env"
    write_env(target, "through-a-symlink")
    p.symlink_to(target)


def _world_writable_file(p: Path) -> None:
    write_env(p, "world-writable")
    p.chmod(0o666)


def _other_uids_file(p: Path) -> None:
    write_env(p, "other-uid")
    os.chown(p, OTHER_UID, OTHER_UID)


def _dir_is_a_symlink(p: Path) -> None:
    real = p.parent.parent / f"elsewhere-{p.parent.name}"
    write_env(real / "ecs.env", "through-a-dir-symlink")
    p.parent.rmdir()
    p.parent.symlink_to(real, target_is_directory=True)


def _group_writable_dir(p: Path) -> None:
    write_env(p, "group-writable-dir")
    p.parent.chmod(0o775)


def _other_uids_dir(p: Path) -> None:
    write_env(p, "other-uid-dir")
    os.chown(p.parent, OTHER_UID, OTHER_UID)


def _large_file(p: Path) -> None:
    write_env(p, "large")
    with p.open("a") as f:
        f.write("# " + "x" * (1024 * 1024) + "\n")


HOSTILE = {
    "fifo": (_fifo, "is not a regular file"),
    "directory": (_directory, "is not a regular file"),
    "symlink": (_symlink_to_a_file, "is a symbolic link, not a file"),
    "world-writable-file": (_world_writable_file, "is writable by group or others (mode 0666)"),
    "other-uid-file": (_other_uids_file, f"is owned by uid {OTHER_UID}"),
    "dir-is-symlink": (_dir_is_a_symlink, "is a symbolic link, not a directory"),
    "group-writable-dir": (_group_writable_dir, "is writable by group or others (mode 0775)"),
    "other-uid-dir": (_other_uids_dir, f"is owned by uid {OTHER_UID}"),
    "large": (_large_file, "is larger than 1048576 bytes"),
}
ROOT_ONLY = {"other-uid-file", "other-uid-dir"}


@pytest.mark.parametrize("where", ["run", "tmp"])
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_leftovers_are_never_believed(root: Root, kind: str, where: str) -> None:
    if kind in ROOT_ONLY and os.geteuid() != 0:
        pytest.skip("planting a file owned by another uid needs root")
    plant, reason = HOSTILE[kind]
    bad, good = (root.run_file, root.tmp_file) if where == "run" else (root.tmp_file, root.run_file)
    plant(bad)
    t0 = time.monotonic()
    found, notes = explained(root)
    assert time.monotonic() - t0 < 1.0  # a FIFO without a writer does not hang the reader
    assert found is None
    assert len(notes) == 1 and reason in notes[0], notes
    where_named = bad if kind not in ("dir-is-symlink", "group-writable-dir", "other-uid-dir") else bad.parent
    assert notes[0].startswith(f"ignored {where_named}")
    write_env(good, "good")
    assert (resolve(root) or {})["TASK_FAMILY"] == "good"


@needs_root
def test_files_of_pid1s_user_are_believed(root: Root) -> None:
    """The shim may run as the app's user while an exec session is root."""
    write_env(root.run_file, "pid1-user")
    os.chown(root.run_file, OTHER_UID, OTHER_UID)
    assert resolve(root) is None
    os.chown(root.proc / "1", OTHER_UID, OTHER_UID)
    assert (resolve(root) or {})["TASK_FAMILY"] == "pid1-user"


def test_exported_variables_still_come_first(root: Root) -> None:
    write_env(root.run_file, "file")
    got = resolve(root, ECS_TASK_ARN=ARN.format("0" * 32), ECS_TASK_FAMILY="exported")
    assert (got or {})["TASK_FAMILY"] == "exported"


def test_load_warns_once_naming_every_location_and_reason(
    root: Root, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from selfdiscover import logging as sdlog

    _symlink_to_a_file(root.run_file)
    os.mkfifo(root.tmp_file)
    for k, v in root.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("SELFDISCOVER_ENV_FILE", raising=False)
    _tags.set_identity(None)
    with caplog.at_level(logging.WARNING, logger="selfdiscover"):
        assert sdlog.load() == {}
    (record,) = caplog.records
    msg = record.getMessage()
    assert f"{root.run_file} is a symbolic link, not a file" in msg
    assert f"{root.tmp_file} is not a regular file" in msg
    assert "through-a-symlink" not in msg


# --- the writer: say where and why, once -------------------------------------------


@pytest.fixture
def shim_env(clean_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The shim pointed at a fake agent that knows one task for its container."""
    with FakeAgent() as agent:
        did = random_docker_id()
        agent.add_container_task(did, "web", 7, "app")
        yield {**clean_env, "SELFDISCOVER_AGENT_URL": agent.url, "SELFDISCOVER_DOCKER_ID": did}


def test_an_unwritable_named_file_is_reported_once(
    shim: list[str], shim_env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "no-such-dir" / "ecs.env"
    proc = sd(shim, ["exec", "--env-file", str(target), "--", "true"], shim_env)
    assert proc.returncode == EX_CANTCREAT
    assert proc.stderr == f"selfdiscover: error: cannot write env file {target}: No such file or directory\n"


def test_default_write_names_every_location_and_the_real_reason(
    shim: list[str], shim_env: dict[str, str], root: Root
) -> None:
    """A planted symlink is a planted symlink, not "read-only filesystem?"."""
    elsewhere = root.base / "elsewhere"
    elsewhere.mkdir()
    root.run_dir.rmdir()
    root.run_dir.symlink_to(elsewhere, target_is_directory=True)
    (root.tmp / "selfdiscover").chmod(0o777)
    marker = root.base / "cmd-ran"
    proc = sd(shim, ["exec", "--", "touch", str(marker)], {**shim_env, **root.env})
    assert proc.returncode == 0, proc.stderr
    assert marker.exists()  # a default never stops the container
    assert proc.stderr == (
        "selfdiscover: default env file not written: "
        f"{root.run_file}: {root.run_dir} is a symbolic link, not a directory; "
        f"{root.tmp_file}: {root.tmp / 'selfdiscover'} is writable by group or others (mode 0777)\n"
    )
    assert list(elsewhere.iterdir()) == []  # never written through the link


def test_own_dir_says_what_is_wrong(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(EnvFileError, match=r"is not a directory$"):
        _paths.own_dir(str(f))
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(EnvFileError, match=r"is a symbolic link, not a directory$"):
        _paths.own_dir(str(tmp_path / "dangling"))
    _paths.own_dir(str(tmp_path / "new" / "dir"))
    assert (tmp_path / "new" / "dir").is_dir()


def test_an_exec_session_reads_what_the_shim_wrote_not_a_forged_file(
    shim: list[str], shim_env: dict[str, str], root: Root, clean_env: dict[str, str]
) -> None:
    """The shim refuses a $TMPDIR/selfdiscover made by somebody else and writes
    /run; a later session (no exported variables) believes the same thing."""
    forged_dir = root.tmp / "selfdiscover"
    write_env(forged_dir / "ecs.env", "forged")
    forged_dir.chmod(0o777)
    proc = sd(shim, ["exec", "--", "true"], {**shim_env, **root.env})
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert "ECS_TASK_FAMILY=web" in root.run_file.read_text()
    reader = "import json, selfdiscover.logging as l; print(json.dumps(l.load()))"
    session = sd([sys.executable], ["-c", reader], {**clean_env, **root.env})
    assert session.returncode == 0, session.stderr
    assert '"TASK_FAMILY": "web"' in session.stdout
    os.utime(root.run_file, (root.pid1_start - 60, root.pid1_start - 60))
    assert resolve(root) is None  # and against the planted PID 1, that file would be stale

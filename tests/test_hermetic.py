"""The suite cannot be fooled by what the machine left at the default locations.

Three layers: the suite itself runs with every default env-file location
redirected into a directory of its own (tests/suite.py); a subprocess
reader given a redirected root reads exactly that root; and, in a private
mount namespace whose /run and /tmp hold hostile leftovers at the real default
paths (a file with other values, a FIFO, a directory, a symlink), the tests of
every env-file reader still pass, while a probe without the redirect shows the
leftovers are there to be found.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from namespaces import unshare_missing

from selfdiscover._outputs._paths import RUN_DIR_ENV, default_env_paths

ROOT = Path(__file__).resolve().parents[1]
REDIRECTS = (RUN_DIR_ENV, "TMPDIR")  # what tests/suite.py points into the suite's own directory

ARN = "arn:aws:ecs:us-west-2:111122223333:task/forged/{}"
TASK_ID = "0123456789abcdef0123456789abcdef"


def env_text(family: str) -> str:
    return (
        f"ECS_TASK_ARN={ARN.format(TASK_ID)}\nECS_TASK_FAMILY={family}\n"
        f"ECS_TASK_VERSION=66\nECS_TASK_ID={TASK_ID}\n"
    )


def test_the_suite_runs_with_every_default_location_redirected(clean_env: dict[str, str]) -> None:
    run_file, tmp_file = default_env_paths(os.environ)
    suite_root = os.path.dirname(os.environ["TMPDIR"])
    assert os.path.basename(suite_root).startswith("selfdiscover-suite-")
    assert run_file == os.path.join(suite_root, "run", "selfdiscover", "ecs.env")
    assert tmp_file == os.path.join(suite_root, "tmp", "selfdiscover", "ecs.env")
    assert not run_file.startswith("/run/")
    assert default_env_paths(clean_env) == [run_file, tmp_file]  # subprocesses too


def test_readers_in_the_suite_find_nothing_at_the_default_locations(clean_env: dict[str, str]) -> None:
    """In process and in a subprocess: the default readers, called as an app
    calls them, see the suite's empty directory, whatever the machine holds."""
    from selfdiscover import _tags

    assert _tags.resolve_explained() == (None, [])
    out = run_example(clean_env)
    assert "[: ] started" in out and "selfdiscover" not in out


def run_example(env: dict[str, str]) -> str:
    p = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "logging" / "text_logging.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert p.returncode == 0, p.stderr
    return p.stdout + p.stderr


def test_a_reader_subprocess_reads_exactly_the_redirected_root(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    run_dir, tmp = tmp_path / "run" / "selfdiscover", tmp_path / "tmp"
    env = {**clean_env, "SELFDISCOVER_RUN_DIR": str(run_dir), "TMPDIR": str(tmp)}
    run_dir.mkdir(parents=True)
    (run_dir / "ecs.env").write_text(env_text("redirected"))
    assert f"[redirected:66 {TASK_ID}] started" in run_example(env)
    # Hostile leftovers in the redirected root: nothing is believed, nothing hangs.
    (run_dir / "ecs.env").unlink()
    os.mkfifo(run_dir / "ecs.env")
    (tmp / "selfdiscover").mkdir(parents=True)
    (tmp_path / "forged.env").write_text(env_text("through-a-symlink"))
    (tmp / "selfdiscover" / "ecs.env").symlink_to(tmp_path / "forged.env")
    out = run_example(env)
    assert "[: ] started" in out
    assert "is not a regular file" in out and "is a symbolic link" in out  # the one warning says why
    # A named file means that file, whatever the defaults hold.
    named = tmp_path / "named.env"
    named.write_text(env_text("named"))
    assert f"[named:66 {TASK_ID}] started" in run_example({**env, "SELFDISCOVER_ENV_FILE": str(named)})


# --- the real default paths, in a private mount namespace ----------------------------


PRIVATE_MOUNTS_MISSING = unshare_missing(
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    "mount -t tmpfs -o size=64k none /tmp",
    needs="mount a private /run and /tmp",
)

# Shell that plants leftovers at the machine's default paths, then runs "$@".
PLANTS = {
    "files-with-other-values": (
        "mkdir -p /run/selfdiscover /tmp/selfdiscover\n"
        "printf '%s' \"$FORGED\" > /run/selfdiscover/ecs.env\n"
        "printf '%s' \"$FORGED\" > /tmp/selfdiscover/ecs.env\n"
    ),
    "fifo-and-symlink": (
        "mkdir -p /run/selfdiscover /tmp/selfdiscover\n"
        "mkfifo /run/selfdiscover/ecs.env\n"
        "printf '%s' \"$FORGED\" > /tmp/forged.env\n"
        "ln -s /tmp/forged.env /tmp/selfdiscover/ecs.env\n"
    ),
    "directory-and-directory-symlink": (
        "mkdir -p /run/selfdiscover/ecs.env /tmp/elsewhere\n"
        "printf '%s' \"$FORGED\" > /tmp/elsewhere/ecs.env\n"
        "ln -s /tmp/elsewhere /tmp/selfdiscover\n"
    ),
}
# What the probe (a reader without the suite's redirect) finds there.
PROBE_SEES = {
    "files-with-other-values": "forged",
    "fifo-and-symlink": None,
    "directory-and-directory-symlink": None,
}
# The tests of every env-file reader and of the shim's default location.
READER_TESTS = [
    "tests/test_logging.py",
    "tests/test_logging_examples.py",
    "tests/test_reader_trust.py",
    "tests/test_hermetic.py",
    "-k",
    "not real_default_paths",
]
PROBE = "import json, selfdiscover.logging as l; print(json.dumps(l.load()))"


def kept_under_tmp() -> list[str]:
    """What the inner run needs that may live under /tmp, which the namespace replaces: the
    checkout (CI's clean clone may be one) and the interpreter's prefixes (a virtualenv made
    there, and the Python it was made from). Each as named and as resolved; one inside
    another is kept with it."""
    wanted = (ROOT, sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)
    paths = {os.path.abspath(p) for p in wanted} | {os.path.realpath(p) for p in wanted}
    under = sorted(p for p in paths if p.startswith("/tmp/"))
    return [p for p in under if not any(p.startswith(q + "/") for q in under)]


def in_planted_namespace(
    kind: str, command: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    # What lives under /tmp and the inner run needs (kept_under_tmp) must stay visible over
    # the private /tmp: each is held under the private /run while /tmp is replaced.
    keep = list(enumerate(shlex.quote(p) for p in kept_under_tmp()))
    script = (
        "set -e\n"
        "mount -t tmpfs -o size=16m selfdiscover-hermetic /run\n"
        + "".join(f"mkdir /run/.sd-keep{i}; mount --bind {p} /run/.sd-keep{i}\n" for i, p in keep)
        + "mount -t tmpfs -o size=512m selfdiscover-hermetic /tmp\n"
        + "".join(f"mkdir -p {p}; mount --move /run/.sd-keep{i} {p}\n" for i, p in keep)
        + PLANTS[kind]
        + 'exec "$@"\n'
    )
    wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
    return subprocess.run(
        [*wrapper, *command],
        env={**env, "FORGED": env_text("forged")},
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.slow
@pytest.mark.skipif(PRIVATE_MOUNTS_MISSING is not None, reason=PRIVATE_MOUNTS_MISSING or "")
@pytest.mark.parametrize("kind", sorted(PLANTS))
def test_reader_tests_pass_with_leftovers_at_the_real_default_paths(
    kind: str, clean_env: dict[str, str]
) -> None:
    # Neither the suite's redirect nor its TMPDIR: the inner run starts from the machine's defaults.
    env = {k: v for k, v in clean_env.items() if k not in REDIRECTS}
    probe = in_planted_namespace(kind, [sys.executable, "-c", PROBE], env)
    assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout.splitlines()[-1])
    assert seen.get("TASK_FAMILY") == PROBE_SEES[kind], seen  # the leftovers are really there
    inner = in_planted_namespace(
        kind, [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *READER_TESTS], env
    )
    assert inner.returncode == 0, inner.stdout[-4000:] + inner.stderr[-2000:]
    assert " passed" in inner.stdout and " failed" not in inner.stdout

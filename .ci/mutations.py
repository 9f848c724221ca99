#!/usr/bin/env python3
"""A guard is proven by breaking the thing it guards: apply one mutation at a time to a
copy of the tree, run the tests that guard it, and require at least one of them to fail.

    python3 .ci/mutations.py              # every mutation
    python3 .ci/mutations.py trap atomic  # some of them, by name

The checkout is never edited: each mutation runs in its own temporary copy (tracked and
untracked files), imported through PYTHONPATH, so the installed console script runs the
mutant. A mutation whose text no longer appears in its file is an error, not a pass: edit
it to match the code. Prints a table (mutation, failing tests) and exits 1 if any mutant
survives.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutation:
    name: str
    what: str  # the guard, broken
    path: str
    old: str  # must occur exactly once in path
    new: str
    tests: tuple[str, ...]  # pytest arguments selecting the guarding tests


MUTATIONS = (
    Mutation(
        "watchdog",
        "the deadline watchdog in _http never starts, so only per-recv timeouts bound a response",
        "selfdiscover/sources/_http.py",
        "            watch.timer.start()\n",
        "            pass\n",
        ("tests/test_agent.py", "tests/test_hostile.py", "-k", "drip or deadline or watchdog"),
    ),
    Mutation(
        "cancel",
        "a watchdog is never cancelled once the response is read: its thread outlives the request",
        "selfdiscover/sources/_http.py",
        "        watch.timer.cancel()\n",
        "        pass\n",
        ("tests/test_agent.py", "-k", "watchdog"),
    ),
    Mutation(
        "trap",
        "trap_stop_signals() installs no handler",
        "selfdiscover/_outputs/_shim.py",
        "            signal.signal(sig, _die_on_signal)\n",
        "            pass\n",
        ("tests/test_exec.py", "-k", "signal or pid_1"),
    ),
    Mutation(
        "atomic",
        "write_atomic writes the file in place (unlink, then write) instead of renaming a temp file",
        "selfdiscover/_outputs/envfile.py",
        "        os.replace(tmp, target)\n",
        "        with contextlib.suppress(FileNotFoundError):\n"
        "            os.unlink(target)\n"
        "        with open(target, 'xb') as out:\n"
        "            out.write(payload)\n"
        "        os.chmod(target, mode)\n"
        "        os.unlink(tmp)\n",
        ("tests/test_envfile.py", "tests/test_exec.py", "-k", "atomic or torn or sigkill or concurrent"),
    ),
    Mutation(
        "nofollow",
        "the unchanged-file check follows a symlink at the target (no O_NOFOLLOW)",
        "selfdiscover/_outputs/envfile.py",
        "os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK",
        "os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK",
        ("tests/test_envfile.py", "tests/test_exec.py", "-k", "symlink"),
    ),
    Mutation(
        "follow",
        "write_atomic resolves a symlink at the target and writes through it",
        "selfdiscover/_outputs/envfile.py",
        "    target = os.fspath(path)\n",
        "    target = os.path.realpath(os.fspath(path))\n",
        ("tests/test_envfile.py", "tests/test_exec.py", "-k", "symlink"),
    ),
    Mutation(
        "deadline-answer",
        "a try the deadline cuts short replaces the server's answer (404, 500) with 'timed out'",
        "selfdiscover/sources/_retry.py",
        "    if previous is not None and previous.status is not None and err.status is None"
        " and now >= deadline:\n",
        "    if False:\n",
        ("tests/test_retry_policy.py", "-k", "cuts_short"),
    ),
    Mutation(
        "own-dir",
        "the default directory check follows a planted symlink (stat, not lstat)",
        "selfdiscover/_outputs/_paths.py",
        "        st = os.lstat(path)\n",
        "        st = os.stat(path)\n",
        ("tests/test_cli.py", "tests/test_exec.py", "-k", "default_env_file or planted"),
    ),
    Mutation(
        "own-dir-owner",
        "the default directory check accepts a directory another user owns",
        "selfdiscover/_outputs/_paths.py",
        "    if st.st_uid not in owners:\n",
        "    if False:\n",
        ("tests/test_cli.py", "tests/test_exec.py", "-k", "default_env_file or planted"),
    ),
    Mutation(
        "own-dir-mode",
        "the default directory check accepts a directory others may write",
        "selfdiscover/_outputs/_paths.py",
        "    if st.st_mode & 0o022:\n",
        "    if False:\n",
        ("tests/test_cli.py", "tests/test_exec.py", "-k", "default_env_file or planted"),
    ),
)


def tree_copy(dest: Path) -> None:
    """Tracked and untracked (not ignored) files of the checkout."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout  # fmt: skip
    for rel in filter(None, out.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def apply(tree: Path, m: Mutation) -> None:
    f = tree / m.path
    text = f.read_text()
    if text.count(m.old) != 1:
        raise SystemExit(f"mutation {m.name}: {m.old!r} occurs {text.count(m.old)} times in {m.path}")
    f.write_text(text.replace(m.old, m.new))


def failing_tests(tree: Path, m: Mutation) -> tuple[int, list[str], str]:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    p = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", "--timeout", "120", *m.tests],
        cwd=tree, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    failed = re.findall(r"^FAILED (\S+)", p.stdout, re.M)
    return p.returncode, failed, p.stdout[-2000:] + p.stderr[-2000:]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help=f"some of: {', '.join(m.name for m in MUTATIONS)}")
    args = ap.parse_args()
    unknown = set(args.names) - {m.name for m in MUTATIONS}
    if unknown:
        ap.error(f"unknown mutation(s): {', '.join(sorted(unknown))}")
    survivors = []
    for m in MUTATIONS:
        if args.names and m.name not in args.names:
            continue
        with tempfile.TemporaryDirectory(prefix=f"selfdiscover-mutant-{m.name}-") as tmp:
            tree = Path(tmp)
            tree_copy(tree)
            apply(tree, m)
            rc, failed, tail = failing_tests(tree, m)
        if rc == 1 and failed:
            print(f"== {m.name}: {m.what}\n   killed by {len(failed)} test(s):")
            for t in failed:
                print(f"     {t}")
        else:
            survivors.append(m.name)
            print(f"== {m.name}: {m.what}\n   SURVIVED (pytest exit {rc}):\n{tail}")
    if survivors:
        print(f"surviving mutants: {', '.join(survivors)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

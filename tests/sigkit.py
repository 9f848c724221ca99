"""Signals in tests: start what a test signals as a shell would, however the suite was launched,
and read a process's signal state.

A suite started with ``nohup``, or with ``&`` from a script (no job control), inherits SIGHUP,
or SIGINT and SIGQUIT, ignored, and exec keeps an ignored signal ignored. The shim rightly keeps
an inherited ignore (``test_inherited_ignored_signals_stay_ignored``), so a test that sends a
signal to a child it started with the suite's own dispositions would test its launcher, not the
code. ``DEFAULT_SIGNALS`` is a command prefix that starts the command with every signal a
launcher may leave ignored back at its default and nothing blocked: a tiny wrapper that execs,
so the PID ``Popen`` returns is the command's. (Not ``preexec_fn``: it forces fork() in a
threaded process and changes how subprocess starts every child.)
"""

from __future__ import annotations

import signal
import sys

# What a launcher leaves ignored (nohup: HUP; `&` without job control: INT and QUIT; a
# caller's choice: TERM), and what CPython ignores at its own start-up (PIPE, XFSZ).
RESET = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGPIPE, signal.SIGXFSZ)

_EXEC_WITH_DEFAULTS = (
    "import os, signal, sys\n"
    f"for sig in {tuple(int(s) for s in RESET)!r}:\n"
    "    signal.signal(sig, signal.SIG_DFL)\n"
    "signal.pthread_sigmask(signal.SIG_SETMASK, ())\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)
# ``[*DEFAULT_SIGNALS, *command]``: run command with default dispositions and an empty mask.
# -I -S: no site, no user paths, no PYTHON* variables: nothing but the few lines above.
DEFAULT_SIGNALS = [sys.executable, "-I", "-S", "-c", _EXEC_WITH_DEFAULTS]


def bits(*sigs: int) -> int:
    """The mask of ``sigs``, as /proc/PID/status writes one (bit N-1 for signal N)."""
    mask = 0
    for sig in sigs:
        mask |= 1 << (sig - 1)
    return mask


# The signals no program can set: glibc keeps 32 and 33 (below SIGRTMIN) for its threads.
# Their state says how a process was started, not what it chose: posix_spawn (subprocess on
# 3.13) leaves them ignored in the child, and a process that made a thread handles 33, which
# its exec then resets to the default.
RESERVED = bits(*(set(range(1, signal.NSIG)) - set(signal.valid_signals())))


def masks(status: str) -> dict[str, int]:
    """The ``Sig*:`` masks in text from /proc/PID/status, by name (SigBlk, SigIgn, ...),
    without the ``RESERVED`` signals."""
    out = {}
    for line in status.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.startswith("Sig"):
            out[name] = int(value.strip(), 16) & ~RESERVED
    return out

"""What importing tenacity costs a shim start whose first request succeeds:
callgrind instructions (the same count on a busy machine as on an idle one)
of ``selfdiscover exec --no-env-file -- true`` against a fake agent, with and
without ``import tenacity`` first, and of ``python -c 'import tenacity'``
against ``python -c pass``.

    python3 bench/tenacity_import.py [--runs N]

It decides whether ``selfdiscover.sources._retry`` imports tenacity at module
import or only on the first retry.
"""

from __future__ import annotations

import argparse

from _util import PY, make_agent, running, scrubbed_env, shim_env
from startup import _SHIM_MAIN, instructions

# Valgrind forgets a process that execs: the exec becomes an exit (as in startup.py).
_HOOK = "import os, sys; sys.addaudithook(lambda e, a: os._exit(0) if e == 'os.exec' else None)"
_EXEC_ARGS = ["exec", "--no-env-file", "--", "true"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    plain = scrubbed_env()
    with running(make_agent()) as agent:
        env = shim_env(agent.url)
        cmds = {
            "python -c pass": ([PY, "-c", f"{_HOOK}; os._exit(0)"], plain),
            "python -c 'import tenacity'": ([PY, "-c", f"{_HOOK}; import tenacity; os._exit(0)"], plain),
            "shim exec": ([PY, "-c", f"{_HOOK}; {_SHIM_MAIN}", *_EXEC_ARGS], env),
            "import tenacity; shim exec": (
                [PY, "-c", f"{_HOOK}; import tenacity; {_SHIM_MAIN}", *_EXEC_ARGS],
                env,
            ),
        }
        for argv, e in cmds.values():  # warm the bytecode cache
            instructions(argv, e)
        counts: dict[str, list[int]] = {}
        for name, (argv, e) in cmds.items():
            before = len(agent.requests)
            counts[name] = [n for n in (instructions(argv, e) for _ in range(args.runs)) if n is not None]
            if "exec" in name:  # two requests per run: no run retried
                assert len(agent.requests) - before == 2 * args.runs, (name, len(agent.requests) - before)
    for name, ns in counts.items():
        print(f"{name:30} {ns}")
    pairs = (("python -c pass", "python -c 'import tenacity'"), ("shim exec", "import tenacity; shim exec"))
    for base, more in pairs:
        print(f"{more} - {base}: {(min(counts[more]) - min(counts[base])) / 1e6:.1f} M instructions")


if __name__ == "__main__":
    main()

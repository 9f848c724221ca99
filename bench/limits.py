"""What the cgroup reads behind ``ECS_CPU_LIMIT``/``ECS_CPU_COUNT``/``ECS_MEMORY_LIMIT`` add to a shim
start: ``effective_limits()`` on this machine's real ``/proc`` and ``/sys/fs/cgroup``, in-process wall
time (median of many calls) and callgrind instructions (the same count however busy the machine is),
each against a baseline from the same run: ``python -c pass`` for the instructions (the ratio is to
that whole interpreter start), and one ``os.sched_getaffinity`` call for the wall time.

    python3 bench/limits.py [--calls N] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from _util import PY, scrubbed_env
from startup import instructions

_SETUP = "from selfdiscover._limits import effective_limits; from selfdiscover import TaskInfo"
_CALL = "effective_limits(TaskInfo(arn='arn:aws:ecs:us-east-1:123456789012:task/c/' + '0' * 32, family='f', "
_CALL += "version='1', task_cpu=512, task_memory=1024))"


def _median_seconds(fn: Callable[[], object], calls: int) -> float:
    samples = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    from selfdiscover import TaskInfo
    from selfdiscover._limits import effective_limits

    info = TaskInfo(arn="arn:aws:ecs:us-east-1:123456789012:task/c/" + "0" * 32, family="f", version="1")
    effective_limits(info)  # warm: imports, page cache
    own = _median_seconds(lambda: effective_limits(info), args.calls)
    base = _median_seconds(lambda: os.sched_getaffinity(0), args.calls)
    print(
        f"effective_limits() wall, median of {args.calls}: {own * 1e3:.3f} ms "
        f"({own / base:.0f}x one sched_getaffinity call, {base * 1e6:.1f} us)"
    )

    env = scrubbed_env()
    # What the exec path imports anyway (container ID, the model), then the module, then one call.
    steps = {
        "before": "import selfdiscover._containerid, selfdiscover._model",
        "import": _SETUP,
        "call": f"{_SETUP}; {_CALL}",
        "pass": "pass",
    }
    counts: dict[str, int] = {}
    for name, code in steps.items():
        runs = [instructions([PY, "-c", code], env) for _ in range(args.runs)]
        if any(n is None for n in runs):
            print("valgrind not available: no instruction counts")
            return
        counts[name] = min(n for n in runs if n is not None)
    imported = counts["import"] - counts["before"]
    called = counts["call"] - counts["import"]
    print(
        f"instructions (min of {args.runs}): import {imported / 1e6:.2f} M, one call {called / 1e6:.2f} M; "
        f"together {(imported + called) / counts['pass']:.3f}x of `python -c pass` "
        f"({counts['pass'] / 1e6:.1f} M)"
    )


if __name__ == "__main__":
    main()

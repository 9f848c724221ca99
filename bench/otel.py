"""The OpenTelemetry detector: import cost, and detect() outside and inside ECS,
beside the official ECS detector measured in the same run.

    python3 bench/otel.py [--rounds N]

Needs the SDK and the official detector (``pip install -e .[test]``). The
imports and first ``Resource.create()`` calls run as child processes,
interleaved round-robin; warm detect() calls run in-process, outside ECS
and against a fake TMDE v4 on 127.0.0.1 (the bundled awsvpc sample).
Medians, with ratios to the baseline of each table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from _util import PY, scrubbed_env, summarize

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent / "selfdiscover" / "testing" / "samples" / "tmde-v4-task-awsvpc.json"


def _imports(rounds: int) -> dict[str, list[float]]:
    cmds = {
        "python -c pass": "pass",
        "import opentelemetry.sdk.resources": "import opentelemetry.sdk.resources",
        "import selfdiscover.otel": "import selfdiscover.otel",
        "import official ECS detector": "import opentelemetry.sdk.extension.aws.resource.ecs",
    }
    env = scrubbed_env()
    res: dict[str, list[float]] = {k: [] for k in cmds}
    names = list(cmds)
    for r in range(rounds + 2):  # two warm-up rounds fill the bytecode cache
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t = time.perf_counter()
            subprocess.run([PY, "-c", cmds[name]], env=env, check=True)
            if r >= 2:
                res[name].append(time.perf_counter() - t)
    return res


def _first_create(rounds: int) -> dict[str, list[float]]:
    """The first Resource.create() of a fresh process outside ECS: what an app
    pays at start-up (the SDK's entry-point scan and lazy imports included)."""
    code = (
        "import time\n"
        "from opentelemetry.sdk.resources import Resource\n"
        "t = time.perf_counter(); Resource.create(); print(time.perf_counter() - t)\n"
    )
    tmp = tempfile.mkdtemp(prefix="selfdiscover-bench-")
    variants = {"no detector named": "", "aws_ecs": "aws_ecs", "selfdiscover": "selfdiscover"}
    res: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    for r in range(rounds + 2):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            env = scrubbed_env(TMPDIR=tmp, OTEL_EXPERIMENTAL_RESOURCE_DETECTORS=variants[name])
            out = subprocess.run([PY, "-c", code], env=env, check=True, capture_output=True, text=True)
            if r >= 2:
                res[name].append(float(out.stdout))
    return res


def _timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def _detect(rounds: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    from opentelemetry.sdk.extension.aws.resource.ecs import AwsEcsResourceDetector

    from selfdiscover import _tags
    from selfdiscover.otel import SelfdiscoverResourceDetector
    from selfdiscover.testing import Behaviour, FakeAgent

    for k in list(os.environ):
        if k.startswith(("ECS_", "AWS_", "SELFDISCOVER_", "OTEL_")):
            del os.environ[k]
    os.environ["TMPDIR"] = tempfile.mkdtemp(prefix="selfdiscover-bench-")

    def ours() -> object:
        _tags.set_identity(None)  # a fresh process's first detect(), every time
        return SelfdiscoverResourceDetector().detect()

    def official() -> object:
        return AwsEcsResourceDetector().detect()

    outside = {"official detect()": _timed(official, rounds), "selfdiscover detect()": _timed(ours, rounds)}

    task = json.loads(SAMPLE.read_text())
    app = next(c for c in task["Containers"] if c["Name"] == "app")
    docs = {"/v4/bench": app, "/v4/bench/task": task}

    def answer(method: str, target: str) -> tuple[int, dict[str, str], bytes] | None:
        doc = docs.get(urlsplit(target).path)
        return None if doc is None else (200, {"Content-Type": "application/json"}, json.dumps(doc).encode())

    agent = FakeAgent(behaviour=Behaviour(override=answer))
    agent.tmde_rate = agent.tmde_burst = 10**6  # measure the clients, not the throttle
    with agent:
        os.environ["ECS_CONTAINER_METADATA_URI_V4"] = f"{agent.url}/v4/bench"
        inside = {
            "official detect()": _timed(official, rounds),
            "selfdiscover detect()": _timed(ours, rounds),
        }
    _tags.set_identity(None)
    return outside, inside


def _table(title: str, res: dict[str, list[float]], baseline: str) -> None:
    base = summarize(res[baseline]).median
    print(f"\n{title}\n{'':4}{'what':40} {'median ms':>10} {'p90 ms':>8} {'ratio':>7}")
    for name, values in res.items():
        s = summarize(values)
        print(f"{'':4}{name:40} {s.median * 1e3:10.2f} {s.p90 * 1e3:8.2f} {s.median / base:7.2f}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=20)
    args = p.parse_args(argv)
    imports = _imports(args.rounds)
    first = _first_create(args.rounds)
    outside, inside = _detect(args.rounds * 10)
    print(f"python {sys.version.split()[0]}, {args.rounds} rounds (detect: {args.rounds * 10} calls)")
    _table("import, child processes (baseline: import opentelemetry.sdk.resources)", imports,
           "import opentelemetry.sdk.resources")  # fmt: skip
    _table("first Resource.create() outside ECS, child processes (baseline: aws_ecs)", first, "aws_ecs")
    _table("detect() outside ECS, warm (baseline: official)", outside, "official detect()")
    _table("detect() on a fake TMDE v4, loopback (baseline: official)", inside, "official detect()")


if __name__ == "__main__":
    main()

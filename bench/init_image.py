"""The selfdiscover image as an init container: its size and its start-up time.

    python3 bench/init_image.py [--image TAG] [--rounds N]

Needs a Docker engine and an image built from entrypoint/Dockerfile (default tag
``selfdiscover``; the suite's is ``selfdiscover-test-i13-image``). Nothing is
pulled and nothing leaves loopback: a holder container owns a network namespace
with only ``lo``, ``selfdiscover fake-agent`` serves one task in it, and each
timed ``docker run --rm`` joins that namespace. Commands are interleaved round
by round; the figures are medians, and the ratio is to the baseline measured in
the same run, ``docker run --rm IMAGE --version`` (container start + Python +
the CLI's imports); ``python3 -c pass`` in the image is the floor. The init
container gets ``SELFDISCOVER_DOCKER_ID`` so that the fake agent knows its ID in
advance; reading ``/proc`` costs well under 1 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import time

from _util import ms, summarize

LABEL = "selfdiscover-bench"


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise SystemExit(f"docker {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--image", default="selfdiscover")
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    img = args.image
    info = json.loads(docker("image", "inspect", img).stdout)[0]
    layers = docker("history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}", img).stdout
    docker_id = secrets.token_hex(32)
    # The suite's images carry its label, and its clean-up removes labelled
    # containers whose owner process is gone: name this one as the owner.
    labels = ["--label", f"{LABEL}=1", "--label", f"selfdiscover-test.pid={os.getpid()}"]
    holder = docker(
        "run", "-d", "--pull", "never", "--network", "none", "--init", *labels,
        "--entrypoint", "python3", img, "-c", "import signal; signal.pause()",
    ).stdout.strip()  # fmt: skip
    ns = f"container:{holder}"
    try:
        agent = docker(
            "run", "-d", "--pull", "never", "--network", ns, *labels, img,
            "fake-agent", "--port", "51678", "--task", f"orders:3:selfdiscover:{docker_id}",
        ).stdout.strip()  # fmt: skip
        deadline = time.monotonic() + 30
        while "http://" not in docker("logs", agent).stdout:
            if time.monotonic() > deadline:
                raise SystemExit("the fake agent did not start")
            time.sleep(0.05)
        run = ["run", "--rm", "--pull", "never", "--network", ns, *labels]
        cmds = {
            "baseline: IMAGE --version": [*run, img, "--version"],
            "floor: python3 -c pass": [*run, "--entrypoint", "python3", img, "-c", "pass"],
            "init container: write 3 files": [
                *run, "--read-only", "--tmpfs", "/ecs:uid=65532",
                "-e", "SELFDISCOVER_AGENT_URL=http://127.0.0.1:51678",
                "-e", f"SELFDISCOVER_DOCKER_ID={docker_id}", img,
            ],
        }  # fmt: skip
        times: dict[str, list[float]] = {k: [] for k in cmds}
        names = list(cmds)
        for r in range(args.rounds + 2):  # two warm-up rounds
            k = r % len(names)
            for name in names[k:] + names[:k]:
                t0 = time.perf_counter()
                p = docker(*cmds[name], check=False)
                dt = time.perf_counter() - t0
                if p.returncode != 0:
                    raise SystemExit(f"{name}: exit {p.returncode}: {p.stderr}")
                if r >= 2:
                    times[name].append(dt)
    finally:
        docker("rm", "-f", *[c for c in (holder, locals().get("agent")) if c], check=False)
    base = summarize(times[names[0]]).median
    print(f"image {img}: {info['Size'] / 1e6:.1f} MB ({info['Os']}/{info['Architecture']})")
    print("layers (size, step):")
    for line in layers.splitlines():
        size, _, step = line.partition("\t")
        if size not in ("0B", "0"):
            print(f"  {size:>8}  {step[:90]}")
    print(f"\n{'command':34} {'median ms':>10} {'p10-p90 ms':>16} {'ratio':>6}  (N={args.rounds})")
    for name in names:
        s = summarize(times[name])
        print(f"{name:34} {ms(s.median):>10} {ms(s.p10) + '-' + ms(s.p90):>16} {s.median / base:>6.2f}")
    engine = docker("version", "-f", "{{.Server.Version}}").stdout.strip()
    print(f"\nmachine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; docker {engine}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``selfdiscover demo``: the whole shim, end to end, with no ECS in sight.

A fake agent on a free loopback port knows one task whose container is "us";
``selfdiscover exec`` runs as a real subprocess against it, writes env files
in two dialects, and execs a tiny application that prints what it received.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from ._outputs._shim import Diag
from .testing import FakeAgent, FakeContainer, random_docker_id

APP = (
    "import os, sys\n"
    "print(f'app: pid={os.getpid()}')\n"
    "for k in sorted(os.environ):\n"
    "    if k.startswith('ECS_'):\n"
    "        print(f'app: {k}={os.environ[k]}')\n"
)


def run_demo(diag: Diag) -> int:
    docker_id = random_docker_id()
    with FakeAgent() as agent, tempfile.TemporaryDirectory(prefix="selfdiscover-demo-") as tmp:
        agent.add_task("demo-web", 7, [FakeContainer("web", docker_id, "demo/web:1.0")])
        env_file = os.path.join(tmp, "ecs.env")
        sh_file = os.path.join(tmp, "ecs.sh")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ECS_", "SELFDISCOVER_"))}
        env.update(SELFDISCOVER_AGENT_URL=agent.url, SELFDISCOVER_DOCKER_ID=docker_id)
        cmd = [
            sys.executable,
            "-m",
            "selfdiscover",
            "-v",
            "exec",
            "--required",
            "--env-file",
            env_file,
            "--env-file",
            f"shell:{sh_file}",
            "--",
            sys.executable,
            "-c",
            APP,
        ]
        print(
            f"demo: fake ECS agent at {agent.url}; it knows one task, whose container ID {docker_id[:12]}..."
        )
        print("demo: is made up and handed to the shim as SELFDISCOVER_DOCKER_ID (no container needed)")
        print("demo: $ " + " ".join(cmd[:10]) + " -- python -c <app>")
        sys.stdout.flush()
        rc = subprocess.call(cmd, env=env, timeout=60)
        if rc != 0:
            diag.error(f"the shim exited {rc}")
            return rc
        for path in (env_file, sh_file):
            print(f"demo: --- {path} ---")
            with open(path, encoding="utf-8") as f:
                sys.stdout.write(f.read())
        print(
            f"demo: the agent answered {len(agent.requests)} requests: "
            + ", ".join(f"{r.path}?{r.query}".rstrip("?") for r in agent.requests)
        )
    return 0

"""entrypoint/selfdiscover-entrypoint.sh, run by dash against the fake agent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from shimrun import EX_UNAVAILABLE, dump_cmd

from selfdiscover.testing import FakeAgent, FakeContainer, random_docker_id

SCRIPT = Path(__file__).resolve().parent.parent / "entrypoint" / "selfdiscover-entrypoint.sh"


@pytest.mark.skipif(shutil.which("dash") is None, reason="dash is not installed")
def test_wrapper_sources_the_shell_file_and_execs(clean_env: dict[str, str], tmp_path: Path) -> None:
    did = random_docker_id()
    with FakeAgent(cluster="prod") as a:
        a.add_task("wrapped", 8, [FakeContainer("it's $(touch pwned) `id`", did)])
        env = {
            **clean_env,
            "SELFDISCOVER_AGENT_URL": a.url,
            "SELFDISCOVER_DOCKER_ID": did,
            "SELFDISCOVER_SHELL_DIR": str(tmp_path),
        }
        # A step that uses a sourced variable, then exec: the app sees everything.
        out = subprocess.run(
            ["dash", str(SCRIPT), *dump_cmd()],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            cwd=tmp_path,
        )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)["env"]
    assert seen["ECS_TASK_FAMILY"] == "wrapped" and seen["ECS_TASK_VERSION"] == "8"
    assert seen["ECS_CONTAINER_NAME"] == "it's $(touch pwned) `id`"
    assert not (tmp_path / "pwned").exists()
    assert (tmp_path / "ecs.sh").read_text().count("\n") >= 5


def test_wrapper_fails_closed_with_the_shims_code(clean_env: dict[str, str], tmp_path: Path) -> None:
    env = {
        **clean_env,
        "SELFDISCOVER_AGENT_URL": "http://127.0.0.1:9",
        "SELFDISCOVER_DOCKER_ID": "ab" * 32,
        "SELFDISCOVER_TIMEOUT": "0.5",
        "SELFDISCOVER_SHELL_DIR": str(tmp_path),
    }
    out = subprocess.run(
        ["sh", str(SCRIPT), "touch", str(tmp_path / "started")],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == EX_UNAVAILABLE and not (tmp_path / "started").exists()
    assert os.path.exists(SCRIPT)

"""examples/init-container/task-definition.json says what the README says it does.

No Docker and no AWS here: the file is read as JSON and checked field by field
(the shared volume, the init container writing shell, dotenv and JSON files onto
it, ``essential: false``, the app's ``dependsOn`` SUCCESS and read-only mount,
read-only root filesystems), and the init container's command is parsed by the
real ``selfdiscover`` argument parser, so a typo in an option fails here.
"""

from __future__ import annotations

import json
import posixpath
import re
from pathlib import Path
from typing import Any

import pytest

from selfdiscover import cli
from selfdiscover._outputs._shim import env_targets

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "init-container"
FAMILY_RE = r"[A-Za-z0-9_-]{1,255}"


@pytest.fixture(scope="module")
def taskdef() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLE / "task-definition.json").read_text(encoding="utf-8"))
    return data


def container(taskdef: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in taskdef["containerDefinitions"] if c["name"] == name]
    assert isinstance(found, dict)
    return found


def mount(c: dict[str, Any], volume: str) -> dict[str, Any]:
    (m,) = [m for m in c["mountPoints"] if m["sourceVolume"] == volume]
    assert isinstance(m, dict)
    return m


def test_task_level_fields(taskdef: dict[str, Any]) -> None:
    assert re.fullmatch(FAMILY_RE, taskdef["family"])
    assert taskdef["networkMode"] == "awsvpc"
    assert {c["name"] for c in taskdef["containerDefinitions"]} == {"selfdiscover", "app"}
    # A task-scoped bind mount: empty at task start, gone with the task.
    assert taskdef["volumes"] == [{"name": "ecs"}]


def test_init_container_writes_three_dialects_onto_the_volume(taskdef: dict[str, Any]) -> None:
    init = container(taskdef, "selfdiscover")
    assert init["essential"] is False  # it exits; a task must not stop because it did
    assert init["readonlyRootFilesystem"] is True
    m = mount(init, "ecs")
    assert m["readOnly"] is False
    args = cli.build_parser().parse_args(init["command"])
    assert args.cmd == "write"
    specs = env_targets(cli.read_settings(args, {}))
    assert sorted(t.dialect for t in specs) == ["dotenv", "json", "shell"]
    for t in specs:
        assert posixpath.dirname(t.path) == m["containerPath"], t.path
    assert args.policy in (None, "required")  # fails closed in ECS either way
    assert "entryPoint" not in init  # the image's own: ["selfdiscover"]


def test_app_starts_only_after_success_and_reads_the_volume(taskdef: dict[str, Any]) -> None:
    app = container(taskdef, "app")
    assert app["essential"] is True
    assert app["dependsOn"] == [{"containerName": "selfdiscover", "condition": "SUCCESS"}]
    assert app["readonlyRootFilesystem"] is True
    init_mount = mount(container(taskdef, "selfdiscover"), "ecs")
    m = mount(app, "ecs")
    assert m["readOnly"] is True
    assert m["containerPath"] == init_mount["containerPath"]
    # No Python needed: the shell file is sourced, then the app is exec'd.
    entry = app["entryPoint"]
    assert entry[:2] == ["sh", "-c"]
    shell_file = posixpath.join(m["containerPath"], "ecs.sh")
    assert entry[2].startswith(f". {shell_file} && exec ")


def test_no_placeholder_left_unfilled(taskdef: dict[str, Any]) -> None:
    """Every string is a real-looking value (the documentation account and region), not <FILL ME>."""
    text = json.dumps(taskdef)
    assert "<" not in text and "TODO" not in text
    for c in taskdef["containerDefinitions"]:
        assert c["image"].startswith("111122223333.dkr.ecr.us-west-2.amazonaws.com/"), c["image"]

"""Run every examples/logging script as a real program with the variables the
shim exports, and check the tags in its real output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "logging"
ARN = "arn:aws:ecs:us-east-2:123456789012:task/prod/00112233445566778899aabbccddeeff"


def _run(name: str, clean_env: dict[str, str]) -> str:
    env = {
        **clean_env,
        "ECS_TASK_ARN": ARN,
        "ECS_TASK_FAMILY": "shop",
        "ECS_TASK_VERSION": "9",
        "ECS_TASK_ID": "00112233445566778899aabbccddeeff",
        "ECS_CLUSTER": "prod",
        "ECS_REGION": "us-east-2",
    }
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], env=env, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    return out.stdout + out.stderr


def test_text(clean_env: dict[str, str]) -> None:
    out = _run("text_logging.py", clean_env)
    assert "INFO app [shop:9 00112233445566778899aabbccddeeff] started" in out
    assert "WARNING urllib3.connectionpool [shop:9 00112233445566778899aabbccddeeff]" in out


def test_json_otel_keys(clean_env: dict[str, str]) -> None:
    rec = json.loads(_run("json_logging.py", clean_env).splitlines()[0])
    assert rec["aws.ecs.task.family"] == "shop" and rec["cloud.region"] == "us-east-2"
    assert rec["aws.ecs.cluster.arn"] == "arn:aws:ecs:us-east-2:123456789012:cluster/prod"
    assert rec["order_id"] == 42


def test_structlog_both_chains(clean_env: dict[str, str]) -> None:
    a, b = (json.loads(line) for line in _run("structlog_logging.py", clean_env).splitlines()[:2])
    assert a["event"] == "started" and a["ecs_task_family"] == "shop" and a["user"] == "ada"
    assert b["event"] == "from the standard library" and b["ecs_task_version"] == "9"


def test_wsgi_request_logs(clean_env: dict[str, str]) -> None:
    out = _run("wsgi_app.py", clean_env)
    assert "shop:9 web GET /hello" in out
    assert "shop:9 wsgi.access" in out


@pytest.mark.parametrize("name", ["text_logging.py", "json_logging.py", "structlog_logging.py"])
def test_outside_ecs_fields_are_empty_not_errors(name: str, clean_env: dict[str, str]) -> None:
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        env={**clean_env, "SELFDISCOVER_ENV_FILE": "/nonexistent"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0 and "Traceback" not in out.stderr and "started" in out.stdout + out.stderr

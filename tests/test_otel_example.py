"""examples/otel: a traced app and an ``opentelemetry-instrument`` run, each
pointed at the fake TMDE v4 by the variable the agent injects, with
``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS=selfdiscover`` as the only switch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from otelkit import APP, TASK, SampleTMDE, sample

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "otel"


@pytest.fixture
def tmde() -> Iterator[SampleTMDE]:
    t = sample()
    with t.agent:
        yield t


def _env(clean_env: dict[str, str], tmp_path: Path, tmde: SampleTMDE, detectors: str) -> dict[str, str]:
    env = {k: v for k, v in clean_env.items() if not k.startswith("OTEL_")}
    env.update(
        TMPDIR=str(tmp_path),
        ECS_CONTAINER_METADATA_URI_V4=tmde.uri,
        OTEL_EXPERIMENTAL_RESOURCE_DETECTORS=detectors,
    )
    return env


def _spans(stdout: str) -> list[dict[str, Any]]:
    """Every JSON object the console exporter printed (one line or indented)."""
    decoder = json.JSONDecoder()
    spans, i = [], stdout.find("{")
    while i >= 0:
        obj, end = decoder.raw_decode(stdout, i)
        spans.append(obj)
        i = stdout.find("{", end)
    return spans


def _check_resource(span: dict[str, Any]) -> None:
    res = span["resource"]["attributes"]
    assert res["aws.ecs.task.arn"] == TASK["TaskARN"]
    assert res["aws.ecs.task.id"] == "30bc42de1fb631fa64329abe1fa1f940"
    assert res["container.name"] == "app" and res["container.id"] == APP["DockerId"]
    assert res["cloud.region"] == "us-west-2" and res["cloud.account.id"] == "111122223333"
    assert res["aws.log.group.names"] == ["/ecs/api"]
    assert res["container.image.tags"] == ["1.8.0"]


def test_traced_app(clean_env: dict[str, str], tmp_path: Path, tmde: SampleTMDE) -> None:
    env = _env(clean_env, tmp_path, tmde, "selfdiscover")
    p = subprocess.run(
        [sys.executable, str(EXAMPLE / "app.py")], env=env, capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 0 and p.stderr == "", p.stderr
    (span,) = _spans(p.stdout)
    assert span["name"] == "handle-order" and span["attributes"] == {"order.id": 42}
    _check_resource(span)


def test_traced_app_without_the_switch(clean_env: dict[str, str], tmp_path: Path, tmde: SampleTMDE) -> None:
    env = _env(clean_env, tmp_path, tmde, "")
    p = subprocess.run(
        [sys.executable, str(EXAMPLE / "app.py")], env=env, capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 0, p.stderr
    (span,) = _spans(p.stdout)
    assert not [k for k in span["resource"]["attributes"] if k.startswith("aws.")]
    assert tmde.agent.request_count() == 0


def test_opentelemetry_instrument(clean_env: dict[str, str], tmp_path: Path, tmde: SampleTMDE) -> None:
    """No SDK code in the app: the distro's configurator calls Resource.create()."""
    exe = Path(sys.executable).parent / "opentelemetry-instrument"
    instrument = str(exe) if exe.exists() else shutil.which("opentelemetry-instrument")
    assert instrument, "opentelemetry-instrument is not installed: pip install -e .[test]"
    env = _env(clean_env, tmp_path, tmde, "selfdiscover")
    cmd = [
        instrument,
        "--traces_exporter",
        "console",
        "--metrics_exporter",
        "none",
        "--logs_exporter",
        "none",
    ]
    p = subprocess.run(
        [*cmd, sys.executable, str(EXAMPLE / "instrumented_app.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("app: started\n")
    (span,) = _spans(p.stdout)
    assert span["name"] == "startup"
    _check_resource(span)

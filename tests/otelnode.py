"""The JavaScript OpenTelemetry SDK as a reader of ``OTEL_RESOURCE_ATTRIBUTES``: tests/node/read_env.mjs
runs ``envDetector`` from ``@opentelemetry/resources`` (pinned in tests/node/package.json), which
``npm ci`` there installs (``.ci/run`` does; the suite itself sends nothing beyond loopback). Without
``node`` or the pinned package, the tests that use the ``read_js`` fixture fail."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

NODE_DIR = Path(__file__).parent / "node"
READER = NODE_DIR / "read_env.mjs"
VAR = "OTEL_RESOURCE_ATTRIBUTES"


def pinned_versions() -> dict[str, str]:
    deps: dict[str, str] = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]
    return deps


def installed_version(package: str) -> str | None:
    manifest = NODE_DIR / "node_modules" / package / "package.json"
    if not manifest.is_file():
        return None
    version: str = json.loads(manifest.read_text())["version"]
    return version


@dataclass(frozen=True)
class JSRead:
    attributes: dict[str, str]
    stderr: str

    @property
    def discarded(self) -> bool:
        """The envDetector threw the whole variable away (it says so only at diag DEBUG)."""
        return "EnvDetector failed" in self.stderr


class ReadJS(Protocol):
    def __call__(self, value: str, *, service_name: str | None = None) -> JSRead: ...


@pytest.fixture(scope="session")
def read_js() -> ReadJS:
    """Runs tests/node/read_env.mjs with ``OTEL_RESOURCE_ATTRIBUTES=value``; tests/node/node_modules
    must hold the pinned SDK."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node must be on PATH (Node 18.19+ or 20.6+): the JavaScript SDK reads it")
    pins = pinned_versions()
    installed = {p: installed_version(p) for p in pins}
    if installed != pins:  # the suite sends no traffic beyond loopback: installing is .ci/run's job
        pytest.fail(f"the pinned JavaScript SDK is not installed ({installed}): run `npm ci` in {NODE_DIR}")

    def read(value: str, *, service_name: str | None = None) -> JSRead:
        env = {"PATH": os.environ["PATH"], VAR: value}
        if service_name is not None:
            env["OTEL_SERVICE_NAME"] = service_name
        p = subprocess.run(
            [node, str(READER)], env=env, capture_output=True, text=True, encoding="utf-8", timeout=60
        )
        assert p.returncode == 0, p.stderr
        attributes: dict[str, str] = json.loads(p.stdout)
        return JSRead(attributes, p.stderr)

    return read

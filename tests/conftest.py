from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _scrubbed_env() -> dict[str, str]:
    """The environment for subprocess tests: nothing ECS- or selfdiscover-related
    leaks in from the machine running the suite."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("ECS_", "SELFDISCOVER_", "AWS_"))}


@pytest.fixture
def clean_env() -> dict[str, str]:
    return _scrubbed_env()


@pytest.fixture(scope="session")
def shim() -> list[str]:
    """The installed console script (the README's install step puts it on PATH)."""
    exe = shutil.which("selfdiscover")
    if exe is None:
        pytest.fail("the selfdiscover console script is not installed: run pip install -e .[test]")
    return [exe]


def run(
    cmd: list[str], env: dict[str, str], timeout: float = 30, **kw: object
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, **kw)  # type: ignore[call-overload, no-any-return]


PY = sys.executable

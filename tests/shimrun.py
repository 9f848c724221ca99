"""Running the installed shim, or Python code, as a subprocess: shared by the tests."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from typing import Any


def sd(
    shim: list[str], args: list[str], env: Mapping[str, str], timeout: float = 30, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """``selfdiscover ARGS`` with exactly ``env``; output decoded leniently."""
    return subprocess.run(
        [*shim, *args],
        env=dict(env),
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
        **kw,
    )


def dumped(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON a successful CMD printed on stdout."""
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def python(code: str, env: Mapping[str, str], *args: str, flags: tuple[str, ...] = ()) -> str:
    """What ``python [FLAGS] -c CODE ARGS`` prints, run with exactly ``env``;
    it must exit 0."""
    p = subprocess.run(
        [sys.executable, *flags, "-c", code, *args], env=dict(env), capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 0, p.stderr
    return p.stdout

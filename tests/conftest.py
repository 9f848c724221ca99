from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Hermetic: the default env-file locations point into a directory of the suite's
# own, for this process and for every subprocess given clean_env, so no test reads
# or writes the machine's /run/selfdiscover or $TMPDIR/selfdiscover
# (tests/test_hermetic.py plants leftovers there to prove it).
_HERMETIC_ROOT = tempfile.mkdtemp(prefix="selfdiscover-suite-")
HERMETIC_ENV = {
    "SELFDISCOVER_RUN_DIR": os.path.join(_HERMETIC_ROOT, "run", "selfdiscover"),
    "TMPDIR": os.path.join(_HERMETIC_ROOT, "tmp"),
}
os.makedirs(HERMETIC_ENV["TMPDIR"])
os.environ.update(HERMETIC_ENV)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_HERMETIC_ROOT, ignore_errors=True)


def _scrubbed_env() -> dict[str, str]:
    """The environment for subprocess tests: nothing ECS- or selfdiscover-related
    leaks in from the machine running the suite, and the default locations stay
    redirected."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ECS_", "SELFDISCOVER_", "AWS_"))}
    return {**env, **HERMETIC_ENV}


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


@pytest.fixture
def raw_server() -> Iterator[tuple[str, list[bytes]]]:
    """A TCP server that answers every connection with the scripted pieces:
    bytes are sent, ``<SLEEPs>`` waits s seconds, ``<RESET>`` aborts with RST."""
    script: list[bytes] = []
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(4096)
                    for piece in script:
                        if piece == b"<RESET>":
                            conn.setsockopt(
                                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                            )
                            break
                        if piece.startswith(b"<SLEEP"):
                            if stop.wait(float(piece[6:-1])):
                                break
                            continue
                        conn.sendall(piece)
                except OSError:
                    pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}", script
    stop.set()
    t.join(5)
    srv.close()

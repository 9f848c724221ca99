"""The doctor's PID 1 line with psutil (the ``doctor`` extra) and without it:
then the kernel's ``/proc/1/comm``, read bounded through the doctor's proc root.
"Without" is a child interpreter in which ``import psutil`` fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from selfdiscover._doctor import _pid1_name, _pid1_note

NO_PSUTIL = "import sys; sys.modules['psutil'] = None\n"
PRINT_NAME = "from selfdiscover._doctor import _pid1_name; print(repr(_pid1_name(sys.argv[1])))"


def child(code: str, proc_root: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code, proc_root], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def fake_proc(tmp_path: Path, comm: bytes) -> str:
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "comm").write_bytes(comm)
    return str(tmp_path)


def test_with_psutil_the_real_pid1_is_named_by_psutil() -> None:
    if os.getpid() == 1:
        pytest.skip("this test process is PID 1")
    assert _pid1_name("/proc") == psutil.Process(1).name()
    assert _pid1_note("/proc") == f"PID 1 is {psutil.Process(1).name()!r}"


def test_without_psutil_the_real_pid1_is_read_from_comm() -> None:
    expected = Path("/proc/1/comm").read_text().strip()
    assert child(NO_PSUTIL + PRINT_NAME, "/proc") == repr(expected)
    # The same first 15 bytes psutil reports in full.
    assert psutil.Process(1).name().startswith(expected)


def test_without_psutil_the_doctors_proc_root_is_read(tmp_path: Path) -> None:
    root = fake_proc(tmp_path, b"tini\n")
    assert child(NO_PSUTIL + PRINT_NAME, root) == "'tini'"
    # The whole doctor, as the command runs it, in an image without psutil.
    doctor = (
        "import io\nfrom selfdiscover._doctor import run_doctor\n"
        "from selfdiscover._settings import Settings\nout = io.StringIO()\n"
        "run_doctor(out, Settings(timeout=1), environ={}, proc_root=sys.argv[1])\n"
        "print(out.getvalue())"
    )
    assert "process: PID 1 is 'tini'\n" in child(NO_PSUTIL + doctor, root) + "\n"
    # The child really had no psutil: importing it fails there.
    code = NO_PSUTIL + "try:\n    import psutil\nexcept ImportError:\n    print('no psutil')\n"
    assert child(code, root) == "no psutil"


def test_a_fake_proc_root_is_never_answered_by_psutil(tmp_path: Path) -> None:
    # psutil reads the machine's /proc, not the one the doctor was pointed at.
    assert _pid1_name(fake_proc(tmp_path, b"dumb-init\n")) == "dumb-init"


@pytest.mark.parametrize(
    "comm", [b"", b"\n", b"x" * 100 + b"\n", b"x" * 10_000], ids=["empty", "blank", "oversized", "no-newline"]
)
def test_an_unreadable_name_is_unknown_not_an_error(tmp_path: Path, comm: bytes) -> None:
    root = fake_proc(tmp_path, comm)
    assert _pid1_name(root) is None
    assert _pid1_note(root) == "PID 1 unknown (cannot read its name)"


def test_a_fifo_for_comm_does_not_hang(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    os.mkfifo(tmp_path / "1" / "comm")
    assert _pid1_name(str(tmp_path)) is None
    assert _pid1_name(str(tmp_path / "missing")) is None

"""Whether this machine lets a test make its own Linux namespaces (root and
``unshare``): private mounts over /run and /tmp, or an empty network."""

from __future__ import annotations

import shutil
import subprocess


def unshare_missing(*probe: str, needs: str) -> str | None:
    """None when ``unshare PROBE...`` succeeds here, else why not (a skip reason)."""
    exe = shutil.which("unshare")
    if exe is None:
        return "unshare is not installed"
    done = subprocess.run([exe, *probe], capture_output=True, timeout=10)
    return None if done.returncode == 0 else f"cannot {needs} here (needs root)"

"""Bounded, non-blocking reads of ``/proc`` and of files others may have planted.

``/proc`` files report size 0, a planted FIFO or device would block a plain
``open()``, and a hostile file may be huge: every reader of the container ID,
the metadata file, the route table and env files goes through here.
"""

from __future__ import annotations

import os
import stat

__all__ = ["read_bounded", "read_capped"]

_OPEN_FLAGS = (
    os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
)


def read_bounded(path: str, limit: int) -> str | None:
    """At most ``limit`` bytes of a file as text, or None; for any caller that
    wants to peek at /proc with the same hostile-input guarantees."""
    return read_capped(path, limit)[0]


def read_capped(path: str, limit: int) -> tuple[str | None, str]:
    """(text, note). Never blocks on a planted FIFO or device and never reads
    more than ``limit`` bytes, since /proc files report size 0. A line cut by
    the cap is dropped whole."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        return None, f"{path}: {exc.strerror or type(exc).__name__}"
    chunks: list[bytes] = []
    size = 0
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None, f"{path}: not a regular file"
        while size <= limit:
            chunk = os.read(fd, min(65536, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        return None, f"{path}: {exc.strerror or type(exc).__name__}"
    finally:
        os.close(fd)
    data = b"".join(chunks)
    note = ""
    if size > limit:
        data = data[:limit]
        data = data[: data.rfind(b"\n") + 1]  # drop the cut line
        note = f" (read capped at {limit} bytes)"
    return data.decode("utf-8", "replace"), note

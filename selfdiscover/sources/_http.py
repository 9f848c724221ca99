"""One guarded GET over urllib3.

Everything the agent sends is untrusted: the body is read against a byte cap
and against the caller's deadline (a server that drips one byte a second must
not hold us), redirects are never followed, content encodings are refused
rather than decompressed (no gzip bombs), and every failure comes back as a
value the retry policy can classify.
"""

from __future__ import annotations

import contextlib
import contextvars
import http.client
import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3

from .._errors import AgentResponseError, RetryableError
from ._timing import Timeout

DEFAULT_BODY_CAP = 4 * 1024 * 1024
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        """Decode the body; a body that is not JSON is a protocol error."""
        if not self.body.strip():
            raise AgentResponseError(f"HTTP {self.status} with an empty body where JSON was expected")
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            snippet = self.body[:60].decode("utf-8", "replace").encode("unicode_escape").decode()
            raise AgentResponseError(
                f"HTTP {self.status} body is not JSON ({type(e).__name__}): {snippet!r}"
            ) from None


class _Watch:
    __slots__ = ("deadline", "fired", "timer")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self.timer: threading.Timer | None = None


_watch: contextvars.ContextVar[_Watch | None] = contextvars.ContextVar("_watch", default=None)


class _Connection(urllib3.connection.HTTPConnection):
    """Reads the whole response against the caller's deadline.

    urllib3's read timeout bounds each ``recv()``, not the whole response: a
    server that sends one byte of its headers, chunk-size lines or trailers (or
    one more ``100 Continue``) every second would hold us for ever. At the
    deadline a watchdog shuts the socket down, which wakes the blocked read at
    once; ``get()`` cancels it when the body has been read.
    """

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        watch, sock = _watch.get(), self.sock
        if watch is None or sock is None:
            return super().getresponse(*args, **kwargs)
        if watch.timer is None:  # urllib3 1.26 calls twice (buffering=True first): one watchdog
            watch.timer = threading.Timer(
                max(0.0, watch.deadline - time.monotonic()), _shut, args=(sock, watch)
            )
            watch.timer.daemon = True
            watch.timer.start()
        return super().getresponse(*args, **kwargs)


def _cancel(watch: _Watch) -> None:
    if watch.timer is not None:
        watch.timer.cancel()


def _shut(sock: socket.socket, watch: _Watch) -> None:
    watch.fired = True
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


# One pool (one keep-alive connection) per agent and thread: the requests of
# one discovery reuse a connection, and concurrent discoveries never share one
# (with a shared maxsize=1 pool urllib3 warns "Connection pool is full").
_pools: dict[tuple[str, int, int], urllib3.HTTPConnectionPool] = {}
_MAX_POOLS = 32


def _drop_pools() -> None:
    for pool in list(_pools.values()):
        pool.close()
    _pools.clear()


# A forked child keeps the parent's thread id: it must not reuse the parent's sockets.
os.register_at_fork(after_in_child=_pools.clear)


def _pool(host: str, port: int) -> urllib3.HTTPConnectionPool:
    key = (host, port, threading.get_ident())
    pool = _pools.get(key)
    if pool is None:
        if len(_pools) >= _MAX_POOLS:  # threads come and go: never grow without bound
            _drop_pools()
        pool = _pools[key] = urllib3.HTTPConnectionPool(host, port, maxsize=1, retries=False)
        pool.ConnectionCls = _Connection
    return pool


def split_base(url: str) -> tuple[str, int, str]:
    """``http://host:port/prefix`` -> (host, port, prefix). Only plain HTTP:
    every ECS metadata endpoint is loopback or link-local and needs no TLS."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"agent URL must be http://host[:port], got {url!r}")
    try:
        port = parts.port or 80
    except ValueError:
        raise ValueError(f"agent URL has a bad port: {url!r}") from None
    return parts.hostname, port, parts.path.rstrip("/")


def get(
    base_url: str,
    path: str,
    *,
    timeout: Timeout,
    deadline: float,
    body_cap: int = DEFAULT_BODY_CAP,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> Response:
    """GET (or ``method``) ``base_url + path`` once. ``deadline`` is a
    ``time.monotonic()`` value; ``headers`` are added to the defaults;
    ``body`` is sent as it is (with its Content-Length).

    Raises ``RetryableError`` for transport failures and for statuses that
    say "try again"; returns every other response for the caller to judge.
    """
    host, port, prefix = split_base(base_url)
    start = time.monotonic()
    remaining = deadline - start
    if remaining <= 0:
        raise RetryableError("deadline passed before the request was sent")
    t = urllib3.Timeout(connect=min(timeout.connect, remaining), read=min(timeout.read, remaining))
    watch = _Watch(deadline)
    token = _watch.set(watch)
    try:
        r = _pool(host, port).urlopen(
            method,
            prefix + path,
            body=body,
            headers={"Accept": "application/json", "User-Agent": "selfdiscover", **(headers or {})},
            timeout=t,
            retries=False,
            redirect=False,
            preload_content=False,
            decode_content=False,
            release_conn=False,
        )
    except urllib3.exceptions.HTTPError as e:
        _cancel(watch)
        if watch.fired:
            raise RetryableError(f"{host}:{port}: timed out: headers still arriving at deadline") from None
        raise RetryableError(f"{host}:{port}: {_describe(e)}") from None
    finally:
        _watch.reset(token)
    clean = False
    try:
        encoding = r.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise AgentResponseError(f"refusing Content-Encoding {encoding!r} (never requested)")
        length = r.headers.get("Content-Length")
        if (
            length is not None
            and length.strip().isascii()
            and length.strip().isdigit()
            and int(length) > body_cap
        ):
            raise AgentResponseError(f"body of {int(length)} bytes is over the {body_cap}-byte cap")
        chunks: list[bytes] = []
        size = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RetryableError(f"{host}:{port}: body still arriving at the deadline")
            conn = getattr(r, "connection", None) or getattr(r, "_connection", None)
            sock = getattr(conn, "sock", None)
            if sock is not None:
                # Shrink each wait to what the deadline allows, so a drip-feeding
                # server cannot push us past it by up to a whole read timeout.
                sock.settimeout(max(0.001, min(timeout.read, left)))
            chunk = _read1(r)
            if not chunk:
                break
            size += len(chunk)
            if size > body_cap:
                raise AgentResponseError(f"body is over the {body_cap}-byte cap")
            chunks.append(chunk)
        _cancel(watch)
        if watch.fired:  # cut short by the watchdog: never accept what arrived
            raise RetryableError(f"{host}:{port}: timed out: body still arriving at the deadline")
        clean = True
    except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as e:
        if watch.fired:
            raise RetryableError(f"{host}:{port}: timed out: body still arriving at the deadline") from None
        raise RetryableError(f"{host}:{port}: {_describe(e)} while reading the body") from None
    finally:
        _cancel(watch)
        if clean:
            r.release_conn()  # keep-alive: the next call skips a connect
        else:
            r.close()  # a half-read or hostile connection is never reused
    headers = {k.lower(): v for k, v in r.headers.items()}
    return Response(r.status, b"".join(chunks), headers)


def _read1(r: Any) -> bytes:
    """Whatever has arrived, up to one chunk, without waiting for a full one:
    ``read(n)`` would wait for n bytes, and a drip-feeding server could keep it
    waiting for ever. urllib3 2 has ``read1``; on 1.26 the wrapped
    ``http.client`` response has it."""
    read1 = getattr(r, "read1", None)
    if read1 is not None:
        return read1(_CHUNK)  # type: ignore[no-any-return]
    return r._fp.read1(_CHUNK)  # type: ignore[no-any-return]


def _describe(e: Exception) -> str:
    """One line, without urllib3's nested reprs."""
    while True:
        reason = getattr(e, "reason", None)
        if isinstance(reason, Exception) and reason is not e:
            e = reason
            continue
        break
    text = str(e)
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    if "reset" in text.lower():
        return "connection reset"
    return f"{type(e).__name__}: {text}"[:200]

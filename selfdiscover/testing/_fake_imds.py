"""A fake EC2 instance metadata service (IMDSv2 only) on loopback.

The host-address client must never reach the real 169.254.169.254 from a test,
so it is pointed at this fake instead. It answers as an instance with
``HttpTokens=required`` does: a token first (``PUT /latest/api/token``), then
``GET`` with that token; a tokenless or wrong-token ``GET`` is 401. It records
every request with its headers, so a test can assert "the token was asked
first" or "nothing was asked at all", and it can fail the ways a real instance
fails a container: the PUT answer never arrives (a hop limit of 1 seen from a
bridge-mode container), nothing listens, or 500s.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from ._serve import Listener

__all__ = ["FAULTS", "FakeIMDS", "IMDSRequest"]

TOKEN_PATH = "/latest/api/token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
MAX_TTL = 21600
FAULTS = ("hang-put", "hang", "down", "500")

_NOT_FOUND = b"""<?xml version="1.0" encoding="iso-8859-1"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <head>
  <title>404 - Not Found</title>
 </head>
 <body>
  <h1>404 - Not Found</h1>
 </body>
</html>
"""


@dataclass(frozen=True)
class IMDSRequest:
    at: float  # seconds since start()
    method: str
    path: str
    headers: dict[str, str]  # as sent; look up with the canonical spelling or use header()
    status: int  # 0: never answered (hang faults)

    def header(self, name: str) -> str | None:
        """A request header by case-insensitive name."""
        low = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == low), None)


class FakeIMDS:
    """IMDSv2 on ``host:port`` (port 0 picks a free one); ``url`` is the base
    to give ``SELFDISCOVER_IMDS_URL``.

    ``fault`` (one of ``FAULTS``, or None; may be changed while running,
    except ``"down"``, which must be given to the constructor):
    ``"hang-put"`` accepts the token PUT and never answers it, ``"hang"``
    never answers anything, ``"down"`` refuses connections (the port is bound,
    nobody listens), ``"500"`` answers every request 500. ``public_ipv4=None``
    is an instance without a public address (404, as IMDS answers).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        local_ipv4: str = "10.0.1.25",
        public_ipv4: str | None = "203.0.113.25",
        instance_id: str = "i-0123456789abcdef0",
        availability_zone: str = "us-west-2b",
        fault: str | None = None,
    ) -> None:
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"fault must be one of {', '.join(FAULTS)} or None, got {fault!r}")
        self.host = host
        self.fault = fault
        self.values: dict[str, str] = {
            "local-ipv4": local_ipv4,
            "instance-id": instance_id,
            "placement/availability-zone": availability_zone,
        }
        if public_ipv4 is not None:
            self.values["public-ipv4"] = public_ipv4
        self.requests: list[IMDSRequest] = []
        self.tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._started = 0.0
        self._listener = Listener(host, port, self._answer, "imds", self._stopping)
        self.port: int = self._listener.port

    @property
    def url(self) -> str:
        return self._listener.url

    def paths(self) -> list[tuple[str, str]]:
        """``(method, path)`` of every request so far, in order."""
        with self._lock:
            return [(r.method, r.path) for r in self.requests]

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> FakeIMDS:
        self._started = time.monotonic()
        if self.fault != "down":  # "down": bound, never listening, so connects are refused
            self._listener.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._listener.stop()

    def __enter__(self) -> FakeIMDS:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the API -------------------------------------------------------------

    def respond(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """Answer one request as IMDS with ``HttpTokens=required`` does."""
        low = {k.lower(): v for k, v in headers.items()}
        path = urlsplit(target).path
        text = {"Content-Type": "text/plain"}
        if self.fault == "500":
            return 500, text, b""
        if path == TOKEN_PATH:
            if method != "PUT":
                return 405, text, b""
            if "x-forwarded-for" in low:  # IMDS refuses tokens to proxied requests
                return 403, text, b""
            raw = low.get(TTL_HEADER.lower(), "").strip()
            if not raw.isdigit() or not 1 <= int(raw) <= MAX_TTL:
                return 400, text, b""
            token = secrets.token_urlsafe(42)
            with self._lock:
                self.tokens[token] = time.monotonic() + int(raw)
            return 200, {**text, TTL_HEADER: raw}, token.encode()
        if method not in ("GET", "HEAD"):
            return 405, text, b""
        sent = low.get(TOKEN_HEADER.lower(), "")
        with self._lock:
            expiry = self.tokens.get(sent)
        if expiry is None or expiry < time.monotonic():
            return 401, text, b""
        if path in ("/latest/meta-data", "/latest/meta-data/"):
            listing = sorted({k.split("/")[0] + ("/" if "/" in k else "") for k in self.values})
            return 200, text, "\n".join(listing).encode()
        prefix = "/latest/meta-data/"
        key = path[len(prefix) :] if path.startswith(prefix) else None
        if key is not None and key in self.values:
            return 200, text, self.values[key].encode()
        return 404, {"Content-Type": "text/html"}, _NOT_FOUND

    def _answer(
        self, role: str, method: str, target: str, headers: dict[str, str], client: tuple[str, int]
    ) -> tuple[int, dict[str, str], bytes] | None:
        path = urlsplit(target).path
        fault = self.fault
        if fault == "hang" or (fault == "hang-put" and method == "PUT"):
            with self._lock:
                self.requests.append(IMDSRequest(self.elapsed(), method, path, headers, 0))
            self._stopping.wait(3600)  # the answer never arrives
            return None
        status, out, body = self.respond(method, target, headers)
        with self._lock:
            self.requests.append(IMDSRequest(self.elapsed(), method, path, headers, status))
        return status, {"Server": "EC2ws", **out}, body

"""One HTTP listener for the fakes: the port is reserved at construction and
listens from ``start()`` (after an optional outage), so a fake can be "down"
(connections refused) with its address already known."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# (role, method, target, request headers, (client ip, client port)) -> answer, or None: never answer
Answer = tuple[int, dict[str, str], bytes] | None
Responder = Callable[[str, str, str, dict[str, str], tuple[str, int]], Answer]

MAX_REQUEST_BODY = 65536  # read and dropped: the fakes ignore bodies, as the agent does


class Listener:
    """``host:port`` (port 0 picks a free one), answered by ``responder``."""

    def __init__(
        self, host: str, port: int, responder: Responder, role: str, stopping: threading.Event
    ) -> None:
        self.host = host
        self.role = role
        self._stopping = stopping
        self._server = _Server((host, port), _Handler, bind_and_activate=False)
        self._server.responder = responder
        self._server.role = role
        self._server.server_bind()  # reserve the port now; listen later
        self.port: int = self._server.server_address[1]
        self._lock = threading.Lock()
        self._serving = False
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, down_for: float = 0.0) -> None:
        """Listen now, or after ``down_for`` seconds (refusing connections until then)."""
        if down_for <= 0:
            self._server.server_activate()  # listening before start() returns: no race
        self._thread = threading.Thread(
            target=self._run, args=(down_for,), name=f"fake-{self.role}", daemon=True
        )
        self._thread.start()

    def _run(self, down_for: float) -> None:
        if down_for > 0:
            if self._stopping.wait(down_for):
                return
            self._server.server_activate()
        with self._lock:
            if self._stopping.is_set():
                return
            self._serving = True
        self._server.serve_forever(poll_interval=0.05)

    def stop(self) -> None:
        """Close the port; the caller has set ``stopping`` first so hanging handlers return."""
        with self._lock:
            serving = self._serving
            self._serving = False
        if serving:
            self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # Go listens with SOMAXCONN, not socketserver's 5
    responder: Responder
    role: str

    def server_bind(self) -> None:
        if ":" in self.server_address[0]:
            self.address_family = socket.AF_INET6
            self.socket.close()
            self.socket = socket.socket(self.address_family, self.socket_type)
        super().server_bind()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Go's net/http sets TCP_NODELAY. With Nagle on, the body (a second send()
    # after the headers) waits for the client's delayed ACK: +40 ms on every
    # keep-alive request after the first.
    disable_nagle_algorithm = True
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _any(self) -> None:
        length = self.headers.get("Content-Length") or "0"
        if length.isdigit() and 0 < int(length) <= MAX_REQUEST_BODY:
            self.rfile.read(int(length))
        client = (str(self.client_address[0]), int(self.client_address[1]))
        out = self.server.responder(
            self.server.role, self.command, self.path, dict(self.headers.items()), client
        )
        if out is None:
            self.close_connection = True
            return
        status, headers, body = out
        self.send_response_only(status)
        self.send_header("Date", self.date_time_string())
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        if headers.get("Connection") == "close":
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _any

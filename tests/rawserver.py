"""A scriptable raw TCP server (loopback only, bounded loops): the one home of the
suite's byte-level HTTP fakes, for answers no well-behaved server would send."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Handler = Callable[[socket.socket, "RawServer"], None]


@dataclass
class RawServer:
    """Each accepted connection runs ``handler(conn, server)`` on its own thread.

    Loops are bounded: at most ``max_conns`` connections, and handlers give up on
    ``stop``. ``requests`` counts connections whose request line arrived;
    ``first_request_at`` is when the first one did (``time.monotonic()``), so a
    test can time a subprocess from its first request, without its start-up.
    """

    handler: Handler
    max_conns: int = 64
    requests: int = 0
    sent: int = 0
    first_request_at: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._lock = threading.Lock()

    def __enter__(self) -> RawServer:
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in list(self._threads):
            t.join(5)
        self.sock.close()

    def _accept(self) -> None:
        for _ in range(self.max_conns):
            while not self.stop.is_set():
                try:
                    conn, _ = self.sock.accept()
                    break
                except OSError:
                    continue
            else:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            try:
                data = b""
                while b"\r\n\r\n" not in data and len(data) < 65536:
                    piece = conn.recv(4096)
                    if not piece:
                        return
                    data += piece
                with self._lock:
                    self.requests += 1
                    if self.first_request_at is None:
                        self.first_request_at = time.monotonic()
                self.handler(conn, self)
            except OSError:
                pass

    def send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        with self._lock:
            self.sent += len(data)


def reply(data: bytes) -> Handler:
    def handler(conn: socket.socket, srv: RawServer) -> None:
        srv.send(conn, data)
        conn.shutdown(socket.SHUT_WR)

    return handler


def stream(head: bytes, piece: bytes, count: int, *, chunked: bool = False) -> Handler:
    """``head``, then ``piece`` ``count`` times (never built in memory as a whole)."""
    frame = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece

    def handler(conn: socket.socket, srv: RawServer) -> None:
        srv.send(conn, head)
        for _ in range(count):
            if srv.stop.is_set():
                return
            srv.send(conn, frame)
        if chunked:
            srv.send(conn, b"0\r\n\r\n")

    return handler


def drip(head: bytes, piece: bytes, every: float, seconds: float) -> Handler:
    """``head`` at once, then one ``piece`` every ``every`` s, for at most ``seconds``."""

    def handler(conn: socket.socket, srv: RawServer) -> None:
        srv.send(conn, head)
        for _ in range(int(seconds / every)):
            if srv.stop.wait(every):
                return
            srv.send(conn, piece)

    return handler


def silent(seconds: float) -> Handler:
    def handler(conn: socket.socket, srv: RawServer) -> None:
        srv.stop.wait(seconds)

    return handler


def reset(conn: socket.socket) -> None:
    """Make closing ``conn`` abort it with an RST instead of a FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def scripted(script: list[bytes]) -> Handler:
    """Send the pieces of ``script`` (read when a connection comes, so a test may fill it
    after the server started): bytes are sent, ``<SLEEPs>`` waits s seconds, ``<RESET>``
    aborts with RST."""

    def handler(conn: socket.socket, srv: RawServer) -> None:
        for piece in script:
            if piece == b"<RESET>":
                reset(conn)
                return
            if piece.startswith(b"<SLEEP"):
                if srv.stop.wait(float(piece[6:-1])):
                    return
                continue
            srv.send(conn, piece)

    return handler

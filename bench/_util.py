"""Shared helpers for the benchmarks: statistics, child environments, machine
facts, fake-agent set-up and a client-side log of every HTTP attempt."""

from __future__ import annotations

import contextlib
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

DOCKER_ID = "4a1ef3c1d2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9c0b1a2f3e4d5c6b7a8f9"
FAMILY, REVISION, CONTAINER = "bench", "7", "app"

PY = sys.executable
BIN = os.path.dirname(PY)
# The console script itself, not a version-manager shim in front of it (a pyenv
# shim is a bash script that adds tens of milliseconds to every start).
SHIM = os.path.join(BIN, "selfdiscover")


# -- statistics -----------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), p in [0, 100]."""
    if not values:
        return math.nan
    xs = sorted(values)
    if len(xs) == 1:
        return xs[0]
    k = (len(xs) - 1) * p / 100.0
    lo = math.floor(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


@dataclass
class Summary:
    n: int
    median: float
    p10: float
    p90: float
    mean: float
    min: float
    max: float

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        nan = math.nan
        return Summary(0, nan, nan, nan, nan, nan, nan)
    return Summary(
        n=len(values),
        median=statistics.median(values),
        p10=percentile(values, 10),
        p90=percentile(values, 90),
        mean=statistics.fmean(values),
        min=min(values),
        max=max(values),
    )


def ms(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x * 1000:.1f}"


# -- environment ------------------------------------------------------------------


PYCACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "pycache")


def scrubbed_env(**extra: str) -> dict[str, str]:
    """os.environ without ECS_*/AWS_*/SELFDISCOVER_* (nothing leaks in from the
    host), plus ``extra``.

    Bytecode: this machine sets PYTHONDONTWRITEBYTECODE=1, so a module edited
    since its last .pyc would be recompiled by every child (3 ms for cli.py).
    Real images ship compiled bytecode; children here cache theirs under
    bench/out/pycache (PYTHONPYCACHEPREFIX) instead, which the warm-up rounds
    fill and which leaves the source tree alone.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ECS_", "AWS_", "SELFDISCOVER_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    env.update(extra)
    return env


def shim_env(url: str, **extra: str) -> dict[str, str]:
    """What a shim child gets: the fake agent's URL, a fixed container ID (no
    /proc cgroup parsing), and only the explicit-URL source, so no request can
    leave 127.0.0.1."""
    return scrubbed_env(
        SELFDISCOVER_AGENT_URL=url,
        SELFDISCOVER_DOCKER_ID=DOCKER_ID,
        SELFDISCOVER_SOURCES="agent-url",
        **extra,
    )


def site_packages() -> str:
    import urllib3

    return os.path.dirname(os.path.dirname(urllib3.__file__))


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import urllib3

    try:
        from importlib.metadata import version

        tenacity_version = version("tenacity")
    except Exception:  # pragma: no cover - informational only
        tenacity_version = "?"
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "python_impl": platform.python_implementation(),
        "kernel": platform.release(),
        "urllib3": urllib3.__version__,
        "tenacity": tenacity_version,
        "loadavg_at_start": [round(x, 2) for x in load],
        "executable": PY,
    }


def tool_version(argv: list[str]) -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else None


# -- the fake agent -------------------------------------------------------------


def make_agent(behaviour: Any = None, *, go_like: bool = True) -> Any:
    """A fake agent serving one task whose one container is DOCKER_ID.

    ``go_like``: give this agent's sockets what the real agent (Go net/http)
    has: TCP_NODELAY on every connection and a SOMAXCONN listen backlog. As
    shipped, the fake writes a response's headers and body in two send()s with
    Nagle on, so on every keep-alive request after the first the body waits for
    the client's delayed ACK (~40 ms on Linux); and it listens with a backlog
    of 5. The bench reports the shipped behaviour separately.
    """
    from selfdiscover.testing import FakeAgent, FakeContainer, _serve

    agent = FakeAgent("127.0.0.1", 0, behaviour=behaviour)
    if go_like:
        for listener in (agent._v1_listener, agent._tmds_listener):  # introspection and TMDS
            server = listener._server
            server.RequestHandlerClass = type(
                "GoLikeHandler", (_serve._Handler,), {"disable_nagle_algorithm": True}
            )
            server.request_queue_size = socket.SOMAXCONN  # read by listen() in server_activate()
    agent.add_task(FAMILY, REVISION, [FakeContainer(CONTAINER, DOCKER_ID)])
    return agent


@contextlib.contextmanager
def running(agent: Any) -> Iterator[Any]:
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()


# -- what the client tried -------------------------------------------------------


@dataclass(frozen=True)
class AttemptEvent:
    at: float  # time.monotonic()
    port: int
    path: str
    outcome: str  # "200", "404", "refused", ...


@dataclass
class AttemptLog:
    """Wraps ``selfdiscover.sources._http.get`` (in this process only) to see every
    attempt, including refused connects the fake agent never sees."""

    events: list[AttemptEvent] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextlib.contextmanager
    def installed(self) -> Iterator[AttemptLog]:
        from urllib.parse import urlsplit

        from selfdiscover.sources import _http

        original = _http.get

        def get(base_url: str, path: str, **kw: Any) -> Any:
            t = time.monotonic()
            outcome = "error"
            try:
                resp = original(base_url, path, **kw)
                outcome = str(resp.status)
                return resp
            except Exception as e:
                text = str(e)
                outcome = (
                    "refused"
                    if "refused" in text
                    else "timeout"
                    if "timed out" in text
                    else "reset"
                    if "reset" in text
                    else type(e).__name__
                )
                raise
            finally:
                port = urlsplit(base_url).port or 80
                with self._lock:
                    self.events.append(AttemptEvent(t, port, path, outcome))

        _http.get = get  # type: ignore[assignment]
        try:
            yield self
        finally:
            _http.get = original  # type: ignore[assignment]

    def for_port(self, port: int) -> list[AttemptEvent]:
        with self._lock:
            return [e for e in self.events if e.port == port]


def buckets(times: Sequence[float], width: float, start: float, end: float) -> list[int]:
    """Counts of ``times`` (seconds) in [start, end) split into ``width`` buckets."""
    n = max(1, math.ceil((end - start) / width - 1e-9))
    out = [0] * n
    for t in times:
        if start <= t < end:
            out[min(n - 1, int((t - start) / width))] += 1
    return out

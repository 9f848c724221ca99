"""Time in tests: bounds that measure the code, not the machine, and readiness instead of sleeps.

A deadline is what the code controls; what the machine adds on top (a thread woken late, a
CPU shared with busy neighbours, an interpreter starting) is not. So a bound is the deadline
plus ``slack()``, a margin scaled from the same work measured in the same test; a subprocess
is timed from its first request (``RawServer.first_request_at``, ``first_request_at()``),
after its start-up; and a test that signals a process first waits until it catches the
signal (``wait_until_caught``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from selfdiscover import Retry, Timeout
from selfdiscover.sources._agent import AgentClient
from selfdiscover.testing import FakeAgent, random_docker_id

# What a loaded machine adds to any bound, at the least (a few late wake-ups, an exit).
FLOOR = 0.3
# Times the baseline round trip: the work around a deadline is a few such round trips.
FACTOR = 5


def baseline(work: Callable[[], object], runs: int = 5) -> float:
    """The median wall time of ``work``: what it costs on this machine right now."""
    took = []
    for _ in range(runs):
        t0 = time.monotonic()
        work()
        took.append(time.monotonic() - t0)
    return statistics.median(took)


def slack() -> float:
    """The margin over a deadline that holds on this machine now: ``FLOOR`` plus ``FACTOR``
    times one healthy introspection round trip (client and fake agent on loopback, the
    same code and threads a deadline test runs), measured when called."""
    did = random_docker_id()
    with FakeAgent() as agent:
        agent.add_container_task(did)
        client = AgentClient(agent.url, timeout=Timeout(total=5), retry=Retry(enabled=False))
        client.task_by_docker_id(did)  # connect once: the pool is warm, as in a retry loop
        return FLOOR + FACTOR * baseline(lambda: client.task_by_docker_id(did))


def first_request_at(agent: FakeAgent) -> float:
    """When ``agent`` answered its first request, as a ``time.monotonic()`` value."""
    assert agent.requests, "the agent was never asked"
    return time.monotonic() - agent.elapsed() + agent.requests[0].at


def _status(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.rstrip("\n").partition(":")[::2] for line in f)
    except FileNotFoundError:
        fields = {}
    if not fields or fields.get("State", "").strip().startswith(("Z", "X")):
        raise AssertionError(f"process {pid} ended")
    return fields


def catches(pid: int, sig: int) -> bool:
    """Whether process ``pid`` has a handler for ``sig`` (its SigCgt mask in /proc)."""
    return bool(int(_status(pid)["SigCgt"], 16) & (1 << (sig - 1)))


def wait_until_caught(pid: int, *sigs: int, timeout: float = 30) -> None:
    """Wait until ``pid`` has a handler for every one of ``sigs``: a signal sent before
    that tests the interpreter's start-up, not the code. Polls every 10 ms, at most
    ``timeout`` s; a process that ends first fails the test. (A process started with one of
    ``sigs`` ignored may rightly keep it so, as the shim does: start it behind
    ``sigkit.DEFAULT_SIGNALS``.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(catches(pid, sig) for sig in sigs):
            return
        time.sleep(0.01)
    ignored = int(_status(pid)["SigIgn"], 16)
    kept = [sig for sig in sigs if ignored & (1 << (sig - 1))]
    why = f"; it ignores {kept}: was it started with them ignored (nohup, `&`)?" if kept else ""
    raise AssertionError(f"process {pid} did not catch signals {sigs} within {timeout}s{why}")

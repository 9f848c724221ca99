"""Figures 3, 4 and 5: time to ready after an outage, requests per discovery,
and a herd of shims against one agent.

In-process runs call ``selfdiscover.discover()`` in threads, each against its
own ``FakeAgent`` on 127.0.0.1 (figure 5: fifty threads, one agent). Refused
connects never reach the fake, so every attempt is also logged client-side by
wrapping ``selfdiscover.sources._http.get`` in this process (``AttemptLog``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from _util import (
    CONTAINER,
    DOCKER_ID,
    SHIM,
    AttemptLog,
    buckets,
    make_agent,
    percentile,
    shim_env,
    summarize,
)

from selfdiscover import discover
from selfdiscover.testing import Behaviour


def _discover(url: str, **kw: Any) -> Any:
    """discover() pinned to one URL, a fixed ID, and an empty environment: no
    variable of this machine can steer it, and no other source applies."""
    kw.setdefault("docker_id", DOCKER_ID)
    kw.setdefault("sources", ["agent-url"])
    kw.setdefault("environ", {})
    return discover(agent_url=url, **kw)


@contextlib.contextmanager
def _quiet_pool_warnings() -> Iterator[list[logging.LogRecord]]:
    """Count urllib3's pool warnings instead of printing them."""
    seen: list[logging.LogRecord] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    lg = logging.getLogger("urllib3")
    h = _Keep(logging.WARNING)
    old = lg.propagate
    lg.addHandler(h)
    lg.propagate = False
    try:
        yield seen
    finally:
        lg.removeHandler(h)
        lg.propagate = old


def _bound(ts: Sequence[float]) -> dict[str, float]:
    s = summarize(ts)
    return {"median": s.median, "p10": s.p10, "p90": s.p90, "max": s.max, "n": s.n}


# -- figure 3 (and the outage half of figure 4): time to ready --------------------


def ttr_inprocess(ts: Sequence[float], repeats: int) -> dict[str, Any]:
    """All (T, repeat) pairs at once, one thread and one agent each."""
    log = AttemptLog()
    runs: list[dict[str, Any]] = []
    lock = threading.Lock()
    jobs = [(t, make_agent(Behaviour(down_for=t))) for t in ts for _ in range(repeats)]

    def one(t: float, agent: Any) -> None:
        agent.start()
        try:
            info = _discover(agent.url)
            end = time.monotonic()
            ok = info.family is not None
        except Exception as e:  # recorded, not raised: one failure must not hide the rest
            end, ok = time.monotonic(), False
            info = e
        attempts = log.for_port(agent.port)
        with lock:
            runs.append(
                {
                    "T": t,
                    "ok": ok,
                    "overshoot": end - agent._started - t,
                    "attempts": len(attempts),
                    "attempts_during_outage": sum(1 for a in attempts if a.at - agent._started < t),
                    "served": len(agent.requests),
                }
            )

    with log.installed(), _quiet_pool_warnings():
        threads = [threading.Thread(target=one, args=job, daemon=True) for job in jobs]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=max(ts) + 30)
        for _, agent in jobs:
            agent.stop()
    out: dict[str, Any] = {}
    for t in ts:
        rs = [r for r in runs if r["T"] == t]
        out[str(t)] = {
            "runs": len(rs),
            "failures": sum(1 for r in rs if not r["ok"]),
            "overshoot": _bound([r["overshoot"] for r in rs]),
            "attempts_during_outage": _bound([r["attempts_during_outage"] for r in rs]),
            "attempts_total": _bound([r["attempts"] for r in rs]),
            "served_requests": _bound([r["served"] for r in rs]),
            "target_s": 0.1 * t + 0.1,
        }
    return out


def ttr_subprocess(ts: Sequence[float], groups: dict[float, int], concurrency: int) -> dict[str, Any]:
    """``selfdiscover exec --no-env-file -- true`` started right after its agent,
    ``concurrency`` at a time (each with its own agent) when T >= 2: start-up
    (~0.1 s of CPU) finishes well inside the outage, so a few at once on two
    cores do not move the figure. For shorter T, one at a time."""
    out: dict[str, Any] = {}
    for t in ts:
        rows: list[dict[str, float]] = []
        if t < 2:
            reps, concurrency_t = groups.get(t, 1) * concurrency, 1
        else:
            reps, concurrency_t = groups.get(t, 1), concurrency
        for _ in range(reps):
            agents = [make_agent(Behaviour(down_for=t)) for _ in range(concurrency_t)]
            procs: list[tuple[Any, subprocess.Popen[bytes]]] = []
            ends: dict[int, float] = {}

            def wait(i: int, p: subprocess.Popen[bytes], ends: dict[int, float] = ends) -> None:
                # A blocking waitpid, not wait(timeout=...): with a timeout, Popen
                # polls with sleeps growing to 50 ms, which would add up to 50 ms
                # to the figure. Bounded all the same: the join below times out
                # and the child is killed, which ends this wait.
                try:
                    p.wait()
                finally:
                    ends[i] = time.monotonic()

            waiters = []
            try:
                for a in agents:
                    a.start()
                    p = subprocess.Popen(
                        [SHIM, "exec", "--no-env-file", "--", "true"],
                        env=shim_env(a.url),
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    procs.append((a, p))
                for i, (_, p) in enumerate(procs):
                    w = threading.Thread(target=wait, args=(i, p), daemon=True)
                    w.start()
                    waiters.append(w)
                for w in waiters:
                    w.join(timeout=t + 30)
            finally:
                for _, p in procs:
                    if p.poll() is None:
                        p.kill()
                        p.wait(timeout=10)
                for a in agents:
                    a.stop()
            for i, (a, p) in enumerate(procs):
                answered = max((r.at for r in a.requests), default=float("nan"))
                rows.append(
                    {
                        "rc": float(p.returncode),
                        "wall_overshoot": ends[i] - a._started - t,
                        "answer_overshoot": answered - t,
                        "served": float(len(a.requests)),
                    }
                )
        out[str(t)] = {
            "runs": len(rows),
            "failures": sum(1 for r in rows if r["rc"] != 0),
            "wall_overshoot": _bound([r["wall_overshoot"] for r in rows]),
            "answer_overshoot": _bound([r["answer_overshoot"] for r in rows]),
            "served_requests": _bound([r["served"] for r in rows]),
            "target_s": 0.1 * t + 0.1,
        }
    return out


# -- figure 4: requests per discovery ------------------------------------------------


def requests_healthy(repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    empty_proc = tempfile.mkdtemp(prefix="sd-bench-proc-")  # no cgroup file: own ID unknown
    try:
        agent = make_agent()
        with contextlib.ExitStack() as stack:
            agent.start()
            stack.callback(agent.stop)
            container = agent.tasks[0].containers[0]
            v4 = agent.metadata_uri(container, 4)
            cases: dict[str, dict[str, Any]] = {
                "introspection (agent URL, own ID known)": {},
                "TMDE v4, own ID known": {
                    "sources": ["tmde-v4"],
                    "environ": {"ECS_CONTAINER_METADATA_URI_V4": v4},
                },
                "TMDE v4, own ID unknown": {
                    "sources": ["tmde-v4"],
                    "environ": {"ECS_CONTAINER_METADATA_URI_V4": v4},
                    "docker_id": None,
                    "proc_root": empty_proc,
                },
            }
            minimum = {
                "introspection (agent URL, own ID known)": 2,
                "TMDE v4, own ID known": 1,
                "TMDE v4, own ID unknown": 2,
            }
            for name, kw in cases.items():
                counts = []
                paths: set[str] = set()
                for _ in range(repeats):
                    before = len(agent.requests)
                    info = _discover(agent.url, **kw)
                    assert info.family, info
                    new = agent.requests[before:]
                    counts.append(len(new))
                    paths.update(f"{r.path}{'?' + r.query.split('=')[0] if r.query else ''}" for r in new)
                    if name.startswith("TMDE"):
                        assert info.container_name == CONTAINER, info
                out[name] = {
                    "counts": sorted(set(counts)),
                    "minimum": minimum[name],
                    "exact": set(counts) == {minimum[name]},
                    "paths": sorted(paths),
                    "runs": repeats,
                }
    finally:
        os.rmdir(empty_proc)
    return out


def requests_outage(t: float, repeats: int) -> dict[str, Any]:
    """Outages the fake sees (it answers): 5xx, 404 (the start-up race), 429."""
    kinds = {
        "HTTP 500": Behaviour(error_for=t),
        "HTTP 404 (not recorded yet)": Behaviour(not_found_for=t),
        "HTTP 429": Behaviour(throttle_for=t),
    }
    res: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    lock = threading.Lock()

    def one(kind: str, behaviour: Behaviour) -> None:
        agent = make_agent(behaviour)
        agent.start()
        try:
            _discover(agent.url)
            end = time.monotonic()
            during = sum(1 for r in agent.requests if r.at < t)
            with lock:
                res[kind].append(
                    {
                        "during": float(during),
                        "total": float(len(agent.requests)),
                        "overshoot": end - agent._started - t,
                    }
                )
        finally:
            agent.stop()

    with _quiet_pool_warnings():
        threads = [
            threading.Thread(target=one, args=(k, b), daemon=True)
            for k, b in kinds.items()
            for _ in range(repeats)
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=t + 30)
    return {
        k: {
            "T": t,
            "requests_during_outage": _bound([r["during"] for r in rs]),
            "requests_total": _bound([r["total"] for r in rs]),
            "overshoot": _bound([r["overshoot"] for r in rs]),
        }
        for k, rs in res.items()
    }


def _one_outage(t: float) -> tuple[int, float]:
    """(attempts that started inside an outage of ``t`` s, overshoot) for one
    run of the shipped policy, ``selfdiscover.sources._retry.call`` itself, on a
    virtual clock. Attempts take no time (loopback: well under 1 ms), so
    nothing here measures the machine."""
    from selfdiscover import Retry
    from selfdiscover._errors import RetryableError
    from selfdiscover.sources._retry import call

    now, attempts = [0.0], [0]

    def attempt() -> float:
        attempts[0] += 1
        if now[0] < t:
            raise RetryableError("refused")
        return now[0]

    def sleep(s: float) -> None:
        now[0] += s

    ready = call(attempt, deadline=t + 60.0, retry=Retry(), clock=lambda: now[0], sleep=sleep)
    return attempts[0] - 1, ready - t


def _simulate(t: float, samples: int, seed: int) -> list[tuple[int, float]]:
    state = random.getstate()
    random.seed(seed)  # tenacity draws from the global generator
    try:
        return [_one_outage(t) for _ in range(samples)]
    finally:
        random.setstate(state)


def simulated_attempts(t: float, samples: int = 1000) -> dict[str, float]:
    """Attempts that start inside an outage of ``t`` s under the shipped policy."""
    counts = [float(n) for n, _ in _simulate(t, samples, seed=1)]
    s = summarize(counts)
    return {"mean": s.mean, "p99": percentile(counts, 99), "max": s.max}


def simulated_overshoot(t: float, samples: int = 1000) -> dict[str, Any]:
    """Overshoot past an outage of ``t`` s under the shipped policy: the
    residual of the wait the outage ends in."""
    return _bound([o for _, o in _simulate(t, samples, seed=2)])


# -- figure 5: herd --------------------------------------------------------------------


@contextlib.contextmanager
def _no_jitter() -> Iterator[None]:
    """Counterfactual only: every random wait becomes its upper bound, as a
    plain exponential backoff without jitter would be."""
    original = random.uniform
    random.uniform = lambda a, b: b  # type: ignore[assignment]
    try:
        yield
    finally:
        random.uniform = original  # type: ignore[assignment]


def herd(n: int, down: float, *, jitter: bool = True, go_like: bool = True) -> dict[str, Any]:
    agent = make_agent(Behaviour(down_for=down), go_like=go_like)
    log = AttemptLog()
    barrier = threading.Barrier(n + 1)
    ready: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait(timeout=30)
        try:
            _discover(agent.url)
            end = time.monotonic()
            with lock:
                ready.append(end - agent._started)
        except Exception as e:
            with lock:
                errors.append(str(e)[:200])

    ctx = contextlib.nullcontext() if jitter else _no_jitter()
    with ctx, log.installed(), _quiet_pool_warnings() as pool_warnings:
        threads = [threading.Thread(target=worker, daemon=True) for _ in range(n)]
        for th in threads:
            th.start()
        agent.start()
        barrier.wait(timeout=30)
        for th in threads:
            th.join(timeout=down + 30)
        agent.stop()
        warnings = len(pool_warnings)

    t0 = agent._started
    attempts = [e.at - t0 for e in log.events]
    outcomes: dict[str, int] = {}
    for e in log.events:
        outcomes[e.outcome] = outcomes.get(e.outcome, 0) + 1
    served = [r.at for r in agent.requests]
    end = max([*attempts, *served, down + 0.1])

    def profile(times: list[float]) -> dict[str, Any]:
        b1 = buckets(times, 1.0, 0.0, end + 1e-9)
        b01 = buckets(times, 0.1, 0.0, end + 1e-9)
        return {
            "total": len(times),
            "peak_per_s_1s_buckets": max(b1) if b1 else 0,
            "peak_per_s_100ms_buckets": 10 * max(b01) if b01 else 0,
            "buckets_1s": b1,
            "buckets_100ms": b01,
        }

    # The first attempt is synchronized by construction (all started together);
    # waves would show as spikes in the 100 ms buckets after it.
    window = buckets(attempts, 0.1, 0.5, down)
    mean = sum(window) / len(window) if window else 0.0
    var = sum((x - mean) ** 2 for x in window) / len(window) if window else 0.0
    return {
        "n": n,
        "down_s": down,
        "jitter": jitter,
        "go_like_sockets": go_like,
        "ready": len(ready),
        "errors": errors[:3],
        "error_count": len(errors),
        "ttr_p50": percentile(ready, 50),
        "ttr_p99": percentile(ready, 99),
        "ttr_max": max(ready) if ready else float("nan"),
        "ttr_after_up_p50": percentile(ready, 50) - down,
        "ttr_after_up_p99": percentile(ready, 99) - down,
        "attempt_outcomes": outcomes,
        "attempts": profile(attempts),
        "served": profile(served),
        "outage_window_100ms": {
            "from_s": 0.5,
            "to_s": down,
            "max": max(window) if window else 0,
            "mean": mean,
            "max_over_mean": (max(window) / mean) if mean else float("nan"),
            "cv": (var**0.5 / mean) if mean else float("nan"),
        },
        "urllib3_pool_full_warnings": warnings,
    }

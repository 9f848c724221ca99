"""``selfdiscover doctor``: everything discovery would try, tried once each, in
plain words, with a hint for each failure. Run it inside the misbehaving
container; exit 0 only when discovery works and every answer agrees, 68
(as ``show``) when nothing says this is ECS at all."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import TextIO

from ._discover import _make_sources, make_context, source_order
from ._errors import EnvFileError
from ._files import read_bounded
from ._model import TaskInfo, disagreements
from ._model._variables import to_variables
from ._outputs._shim import EX_NOTECS
from .sources._ladder import Context, Ladder

_SKIP_REASONS = {
    "agent-url": "SELFDISCOVER_AGENT_URL is not set (or no container ID)",
    "tmde-v4": "ECS_CONTAINER_METADATA_URI_V4 is not set (agent older than 1.39, or not ECS)",
    "tmde-v3": "ECS_CONTAINER_METADATA_URI is not set (agent older than 1.21, or not ECS)",
    "metadata-file": "ECS_CONTAINER_METADATA_FILE is not set (ECS_ENABLE_CONTAINER_METADATA is off)",
    "agent-localhost": "no container ID to ask about, or an explicit agent URL replaces it",
    "agent-gateway": "no evidence of ECS, no default route in /proc/net/route, or no container ID",
}


def hint(source: str, detail: str, ctx: Context) -> str:
    d = detail.lower()
    if source == "agent-gateway" and ("timed out" in d or "refused" in d):
        return (
            "bridge mode and the gateway drops port 51678: set ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS=true "
            "on the instance, or rely on the v4 endpoint"
        )
    if source == "agent-localhost" and ("refused" in d or "timed out" in d):
        return "the agent listens on the host: localhost reaches it only in host network mode"
    if "404" in d and source.startswith("agent"):
        if ctx.identity.rule.startswith("mountinfo"):
            return (
                "the agent does not know this ID; an ID from mountinfo may be another container's "
                "(shared network namespace): set SELFDISCOVER_DOCKER_ID or use the v4 endpoint"
            )
        return "the agent does not know this container (yet): not an ECS task, or the start-up race"
    if source.startswith("tmde") and ("404" in d or "500" in d):
        return "the endpoint does not know this container yet (start-up race) or the URI is stale"
    if "429" in d:
        return "throttled by the task metadata endpoint (40 requests/s per path): something polls it hard"
    if "not ready" in d:
        return "the agent has not marked the metadata file READY yet (usually within a second of start)"
    if "refused" in d:
        return "nothing listens there"
    if "timed out" in d:
        return "packets are dropped (firewall) or the server hangs"
    return "see the detail"


def _ports(info: TaskInfo) -> str:
    shown = [
        f"{p.container_port}/{p.protocol}->{p.host_ip + ':' if p.host_ip else ''}{p.host_port or 'unbound'}"
        for p in info.ports
    ]
    return ", ".join(shown) or "none"


def network_section(answers: list[TaskInfo], host: TaskInfo, imds_on: bool) -> str:
    """Mode, addresses and ports as each answering source reports them: the
    sources carry different subsets (v1 has no bridge addresses, TMDE has no
    awsvpc bindings), so which one said what is the diagnosis."""
    lines = ["\nnetwork (per source):\n"]
    for a in answers:
        lines.append(
            f"  {a.source}: mode {a.network_mode or 'unknown'}; "
            f"IPv4 {', '.join(a.ipv4_addresses) or 'none'}; IPv6 {', '.join(a.ipv6_addresses) or 'none'}; "
            f"DNS {a.private_dns_name or 'none'}; ports {_ports(a)}\n"
        )
    if host.host_ipv4:
        lines.append(f"  host IPv4: {host.host_ipv4}\n")
    else:
        why = "IMDS did not answer" if imds_on else "SELFDISCOVER_IMDS=1 asks the instance metadata service"
        lines.append(f"  host IPv4: unknown (no metadata file gave it; {why})\n")
    lines.extend(f"  warning: {m}\n" for m in host.warnings)
    return "".join(lines)


def _pid1_note(proc_root: str) -> str:
    if os.getpid() == 1:
        return "this process is PID 1 (no init): the shim execs, so the app becomes PID 1"
    name = _pid1_name(proc_root)
    return f"PID 1 is {name!r}" if name else "PID 1 unknown (cannot read its name)"


def _pid1_name(proc_root: str) -> str | None:
    """PID 1's name: psutil's, if installed (the ``doctor`` extra) and looking
    at this /proc; else the kernel's ``comm``, which is cut at 15 bytes."""
    if os.path.realpath(proc_root) == "/proc":
        try:
            import psutil  # optional, and only the doctor pays for it

            return psutil.Process(1).name() or None
        except Exception:  # not installed, or PID 1 not visible: the file below says
            pass
    text = read_bounded(os.path.join(proc_root, "1", "comm"), 64)  # bounded: a hostile /proc cannot flood us
    return (text or "").strip() or None


def run_doctor(
    out: TextIO,
    *,
    agent_url: str | None,
    timeout: float | None,
    docker_id: str | None,
    prefix: str = "ECS_",
    environ: Mapping[str, str] | None = None,
    proc_root: str = "/proc",
) -> int:
    env = os.environ if environ is None else environ
    try:
        ctx = make_context(
            agent_url=agent_url, timeout=timeout, docker_id=docker_id, proc_root=proc_root, environ=env
        )
        sources = _make_sources(source_order(env))
    except ValueError as e:
        out.write(f"configuration error: {e}\n")
        return 2

    w = out.write
    ident = ctx.identity
    w(f"container ID: {ident.container_id or 'not found'} (rule: {ident.rule})\n  {ident.detail}\n")
    w("evidence of ECS: " + ("; ".join(ctx.evidence) if ctx.evidence else "none") + "\n")
    w(f"process: {_pid1_note(proc_root)}\n")
    w(f"deadline per source here: {min(ctx.timeout.total, 5.0):g}s\n\nsources, in order:\n")

    ladder = Ladder(sources)
    per_source = min(ctx.timeout.total, 5.0)
    for src in sources:
        if not src.targets(ctx):
            w(f"  - {src.name}: skipped: {_SKIP_REASONS.get(src.name, 'does not apply')}\n")
    attempts = ladder.survey(ctx, time.monotonic() + per_source * 20, per_attempt=per_source)
    for a in attempts:
        ms = a.elapsed * 1000
        if a.info is None:
            w(f"  x {a.source} {a.target}: {a.detail} ({ms:.0f} ms)\n")
            w(f"    hint: {hint(a.source, a.detail, ctx)}\n")
        else:
            w(f"  + {a.source} {a.target}: {a.info.task_definition} {a.info.arn} ({ms:.0f} ms)\n")
    answers = [a.info for a in attempts if a.info is not None]
    problems: list[str] = []

    if not answers:
        if not ctx.in_ecs:
            w(
                "\nresult: not ECS: nothing here says this is an ECS task (no ECS metadata variables, no ECS "
                "cgroup path, no agent URL given), so there is nothing to discover and nothing is broken. "
                "To try selfdiscover here, run 'selfdiscover fake-agent' and point SELFDISCOVER_AGENT_URL "
                "and SELFDISCOVER_DOCKER_ID at it.\n"
            )
            return EX_NOTECS
        w("\nresult: FAILED: no source answered\n")
        return 1
    first = answers[0]
    problems = [
        f"{other.source} says {field}={theirs!r}, {first.source} says {mine!r}"
        for other in answers[1:]
        for field, mine, theirs in disagreements(first, other)
    ]
    w(f"\nanswer (from {first.source}):\n")
    from ._outputs import envfile

    try:
        for line in envfile.render(to_variables(first, prefix), "docker").splitlines():
            w(f"  {line}\n")
    except EnvFileError as e:
        w(f"\nresult: FAILED: the answer cannot be written as an env file: {e}\n")
        return 1
    from ._discover import complete_host_address
    from .sources import imds

    host = complete_host_address(first, ctx, time.monotonic() + min(ctx.timeout.total, 5.0))
    w(network_section(answers, host, imds.enabled(env)))
    if problems:
        w("\nresult: FAILED: the sources disagree:\n" + "".join(f"  {p}\n" for p in problems))
        return 1
    w(f"\nresult: OK ({len(answers)} source(s) answered and agree)\n")
    return 0

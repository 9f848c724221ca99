"""``selfdiscover doctor``: everything discovery would try, tried once each, in
plain words, with a hint for each failure. Run it inside the misbehaving
container; exit 0 only when discovery works and every answer agrees, 68
(as ``show``) when nothing says this is ECS at all."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import TextIO

from ._discover import make_context
from ._errors import EnvFileError
from ._files import read_bounded
from ._limits import EffectiveLimits, KernelLimits, combine, kernel_limits
from ._model import TaskInfo, disagreements
from ._model._fields import MIB
from ._model._variables import limit_variables, to_variables
from ._outputs._shim import EX_NOTECS
from ._settings import Settings, read
from .sources import make_sources
from .sources._ladder import Context, Ladder, Source


def hint(src: Source, detail: str, ctx: Context) -> str:
    """The source's own reading of a failure first, then what any failure says."""
    d = detail.lower()
    specific = src.hint(d, ctx)
    if specific:
        return specific
    if "429" in d:
        return "throttled by the task metadata endpoint (40 requests/s per path): something polls it hard"
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


def limits_section(info: TaskInfo | None, limits: EffectiveLimits, kernel: KernelLimits) -> str:
    """The figures ``ECS_CPU_LIMIT``, ``ECS_CPU_COUNT`` and ``ECS_MEMORY_LIMIT`` come from, each with
    its source, and the limits that exist but that this container cannot see or that are no limit."""
    lines = ["\nsize (effective limits):\n"]
    if limits.cpu is None:
        lines.append("  CPU limit: none (no CPU quota here, no task Limits.CPU)\n")
    else:
        lines.append(f"  CPU limit: {limits.cpu:g} vCPU, from {limits.cpu_source}\n")
    lines.append(f"  CPU count: {limits.cpu_count} (the {kernel.affinity} CPU(s) this process may run on")
    lines.append(", lowered to the limit rounded up)\n" if limits.cpu_count < kernel.affinity else ")\n")
    if limits.memory is None:
        lines.append("  memory limit: none\n")
    else:
        lines.append(f"  memory limit: {limits.memory // MIB} MiB, from {limits.memory_source}\n")
    if info is not None and info.task_cpu and kernel.cpu is None:
        lines.append(
            "  note: the task's CPU limit is on the task's cgroup, which this container cannot see: tools "
            "that read cgroups alone (Go's runtime, automaxprocs, .NET) see no limit; --set-cpu-count "
            "tells Python 3.13+ and Go\n"
        )
    # The agent reports a container cpu below 2 (unset included) as 2: only more is the operator's.
    if info is not None and info.container_cpu and info.container_cpu > 2 and not info.task_cpu:
        lines.append(
            f"  note: the container's cpu ({info.container_cpu} units) is CPU shares, a relative weight "
            "under contention, not a limit; set the task's cpu for a hard limit\n"
        )
    lines.extend(f"  note: {n}\n" for n in kernel.notes)
    return "".join(lines)


def otel_section(info: TaskInfo) -> str:
    """What ``--set-otel-resource`` would add to ``OTEL_RESOURCE_ATTRIBUTES``, and each entry it
    would leave out because some OpenTelemetry SDK would reject it (and with it the whole variable)."""
    from . import _otelenv

    value, notes = _otelenv.encode(_otelenv.resource_attributes(info))
    count = len(value.split(",")) if value else 0
    lines = [f"\nOpenTelemetry (--set-otel-resource): {count} attribute(s) for {_otelenv.VARIABLE}\n"]
    lines.extend(f"  note: {n}\n" for n in notes)
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
    settings: Settings | None = None,
    *,
    docker_id: str | None = None,
    environ: Mapping[str, str] | None = None,
    proc_root: str = "/proc",
    sys_root: str = "",
) -> int:
    """Write the report to ``out``; return the exit code. ``settings``
    default to those ``environ`` sets; ``proc_root`` and ``sys_root`` (a prefix
    for the cgroup mounts) point it at another machine's files."""
    env = os.environ if environ is None else environ
    try:
        if settings is None:
            settings = read(env)
        ctx = make_context(settings, docker_id=docker_id, proc_root=proc_root, environ=env)
        sources = make_sources(settings.sources)
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
            w(f"  - {src.name}: skipped: {src.skipped}\n")
    by_name = {src.name: src for src in sources}
    attempts = ladder.survey(ctx, time.monotonic() + per_source * 20, per_attempt=per_source)
    for a in attempts:
        ms = a.elapsed * 1000
        if a.info is None:
            w(f"  x {a.source} {a.target}: {a.detail} ({ms:.0f} ms)\n")
            w(f"    hint: {hint(by_name[a.source], a.detail, ctx)}\n")
        else:
            w(f"  + {a.source} {a.target}: {a.info.task_definition} {a.info.arn} ({ms:.0f} ms)\n")
    answers = [a.info for a in attempts if a.info is not None]
    problems: list[str] = []
    kernel = kernel_limits(proc_root, sys_root)  # read once, for the answer and the size section

    if not answers:
        w(limits_section(None, combine(kernel, None, env, settings.prefix), kernel))
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

    limits = combine(kernel, first, env, settings.prefix)
    try:
        variables = {**to_variables(first, settings.prefix), **limit_variables(limits, settings.prefix)}
        for line in envfile.render(variables, "docker").splitlines():
            w(f"  {line}\n")
    except EnvFileError as e:
        w(f"\nresult: FAILED: the answer cannot be written as an env file: {e}\n")
        return 1
    from ._discover import complete_host_address

    host = complete_host_address(first, ctx, time.monotonic() + min(ctx.timeout.total, 5.0))
    w(network_section(answers, host, ctx.settings.imds))
    w(limits_section(first, limits, kernel))
    w(otel_section(first))
    from ._protection import doctor_lines

    w("".join(f"{line}\n" for line in ["", *doctor_lines(env, time.monotonic() + per_source)]))
    if problems:
        w("\nresult: FAILED: the sources disagree:\n" + "".join(f"  {p}\n" for p in problems))
        return 1
    w(f"\nresult: OK ({len(answers)} source(s) answered and agree)\n")
    return 0

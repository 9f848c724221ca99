"""The ``selfdiscover`` command line: it parses and dispatches.

Every option of ``exec``, ``write``, ``show``, ``doctor`` and ``agent`` can
also be set with a ``SELFDISCOVER_*`` variable, so a Dockerfile can configure
the shim with ``ENV`` alone. The options default to "not given" and override
the one settings reader (``selfdiscover._settings``); what the shim does with
the result, the failure policy included, is ``selfdiscover._outputs._shim``'s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from typing import Any

from . import _settings
from ._outputs._paths import DEFAULT_ENV_FILE, DIALECTS
from ._outputs._shim import EX_DATAERR, EX_NOTECS, EX_UNAVAILABLE, EX_USAGE, Diag
from ._outputs.envfile import valid_name
from ._settings import Settings
from ._version import __version__
from .sources._timing import parse_seconds

Handler = Callable[[argparse.Namespace, Settings, Diag], int]


def _seconds(text: str) -> float:
    try:
        return parse_seconds(text, "SECONDS")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _minutes(text: str) -> int:
    from ._protection import check_minutes

    digits = text.strip()
    try:
        return check_minutes(int(digits) if digits.isascii() and digits.isdigit() else text, "N")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _add_discovery_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("discovery")
    g.add_argument(
        "--agent-url",
        metavar="URL",
        help="introspection API base URL, tried first [SELFDISCOVER_AGENT_URL; default: the sources ladder]",
    )
    g.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="one overall deadline for discovery [SELFDISCOVER_TIMEOUT; default 10]",
    )
    g.add_argument(
        "--docker-id",
        metavar="ID",
        help="own container ID instead of reading /proc [SELFDISCOVER_DOCKER_ID]",
    )
    g.add_argument("--prefix", help="variable name prefix [SELFDISCOVER_PREFIX; default ECS_]")
    g.add_argument(
        "--tags",
        action="store_true",
        default=None,
        help="also learn task and container-instance tags (TMDE /taskWithTags; the task role needs "
        "ecs:ListTagsForResource), as JSON in ECS_TASK_TAGS and ECS_CONTAINER_INSTANCE_TAGS "
        "[SELFDISCOVER_TAGS=1]",
    )


def _add_verbosity(p: argparse.ArgumentParser, *, sub: bool = True) -> None:
    # A subcommand's -q/-v have a dest of their own, so `selfdiscover -v exec`
    # is not reset by the subparser's default; the later one wins (main()).
    dest = "sub_verbosity" if sub else "verbosity"
    p.add_argument(
        "-q",
        "--quiet",
        action="store_const",
        const=-1,
        dest=dest,
        help="only errors on stderr [SELFDISCOVER_QUIET=1]",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="store_const",
        const=1,
        dest=dest,
        help="say what is being tried [SELFDISCOVER_VERBOSE=1]",
    )


def _add_override(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--override", action="store_true", default=None, help=help)


def _add_shim_options(p: argparse.ArgumentParser) -> None:
    """What exec and write share: they differ only in what happens after the files."""
    _add_verbosity(p)
    _add_discovery_options(p)
    pol = p.add_mutually_exclusive_group()
    pol.add_argument(
        "--required",
        action="store_const",
        const="required",
        dest="policy",
        help="fail closed: exit 68/69, CMD not started, if discovery fails [SELFDISCOVER_POLICY=required]",
    )
    pol.add_argument(
        "--optional",
        action="store_const",
        const="optional",
        dest="policy",
        help="fail open: go on without the variables, with one warning [SELFDISCOVER_POLICY=optional]",
    )
    p.add_argument(
        "--env-file",
        action="append",
        metavar="[DIALECT:]PATH",
        help="write the variables here (repeatable) [SELFDISCOVER_ENV_FILE, comma-separated; "
        f"default {DEFAULT_ENV_FILE}]",
    )
    p.add_argument(
        "--no-env-file",
        action="store_true",
        default=None,
        help="write no env file (exec: only export) [SELFDISCOVER_NO_ENV_FILE=1]",
    )
    p.add_argument(
        "--format",
        choices=DIALECTS,
        help="dialect of env files given without one [SELFDISCOVER_FORMAT; default docker]",
    )
    p.add_argument("--mode", help="env file mode, octal [SELFDISCOVER_MODE; default 0644]")
    _add_override(p, "replace variables already set in the environment [SELFDISCOVER_OVERRIDE=1]")
    _add_runtime_options(p)


def _add_runtime_options(p: argparse.ArgumentParser) -> None:
    """What other software reads itself, set only when asked (exec, write, and show to preview)."""
    p.add_argument(
        "--set-cpu-count",
        action="store_true",
        default=None,
        help="also set PYTHON_CPU_COUNT and GOMAXPROCS to the CPU count (the task's and the kernel's "
        "limits; outside ECS too) [SELFDISCOVER_SET_CPU_COUNT=1]",
    )
    p.add_argument(
        "--set-otel-resource",
        action="store_true",
        default=None,
        help="also add the task's OpenTelemetry resource to OTEL_RESOURCE_ATTRIBUTES (yours kept, yours "
        "win; read by every OpenTelemetry SDK) [SELFDISCOVER_SET_OTEL_RESOURCE=1]",
    )
    p.add_argument(
        "--otel-task-only",
        action="store_true",
        default=None,
        help="with --set-otel-resource: only the task's attributes, none of this container's (for an "
        "init container writing for another) [SELFDISCOVER_OTEL_TASK_ONLY=1]",
    )


# Each command: how its parser is built, and what runs it.
def _exec_parser(sub: Any) -> None:
    p = sub.add_parser(
        "exec",
        help="discover, write env files, export, then exec CMD",
        description="Discover the task, write env files, export the variables and "
        "replace this process with CMD (same PID). Use it as the ENTRYPOINT of an image "
        "that has Python; for an image without Python, run 'selfdiscover write' in an "
        "init container instead.",
    )
    _add_shim_options(p)
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD [ARG...]")
    p.set_defaults(handler=cmd_exec)


def _write_parser(sub: Any) -> None:
    p = sub.add_parser(
        "write",
        help="discover, write env files, exit 0 (for an init container)",
        description="Discover the task and write the env files, then exit: exec with no CMD. "
        "Same options, variables, dialects, failure policy and exit codes; it exits 0 exactly "
        "when exec would have started CMD. When discovery fails and the policy lets it through "
        "(--optional, or not in ECS), the files are written with no variables, so a stale file "
        "never survives and a reader always finds one. Use it in an ECS init container "
        "(essential: false, the app's dependsOn condition SUCCESS) for images without Python, "
        "or before a start-up script that reads the files itself; use exec when the image has "
        "Python and the app should get the variables in its environment.",
    )
    _add_shim_options(p)
    p.set_defaults(handler=cmd_write)


def _show_parser(sub: Any) -> None:
    p = sub.add_parser(
        "show",
        help="print what exec would write",
        description="Discover the task and print the variables in one dialect.",
    )
    _add_verbosity(p)
    _add_discovery_options(p)
    p.add_argument("--format", choices=DIALECTS, help="dialect [SELFDISCOVER_FORMAT; default docker]")
    p.add_argument("--all", action="store_true", help="print every TaskInfo field as JSON")
    _add_override(
        p, "show discovered values even where the environment already sets them [SELFDISCOVER_OVERRIDE=1]"
    )
    _add_runtime_options(p)
    p.set_defaults(handler=cmd_show)


def _agent_parser(sub: Any) -> None:
    p = sub.add_parser(
        "agent",
        help="query the agent's introspection API",
        description="Print what 'curl URL | python -m json.tool' would, with timeouts and retries.",
    )
    _add_verbosity(p)
    asub = p.add_subparsers(dest="agent_cmd", metavar="CALL")
    for name, helptext in (("metadata", "GET /v1/metadata"), ("tasks", "GET /v1/tasks")):
        ap = asub.add_parser(name, help=helptext, description=helptext)
        ap.add_argument("--agent-url", metavar="URL", help="the agent [SELFDISCOVER_AGENT_URL]")
        ap.add_argument(
            "--timeout", type=_seconds, metavar="SECONDS", help="one overall deadline [SELFDISCOVER_TIMEOUT]"
        )
        if name == "tasks":
            which = ap.add_mutually_exclusive_group()
            which.add_argument("--taskarn", metavar="ARN", help="one task by ARN")
            which.add_argument(
                "--dockerid", metavar="ID", help="one task by container ID (full, or <=12 chars)"
            )
    p.set_defaults(handler=cmd_agent)


def _fake_agent_parser(sub: Any) -> None:
    p = sub.add_parser(
        "fake-agent",
        help="run the bundled fake ECS agent",
        description="Serve a fake introspection API and task metadata endpoint (TMDE v3/v4) on "
        "loopback until SIGTERM/SIGINT. Prints two labelled URLs on stdout: the introspection "
        "API (for SELFDISCOVER_AGENT_URL), then the TMDE base.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port",
        type=int,
        default=51678,
        help="introspection API port (default 51678, the agent's; 0: any free)",
    )
    p.add_argument("--tmde-port", type=int, default=0, metavar="PORT", help="TMDE port (default: any free)")
    p.add_argument("--samples", action="store_true", help="load the bundled sample tasks")
    p.add_argument(
        "--task",
        action="append",
        default=[],
        metavar="FAMILY:REVISION:NAME:DOCKERID",
        help="add a one-container task (repeatable)",
    )
    p.add_argument(
        "--network-mode",
        choices=("bridge", "host", "awsvpc", "none"),
        default="bridge",
        help="of --task tasks",
    )
    p.add_argument("--launch-type", choices=("EC2", "FARGATE"), default="EC2", help="of --task tasks")
    p.add_argument(
        "--container-port",
        action="append",
        default=[],
        metavar="[HOST:]PORT[/PROTO]",
        help="a port mapping of every --task container (repeatable; bridge: no HOST = dynamic)",
    )
    p.add_argument("--down", type=float, default=0.0, metavar="S", help="refuse connections for S seconds")
    p.add_argument("--not-found", type=float, default=0.0, metavar="S", help="404 lookups for S seconds")
    p.add_argument("--error-for", type=float, default=0.0, metavar="S", help="5xx for S seconds")
    p.add_argument(
        "--error-status",
        type=int,
        default=500,
        metavar="CODE",
        help="the HTTP status of those errors (default 500)",
    )
    p.add_argument("--throttle-for", type=float, default=0.0, metavar="S", help="429 for S seconds")
    p.add_argument("--delay", type=float, default=0.0, metavar="S", help="delay every answer")
    p.add_argument("--old-agent", action="store_true", help="agent 1.19.0 quirks")
    p.set_defaults(handler=cmd_fake_agent)


def _doctor_parser(sub: Any) -> None:
    p = sub.add_parser(
        "doctor",
        help="try every source once and explain what works",
        description="Run inside a misbehaving container: the container ID and how it was found, every "
        "source tried with latency and outcome, hints, and what would be written. Exit 0 only when "
        "discovery works and all answers agree.",
    )
    _add_verbosity(p)
    _add_discovery_options(p)
    p.set_defaults(handler=cmd_doctor)


def _emulate_parser(sub: Any) -> None:
    p = sub.add_parser(
        "emulate",
        help="serve the introspection API from the containers Docker runs (needs the docker extra)",
        description="A local ECS agent for laptops: answers /v1/tasks and TMDE v4 (at "
        "/v4/<endpoint id derived from the Docker ID>) from the com.amazonaws.ecs.* labels and docker "
        "inspect of running containers, read through the Docker Engine API. Prints two labelled URLs "
        "on stdout: the introspection API, then the TMDE base.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=51678, help="introspection API port (default 51678)")
    p.add_argument("--tmde-port", type=int, default=0, metavar="PORT", help="TMDE port (default: any free)")
    p.set_defaults(handler=cmd_emulate)


def _demo_parser(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="run the shim end to end against the bundled fake agent",
        description="Start a fake agent on loopback, run 'selfdiscover exec' against it "
        "and show what the application received. Needs no ECS.",
    )
    _add_verbosity(p)
    p.set_defaults(handler=cmd_demo)


def _protect_parser(sub: Any) -> None:
    p = sub.add_parser(
        "protect",
        help="run CMD with the task protected from scale-in, then release the protection",
        description="Turn the task's scale-in protection on, run CMD as a child, renew the protection "
        "each time half of its time has passed while CMD runs, and release it when CMD ends; exit with "
        "CMD's code. SIGTERM, SIGINT and SIGHUP are forwarded to CMD. For one job (what a worker loop or "
        "a scheduled script runs per unit of work), not for the container's main process: a protection "
        "renewed for the life of a service's task blocks scale-in and deployments indefinitely.",
    )
    _add_verbosity(p)
    p.add_argument(
        "--minutes",
        type=_minutes,
        default=60,
        metavar="N",
        help="the protection's expiry, renewed at half time while CMD runs (1-2880; default 60)",
    )
    p.add_argument(
        "--required",
        action="store_true",
        help="exit 68/69, CMD not started, if protection cannot be turned on "
        "(default: run CMD anyway, with one warning)",
    )
    p.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="one deadline per agent call [SELFDISCOVER_TIMEOUT]",
    )
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD [ARG...]")
    p.set_defaults(handler=cmd_protect)


def _protection_parser(sub: Any) -> None:
    p = sub.add_parser(
        "protection",
        help="print the task's scale-in protection as JSON (or turn it on or off)",
        description="Read the task's scale-in protection from the agent ($ECS_AGENT_URI/task-protection/"
        "v1/state) and print it as JSON: enabled, expires_at (UTC), task_arn. --on and --off change it "
        "first; each update resets the expiry.",
    )
    _add_verbosity(p)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--on", action="store_true", help="turn protection on")
    which.add_argument("--off", action="store_true", help="turn protection off")
    p.add_argument(
        "--minutes", type=_minutes, metavar="N", help="with --on: the expiry (1-2880; default ECS's, 120)"
    )
    p.add_argument(
        "--timeout", type=_seconds, metavar="SECONDS", help="one overall deadline [SELFDISCOVER_TIMEOUT]"
    )
    p.set_defaults(handler=cmd_protection)


_PARSERS: dict[str, Callable[[Any], None]] = {
    "exec": _exec_parser,
    "write": _write_parser,
    "show": _show_parser,
    "agent": _agent_parser,
    "fake-agent": _fake_agent_parser,
    "doctor": _doctor_parser,
    "emulate": _emulate_parser,
    "demo": _demo_parser,
    "protect": _protect_parser,
    "protection": _protection_parser,
}
COMMANDS = tuple(_PARSERS)


def _command(argv: Sequence[str]) -> str | None:
    """The subcommand, read ahead of argparse (top-level options take no values)."""
    for arg in argv:
        if arg == "--" or not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command``, only that subcommand's: a container start
    should not pay for building the other seven."""
    parser = argparse.ArgumentParser(
        prog="selfdiscover",
        description="Find the Amazon ECS task this container belongs to.",
        epilog="Run 'selfdiscover COMMAND --help' for each command. Exit codes: see the README.",
    )
    parser.add_argument("--version", action="version", version=f"selfdiscover {__version__}")
    _add_verbosity(parser, sub=False)
    sub = parser.add_subparsers(dest="cmd", metavar="COMMAND")
    for name, add in _PARSERS.items():
        if command is None or name == command:
            add(sub)
    return parser


# Commands that take none of the SELFDISCOVER_* settings but verbosity.
_NO_SETTINGS = ("fake-agent", "emulate", "demo")


def _verbosity(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """-q/-v after the command, else before it, else the variables."""
    for given in (getattr(args, "sub_verbosity", None), args.verbosity):
        if given is not None:
            return int(given)
    return _settings.verbosity(environ)


def read_settings(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    """The settings of this run: each option given wins over its variable.

    ``--docker-id`` is not among them: it is passed to discovery as an
    argument (checked here, and reported as such by ``doctor``)."""
    given = {f.name: getattr(args, f.name, None) for f in fields(Settings) if f.name != "docker_id"}
    given["verbosity"] = _verbosity(args, environ)
    if given["env_file"] is not None:
        given["env_file"] = tuple(given["env_file"])
    return _settings.read(environ, **given)


def main(argv: Sequence[str] | None = None) -> int:
    line = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command(line))
    args = parser.parse_args(line)
    if args.cmd is None:
        parser.print_help(sys.stderr)
        return EX_USAGE
    try:
        if args.cmd in _NO_SETTINGS:  # a bad SELFDISCOVER_TIMEOUT is none of their business
            settings = Settings(verbosity=_verbosity(args, os.environ))
        else:
            settings = read_settings(args, os.environ)
        docker_id = _docker_id(getattr(args, "docker_id", None))
    except ValueError as e:  # e.g. SELFDISCOVER_TIMEOUT=soon, --docker-id nonsense
        Diag().error(str(e))
        return EX_USAGE
    diag = Diag(settings.verbosity)
    if hasattr(args, "format") and settings.format not in DIALECTS:  # argparse checks only the option
        diag.error(f"SELFDISCOVER_FORMAT must be one of {', '.join(DIALECTS)}, got {settings.format!r}")
        return EX_USAGE
    if hasattr(args, "prefix") and not valid_name(settings.prefix + "X"):
        diag.error(f"--prefix must begin a valid variable name, got {settings.prefix!r}")
        return EX_USAGE
    args.docker_id = docker_id
    handler: Handler = args.handler
    try:
        return handler(args, settings, diag)
    except KeyboardInterrupt:
        return 130


def _docker_id(value: str | None) -> str | None:
    """``--docker-id``, checked; ``SELFDISCOVER_DOCKER_ID`` is discovery's to
    read and check under its own name."""
    if value is None:
        return None
    from ._containerid import check_container_id

    return check_container_id(value, "--docker-id")


def cmd_exec(args: argparse.Namespace, settings: Settings, diag: Diag) -> int:
    from ._outputs._shim import run_exec

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    return run_exec(settings, command, diag, docker_id=args.docker_id)


def cmd_write(args: argparse.Namespace, settings: Settings, diag: Diag) -> int:
    from ._outputs._shim import run_write

    return run_write(settings, diag, docker_id=args.docker_id)


def cmd_show(args: argparse.Namespace, settings: Settings, diag: Diag) -> int:
    from ._errors import DiscoveryError, EnvFileError, NotInECSError
    from ._outputs import envfile
    from ._outputs._shim import discover_task, task_variables, trap_stop_signals

    trap_stop_signals()
    try:
        info = discover_task(settings, diag, docker_id=args.docker_id)
    except NotInECSError as e:
        diag.error(str(e))
        return EX_NOTECS
    except DiscoveryError as e:
        diag.error(str(e))
        return EX_UNAVAILABLE
    except ValueError as e:
        diag.error(str(e))
        return EX_USAGE
    if args.all:
        sys.stdout.write(json.dumps(info.as_dict(), indent=2, sort_keys=True) + "\n")
        return 0
    try:
        # Exactly what exec would write: a preset variable keeps its value.
        _, exported, merge = task_variables(info, settings, os.environ, diag)
        sys.stdout.write(envfile.render(exported, settings.format, merge=merge))
    except EnvFileError as e:
        diag.error(str(e))
        return EX_DATAERR
    return 0


def cmd_agent(args: argparse.Namespace, settings: Settings, diag: Diag) -> int:
    from ._discover import ecs_evidence
    from ._errors import AgentUnavailableError, SelfdiscoverError
    from .sources._agent import (
        DEFAULT_AGENT_URL,
        AgentClient,
        docker_id_path,
        parse_metadata,
        parse_task,
        parse_tasks,
        task_arn_path,
    )
    from .sources._timing import Retry, Timeout

    if args.agent_cmd is None:
        diag.error("agent needs a call: metadata or tasks")
        return EX_USAGE
    # (path, what, validator): a body that breaks the contract is an error, not output.
    call: tuple[str, str, Callable[[Any], object]]
    if args.agent_cmd == "metadata":
        call = ("/v1/metadata", "metadata", parse_metadata)
    elif args.taskarn:
        call = (task_arn_path(args.taskarn), f"task {args.taskarn}", parse_task)
    elif args.dockerid:
        call = (docker_id_path(args.dockerid), f"container {args.dockerid}", parse_task)
    else:
        call = ("/v1/tasks", "task list", parse_tasks)
    path, what, validate = call
    # Told nothing about an agent and nothing says ECS: one quick try, as
    # discovery makes, instead of retrying a port nobody listens on.
    quick = not settings.agent_url and not ecs_evidence(os.environ)
    try:
        if settings.timeout is not None:
            timeout = Timeout(total=settings.timeout)
        else:
            timeout = Timeout(total=1.0) if quick else Timeout()
        url = settings.agent_url or DEFAULT_AGENT_URL
        obj = AgentClient(url, timeout=timeout, retry=Retry(enabled=not quick)).get_json(path, what=what)
        validate(obj)
    except AgentUnavailableError as e:
        hint = (
            "; nothing here says ECS (no ECS metadata variables, no agent URL given): to try the API"
            " here, run 'selfdiscover fake-agent' and set SELFDISCOVER_AGENT_URL to the URL it prints"
            if quick
            else ""
        )
        diag.error(f"{e}{hint}")
        return EX_UNAVAILABLE
    except SelfdiscoverError as e:
        diag.error(str(e))
        return EX_UNAVAILABLE
    except ValueError as e:
        diag.error(str(e))
        return EX_USAGE
    sys.stdout.write(json.dumps(obj, indent=4) + "\n")
    return 0


def cmd_fake_agent(args: argparse.Namespace, settings: Settings, diag: Diag) -> int:
    from .testing import Behaviour, FakeAgent, FakeContainer

    behaviour = Behaviour(
        down_for=args.down,
        not_found_for=args.not_found,
        error_for=args.error_for,
        error_status=args.error_status,
        throttle_for=args.throttle_for,
        delay=args.delay,
        old_agent=args.old_agent,
    )
    try:
        agent = FakeAgent(args.host, args.port, behaviour=behaviour, tmde_port=args.tmde_port)
    except OSError as e:
        diag.error(f"cannot bind {args.host}:{args.port}/{args.tmde_port}: {e.strerror or e}")
        return EX_UNAVAILABLE
    if args.samples:
        agent.load_samples()
    for spec in args.task:
        parts = spec.split(":")
        if len(parts) != 4:
            diag.error(f"--task wants FAMILY:REVISION:NAME:DOCKERID, got {spec!r}")
            return EX_USAGE
        family, revision, name, docker_id = parts
        try:
            agent.add_task(
                family,
                revision,
                [FakeContainer(name, docker_id)],
                network_mode=args.network_mode,
                launch_type=args.launch_type,
                ports=args.container_port,
            )
        except ValueError as e:
            diag.error(str(e))
            return EX_USAGE
    return _serve_until_signal(agent)


def cmd_demo(args: argparse.Namespace, settings: Settings, diag: Diag) -> int:
    from ._demo import run_demo

    return run_demo(diag)


def cmd_doctor(args: argparse.Namespace, settings: Settings, diag: Diag) -> int:
    from ._doctor import run_doctor
    from ._outputs._shim import trap_stop_signals

    trap_stop_signals()
    return run_doctor(sys.stdout, settings, docker_id=args.docker_id)


def cmd_protect(args: argparse.Namespace, settings: Settings, diag: Diag) -> int:
    from ._protection import run_protect

    return run_protect(
        args.command, minutes=args.minutes, required=args.required, settings=settings, diag=diag
    )


def cmd_protection(args: argparse.Namespace, settings: Settings, diag: Diag) -> int:
    from ._protection import show_protection

    return show_protection(args.on, args.off, args.minutes, settings=settings, diag=diag)


def _serve_until_signal(agent: Any) -> int:
    import signal
    import threading

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    agent.start()
    # Labelled, the URL last on each line (`awk '{print $NF}'` takes it).
    sys.stdout.write(f"introspection API (SELFDISCOVER_AGENT_URL): {agent.url}\n")
    tmde_url = getattr(agent, "tmde_url", None)
    if tmde_url:
        sys.stdout.write(f"task metadata endpoint (TMDE) base: {tmde_url}\n")
    sys.stdout.flush()
    while not stop.wait(3600):
        pass
    agent.stop()
    return 0


def cmd_emulate(args: argparse.Namespace, settings: Settings, diag: Diag) -> int:
    try:
        from .testing._docker_emulator import DockerAgent
    except ImportError as e:
        diag.error(f"emulate needs the docker extra (pip install 'selfdiscover[docker]'): {e}")
        return EX_UNAVAILABLE
    try:
        agent = DockerAgent(args.host, args.port, tmde_port=args.tmde_port)
    except OSError as e:
        diag.error(f"cannot bind {args.host}:{args.port}/{args.tmde_port}: {e.strerror or e}")
        return EX_UNAVAILABLE
    return _serve_until_signal(agent)

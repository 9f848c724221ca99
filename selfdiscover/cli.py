"""The ``selfdiscover`` command line.

Every option can also be set with a ``SELFDISCOVER_*`` variable (the option
wins), so a Dockerfile can configure the shim with ``ENV`` alone.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    import argparse

from ._outputs._paths import DEFAULT_ENV_FILE, DIALECTS
from ._outputs._shim import EX_DATAERR, EX_NOTECS, EX_UNAVAILABLE, EX_USAGE, Diag, EnvTarget
from ._outputs.envfile import valid_name
from ._version import __version__
from .sources._timing import flag, parse_seconds

POLICIES = ("auto", "required", "optional")


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get("SELFDISCOVER_" + name)
    return value if value not in (None, "") else default


def _truthy(value: str | None) -> bool:
    return flag(value, default=False)


def _seconds(text: str) -> float:
    try:
        return parse_seconds(text, "SECONDS")
    except ValueError as e:
        import argparse

        raise argparse.ArgumentTypeError(str(e)) from None


def parse_env_file_spec(spec: str, default_dialect: str) -> EnvTarget:
    """``PATH`` or ``DIALECT:PATH`` (e.g. ``shell:/run/ecs.sh``)."""
    from ._outputs._paths import split_spec

    dialect, path = split_spec(spec)
    return EnvTarget(path, dialect or default_dialect)


class _Options(Protocol):
    """What the option declarations below call: an argparse parser, or the
    plain reader's record of them."""

    def add_argument(self, *flags: str, **kw: Any) -> Any: ...
    def add_argument_group(self, title: str) -> Any: ...
    def add_mutually_exclusive_group(self) -> Any: ...


def _add_discovery_options(p: _Options) -> None:
    g = p.add_argument_group("discovery")
    g.add_argument(
        "--agent-url",
        default=_env("AGENT_URL"),
        metavar="URL",
        help="introspection API base URL, tried first [SELFDISCOVER_AGENT_URL; default: the sources ladder]",
    )
    g.add_argument(
        "--timeout",
        type=_seconds,
        default=_env("TIMEOUT"),
        metavar="SECONDS",
        help="one overall deadline for discovery [SELFDISCOVER_TIMEOUT; default 10]",
    )
    g.add_argument(
        "--docker-id",
        default=_env("DOCKER_ID"),
        metavar="ID",
        help="own container ID instead of reading /proc [SELFDISCOVER_DOCKER_ID]",
    )
    g.add_argument(
        "--prefix",
        default=_env("PREFIX", "ECS_"),
        help="variable name prefix [SELFDISCOVER_PREFIX; default ECS_]",
    )
    g.add_argument(
        "--tags",
        action="store_true",
        default=_truthy(_env("TAGS")),
        help="also learn task and container-instance tags (TMDE /taskWithTags; the task role needs "
        "ecs:ListTagsForResource), as JSON in ECS_TASK_TAGS and ECS_CONTAINER_INSTANCE_TAGS "
        "[SELFDISCOVER_TAGS=1]",
    )


def _add_verbosity(p: _Options, *, sub: bool = True) -> None:
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


def _add_shim_options(p: _Options) -> None:
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
        default=_truthy(_env("NO_ENV_FILE")),
        help="write no env file (exec: only export) [SELFDISCOVER_NO_ENV_FILE=1]",
    )
    p.add_argument(
        "--format",
        choices=DIALECTS,
        default=_env("FORMAT", "docker"),
        help="dialect of env files given without one [SELFDISCOVER_FORMAT; default docker]",
    )
    p.add_argument(
        "--mode", default=_env("MODE", "0644"), help="env file mode, octal [SELFDISCOVER_MODE; default 0644]"
    )
    p.add_argument(
        "--override",
        action="store_true",
        default=_truthy(_env("OVERRIDE")),
        help="replace variables already set in the environment [SELFDISCOVER_OVERRIDE=1]",
    )


COMMANDS = ("exec", "write", "show", "agent", "fake-agent", "doctor", "emulate", "demo")
# The commands of a container's start, read without argparse when plain
# (_read_plainly), and the name of what takes the rest of the line: exec's CMD.
_SHIM_COMMANDS: dict[str, str | None] = {"exec": "command", "write": None}


class _Skipped:
    """Stands in for the subparsers a run does not use: building all of them
    costs every ``exec`` about a millisecond at container start."""

    def __getattr__(self, name: str) -> Callable[..., _Skipped]:
        return lambda *args, **kwargs: self


def _command(argv: Sequence[str]) -> str | None:
    """The subcommand, read ahead of argparse (top-level options take no values)."""
    for arg in argv:
        if arg == "--" or not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


class _Declared:
    """The options of one shim command as declared, for ``_read_plainly``."""

    def __init__(self) -> None:
        # Each flag: its option's first flag, dest, declaration and exclusive group (0: none).
        self.flags: dict[str, tuple[str, str, dict[str, Any], int]] = {}
        self.dests: dict[str, dict[str, Any]] = {}
        self.positional: str | None = None
        self._groups = 0

    def add_argument(self, *flags: str, **kw: Any) -> None:
        self.declare(flags, kw, 0)

    def declare(self, flags: tuple[str, ...], kw: dict[str, Any], group: int) -> None:
        # argparse's rule: the first long flag, without dashes, '-' as '_'.
        dest = kw.get("dest") or next((f for f in flags if f.startswith("--")), flags[0])
        dest = dest.lstrip("-").replace("-", "_")
        self.dests[dest] = kw
        for name in flags:
            self.flags[name] = (flags[0], dest, kw, group)

    def add_argument_group(self, title: str) -> _Declared:
        return self

    def add_mutually_exclusive_group(self) -> _Exclusive:
        self._groups += 1
        return _Exclusive(self, self._groups)


class _Exclusive:
    def __init__(self, declared: _Declared, group: int) -> None:
        self.declared, self.group = declared, group

    def add_argument(self, *flags: str, **kw: Any) -> None:
        self.declared.declare(flags, kw, self.group)


def _read_plainly(argv: Sequence[str]) -> argparse.Namespace | None:
    """``exec``/``write`` options read the way argparse reads them, for the
    plain command lines a container starts with; ``None`` for anything else
    (help, abbreviations, combined flags, a bad value, a value that starts
    with "-", options before the command), which argparse then parses or
    explains."""
    if not argv or argv[0] not in _SHIM_COMMANDS:
        return None
    declared = _Declared()
    declared.positional = _SHIM_COMMANDS[argv[0]]
    _add_shim_options(declared)
    values: dict[str, Any] = {"verbosity": None, "cmd": argv[0]}  # the top level's
    values.update((dest, kw.get("default")) for dest, kw in declared.dests.items())
    given: dict[str, int] = {}  # the options on the line (first flag): their exclusive group
    on_line: set[str] = set()  # and their dests
    rest = list(argv[1:])
    while rest:
        token = rest.pop(0)
        if token == "--" or not token.startswith("-"):
            if declared.positional is None:
                return None
            # argparse still checks the words of a CMD not behind "--" (an
            # ambiguous "--t" there is a usage error): those lines are its own.
            before = rest[: rest.index("--")] if "--" in rest else rest
            if token != "--" and any(t.startswith("-") for t in before):
                return None
            values[declared.positional] = [token, *rest]  # argparse.REMAINDER keeps the "--"
            break
        flag, eq, text = token.partition("=")
        if flag not in declared.flags:
            return None
        first, dest, kw, group = declared.flags[flag]
        if group and any(g == group and f != first for f, g in given.items()):
            return None  # argparse: not allowed with the other
        given[first] = group
        on_line.add(dest)
        action = kw.get("action", "store")
        if action in ("store_true", "store_const"):
            if eq:
                return None
            values[dest] = True if action == "store_true" else kw["const"]
            continue
        if not eq:
            if not rest:
                return None
            text = rest.pop(0)
        if text.startswith("-"):
            return None
        try:
            value = _value(text, kw)
        except Exception:
            return None
        values[dest] = [*(values[dest] or []), value] if action == "append" else value
    if declared.positional is not None:
        values.setdefault(declared.positional, [])
    for dest, kw in declared.dests.items():  # argparse converts a string default as if given
        if "type" in kw and dest not in on_line and isinstance(values[dest], str):
            try:
                values[dest] = kw["type"](values[dest])  # choices are not checked here
            except Exception:
                return None
    import types

    return cast("argparse.Namespace", types.SimpleNamespace(**values))


def _value(text: str, kw: Mapping[str, Any]) -> Any:
    """A value as argparse would store it; raises where argparse would refuse it."""
    value = kw["type"](text) if "type" in kw else text
    if "choices" in kw and value not in kw["choices"]:
        raise ValueError(f"{value!r} is not a choice")
    return value


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command``, only that subcommand's options are built."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="selfdiscover",
        description="Find the Amazon ECS task this container belongs to.",
        epilog="Run 'selfdiscover COMMAND --help' for each command. Exit codes: see the README.",
    )
    parser.add_argument("--version", action="version", version=f"selfdiscover {__version__}")
    _add_verbosity(parser, sub=False)
    subparsers = parser.add_subparsers(dest="cmd", metavar="COMMAND")

    class _Sub:
        @staticmethod
        def add_parser(name: str, **kw: Any) -> Any:
            if command is None or name == command:
                return subparsers.add_parser(name, **kw)
            return _Skipped()

    sub = _Sub()

    p = sub.add_parser(
        "exec",
        help="discover, write env files, export, then exec CMD",
        description="Discover the task, write env files, export the variables and "
        "replace this process with CMD (same PID). Use it as the ENTRYPOINT of an image "
        "that has Python; for an image without Python, run 'selfdiscover write' in an "
        "init container instead.",
    )
    _add_shim_options(p)
    p.add_argument(_SHIM_COMMANDS["exec"], nargs=argparse.REMAINDER, metavar="-- CMD [ARG...]")

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

    p = sub.add_parser(
        "show",
        help="print what exec would write",
        description="Discover the task and print the variables in one dialect.",
    )
    _add_verbosity(p)
    _add_discovery_options(p)
    p.add_argument("--format", choices=DIALECTS, default=_env("FORMAT", "docker"))
    p.add_argument("--all", action="store_true", help="print every TaskInfo field as JSON")
    p.add_argument(
        "--override",
        action="store_true",
        default=_truthy(_env("OVERRIDE")),
        help="show discovered values even where the environment already sets them [SELFDISCOVER_OVERRIDE=1]",
    )

    p = sub.add_parser(
        "agent",
        help="query the agent's introspection API",
        description="Print what 'curl URL | python -m json.tool' would, with timeouts and retries.",
    )
    _add_verbosity(p)
    asub = p.add_subparsers(dest="agent_cmd", metavar="CALL")
    for name, helptext in (("metadata", "GET /v1/metadata"), ("tasks", "GET /v1/tasks")):
        ap = asub.add_parser(name, help=helptext, description=helptext)
        ap.add_argument("--agent-url", default=_env("AGENT_URL"), metavar="URL")
        ap.add_argument("--timeout", type=_seconds, default=_env("TIMEOUT"), metavar="SECONDS")
        if name == "tasks":
            which = ap.add_mutually_exclusive_group()
            which.add_argument("--taskarn", metavar="ARN", help="one task by ARN")
            which.add_argument(
                "--dockerid", metavar="ID", help="one task by container ID (full, or <=12 chars)"
            )

    p = sub.add_parser(
        "fake-agent",
        help="run the bundled fake ECS agent",
        description="Serve a fake introspection API and task metadata endpoint (TMDE v3/v4) on "
        "loopback until SIGTERM/SIGINT. Prints the introspection URL on stdout, then the TMDE URL.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=51678)
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
    p.add_argument("--error-status", type=int, default=500)
    p.add_argument("--throttle-for", type=float, default=0.0, metavar="S", help="429 for S seconds")
    p.add_argument("--delay", type=float, default=0.0, metavar="S", help="delay every answer")
    p.add_argument("--old-agent", action="store_true", help="agent 1.19.0 quirks")

    p = sub.add_parser(
        "doctor",
        help="try every source once and explain what works",
        description="Run inside a misbehaving container: the container ID and how it was found, every "
        "source tried with latency and outcome, hints, and what would be written. Exit 0 only when "
        "discovery works and all answers agree.",
    )
    _add_verbosity(p)
    _add_discovery_options(p)

    p = sub.add_parser(
        "emulate",
        help="serve the introspection API from the containers Docker runs (needs the docker extra)",
        description="A local ECS agent for laptops: answers /v1/tasks and TMDE v4 (at "
        "/v4/<endpoint id derived from the Docker ID>) from the com.amazonaws.ecs.* labels and docker "
        "inspect of running containers, read through the Docker Engine API. Prints the introspection "
        "URL on stdout, then the TMDE URL.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=51678)
    p.add_argument("--tmde-port", type=int, default=0, metavar="PORT", help="TMDE port (default: any free)")

    p = sub.add_parser(
        "demo",
        help="run the shim end to end against the bundled fake agent",
        description="Start a fake agent on loopback, run 'selfdiscover exec' against it "
        "and show what the application received. Needs no ECS.",
    )
    _add_verbosity(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    line = sys.argv[1:] if argv is None else list(argv)
    args = _read_plainly(line)
    if args is None:
        parser = build_parser(_command(line))
        args = parser.parse_args(line)
        if args.cmd is None:
            parser.print_help(sys.stderr)
            return EX_USAGE
    verbosity = getattr(args, "sub_verbosity", None)
    if verbosity is None:
        verbosity = args.verbosity
    if verbosity is None:
        verbosity = -1 if _truthy(_env("QUIET")) else (1 if _truthy(_env("VERBOSE")) else 0)
    diag = Diag(verbosity)
    fmt = getattr(args, "format", None)
    if fmt is not None and fmt not in DIALECTS:  # argparse does not check defaults from the environment
        diag.error(f"SELFDISCOVER_FORMAT must be one of {', '.join(DIALECTS)}, got {fmt!r}")
        return EX_USAGE
    prefix = getattr(args, "prefix", None)
    if prefix is not None and not valid_name(prefix + "X"):
        diag.error(f"--prefix must begin a valid variable name, got {prefix!r}")
        return EX_USAGE
    handler = {
        "exec": cmd_exec,
        "write": cmd_write,
        "show": cmd_show,
        "agent": cmd_agent,
        "fake-agent": cmd_fake_agent,
        "doctor": cmd_doctor,
        "emulate": cmd_emulate,
        "demo": cmd_demo,
    }[args.cmd]
    try:
        return handler(args, diag)
    except KeyboardInterrupt:
        return 130


def _docker_id(value: str | None) -> str | None:
    """``--docker-id``, checked here; a value from ``SELFDISCOVER_DOCKER_ID`` is
    left to discovery, which reads and checks the variable under its own name."""
    if value is None or value == _env("DOCKER_ID"):
        return None
    from ._containerid import check_container_id

    return check_container_id(value, "--docker-id")


def _discover(args: argparse.Namespace, diag: Diag) -> Any:
    from ._discover import discover
    from .sources._timing import Timeout

    timeout = Timeout(total=args.timeout) if args.timeout is not None else None
    info = discover(
        agent_url=args.agent_url, timeout=timeout, docker_id=_docker_id(args.docker_id), tags=args.tags
    )
    for warning in info.warnings:  # e.g. tags without permission, IMDS unreachable: never fatal
        diag.warn(warning)
    return info


def cmd_exec(args: argparse.Namespace, diag: Diag) -> int:
    from ._outputs._shim import exec_command

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        diag.error("exec needs a command: selfdiscover exec [OPTIONS] -- CMD [ARG...]")
        return EX_USAGE
    rc, env = _discover_and_write(args, diag, going_on=f"starting {command[0]}", empty_files=False)
    if rc is not None:
        return rc
    return exec_command(command, env, diag)


def cmd_write(args: argparse.Namespace, diag: Diag) -> int:
    rc, _ = _discover_and_write(args, diag, going_on="writing the env files", empty_files=True)
    return rc or 0


def _discover_and_write(
    args: argparse.Namespace, diag: Diag, *, going_on: str, empty_files: bool
) -> tuple[int | None, Mapping[str, str]]:
    """Options, discovery, the failure policy and the env files: all of exec but the exec.

    Returns ``(exit code, _)`` to stop, or ``(None, environment)`` to go on with
    that environment (without the variables when the policy let a failed
    discovery through). ``empty_files``: a failure let through still writes the
    files, with no variables, for readers that have only the files.
    """
    from ._errors import DiscoveryError, NotInECSError
    from ._model._variables import to_variables
    from ._outputs._shim import merge_environment, trap_stop_signals, write_targets

    trap_stop_signals()
    policy = args.policy or _env("POLICY", "auto")
    if policy not in POLICIES:
        diag.error(f"SELFDISCOVER_POLICY must be one of {', '.join(POLICIES)}, got {policy!r}")
        return EX_USAGE, os.environ
    try:
        mode = int(args.mode, 8)
        if not 0 <= mode <= 0o777:
            raise ValueError
    except ValueError:
        diag.error(f"--mode must be octal permission bits 0000-0777, got {args.mode!r}")
        return EX_USAGE, os.environ
    targets: list[EnvTarget] = []
    if not args.no_env_file:
        specs = args.env_file or [s for s in (_env("ENV_FILE") or "").split(",") if s.strip()]
        targets = [parse_env_file_spec(s.strip(), args.format) for s in specs]
        if not targets:
            targets = [EnvTarget(DEFAULT_ENV_FILE, args.format, explicit=False)]

    try:
        info = _discover(args, diag)
    except NotInECSError as e:
        if policy == "required":
            diag.error(str(e))
            return EX_NOTECS, os.environ
        failed: Exception = e
    except DiscoveryError as e:
        if policy != "optional":
            diag.error(str(e))
            return EX_UNAVAILABLE, os.environ
        failed = e
    except ValueError as e:  # a bad URL or timeout in the environment
        diag.error(str(e))
        return EX_USAGE, os.environ
    else:
        diag.info(f"task {info.arn} ({info.task_definition}) from {info.source}")
        env, exported = merge_environment(os.environ, to_variables(info, args.prefix), override=args.override)
        header = f"written by selfdiscover {__version__} from {info.source}"
        rc = write_targets(targets, exported, diag, mode=mode, header=header)
        return (rc if rc and policy != "optional" else None), env

    diag.warn(f"{failed}; {going_on} without ECS variables")
    if empty_files:  # the readers have only the files: give them one, and no stale one
        rc = write_targets(
            targets, {}, diag, mode=mode, header=f"written by selfdiscover {__version__}: no task discovered"
        )
        if rc and policy != "optional":
            return rc, os.environ
    return None, os.environ


def cmd_show(args: argparse.Namespace, diag: Diag) -> int:
    from ._errors import DiscoveryError, EnvFileError, NotInECSError
    from ._model._variables import to_variables
    from ._outputs import envfile
    from ._outputs._shim import merge_environment, trap_stop_signals

    trap_stop_signals()
    try:
        info = _discover(args, diag)
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
        _, exported = merge_environment(os.environ, to_variables(info, args.prefix), override=args.override)
        sys.stdout.write(envfile.render(exported, args.format))
    except EnvFileError as e:
        diag.error(str(e))
        return EX_DATAERR
    return 0


def cmd_agent(args: argparse.Namespace, diag: Diag) -> int:
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
    quick = not args.agent_url and not ecs_evidence(os.environ)
    try:
        if args.timeout:
            timeout = Timeout(total=args.timeout)
        elif quick and not _env("TIMEOUT"):
            timeout = Timeout(total=1.0)
        else:
            timeout = Timeout.from_env()
        url = args.agent_url or DEFAULT_AGENT_URL
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


def cmd_fake_agent(args: argparse.Namespace, diag: Diag) -> int:
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


def cmd_demo(args: argparse.Namespace, diag: Diag) -> int:
    from ._demo import run_demo

    return run_demo(diag)


def cmd_doctor(args: argparse.Namespace, diag: Diag) -> int:
    from ._doctor import run_doctor
    from ._outputs._shim import trap_stop_signals

    trap_stop_signals()
    try:
        docker_id = _docker_id(args.docker_id)
    except ValueError as e:
        diag.error(str(e))
        return EX_USAGE
    return run_doctor(
        sys.stdout,
        agent_url=args.agent_url,
        timeout=args.timeout,
        docker_id=docker_id,
        prefix=args.prefix,
    )


def _serve_until_signal(agent: Any) -> int:
    import signal
    import threading

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    agent.start()
    sys.stdout.write(agent.url + "\n")
    tmde_url = getattr(agent, "tmde_url", None)
    if tmde_url:
        sys.stdout.write(tmde_url + "\n")
    sys.stdout.flush()
    while not stop.wait(3600):
        pass
    agent.stop()
    return 0


def cmd_emulate(args: argparse.Namespace, diag: Diag) -> int:
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

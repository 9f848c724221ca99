"""The ENTRYPOINT shim: discover, write env files, export, exec.

Exit codes are a contract (see README "Exit codes"):

* the application's own code, once exec'd (same PID, signals go straight to it);
* 2 usage error; 65 a value the chosen env-file dialect cannot carry;
* 68 ``--required`` and not in ECS; 69 in ECS (or ``--required``) but discovery failed;
* 73 an env file could not be written; 126 CMD not executable; 127 CMD not found;
* 128+N killed by signal N (SIGTERM, SIGINT, SIGHUP) while discovering.

The failure policy lives here too: ``required`` fails closed (68/69, CMD not
started), ``optional`` fails open (CMD starts without the variables, with one
warning), and ``auto``, the default, is open outside ECS and closed in it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

from .._version import __version__
from ._paths import DEFAULT_ENV_FILE, default_env_paths, own_dir, split_spec

if TYPE_CHECKING:
    from .._model import TaskInfo
    from .._settings import Settings

EX_USAGE = 2
EX_DATAERR = 65
EX_NOTECS = 68
EX_UNAVAILABLE = 69
EX_CANTCREAT = 73
EX_NOEXEC = 126
EX_NOTFOUND = 127

POLICIES = ("auto", "required", "optional")


# What `docker stop`, a terminal and a closed session send: trapped while discovering, forwarded by protect.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _die_on_signal(signum: int, frame: FrameType | None) -> None:
    # PID 1 ignores SIGTERM unless it has a handler; exit the way a shell
    # reports a signal death so `docker stop` is prompt and honest.
    os._exit(128 + signum)


_IGNORED: set[int] = set()


def trap_stop_signals() -> None:
    for sig in STOP_SIGNALS:
        if signal.getsignal(sig) == signal.SIG_IGN:
            _IGNORED.add(sig)  # nohup and background jobs: a shell's exec keeps it ignored
        else:
            signal.signal(sig, _die_on_signal)


def restore_signals() -> None:
    """Undo what CPython changed, so the application starts as if from a shell:
    SIGPIPE and SIGXFSZ back to default (exec keeps ignored signals ignored)
    and an empty signal mask. Inherited ignores (nohup) stay ignored."""
    # The stop signals keep our handler until execve resets it: setting them to
    # SIG_DFL here would let PID 1 drop a `docker stop` in the last microseconds.
    for sig in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


class Diag:
    """Diagnostics go to stderr only; stdout belongs to the application."""

    def __init__(self, verbosity: int = 0) -> None:
        self.verbosity = verbosity  # -1 quiet, 0 normal, 1+ verbose

    def warn(self, msg: str) -> None:
        if self.verbosity >= 0:
            sys.stderr.write(f"selfdiscover: {msg}\n")

    def info(self, msg: str) -> None:
        if self.verbosity >= 1:
            sys.stderr.write(f"selfdiscover: {msg}\n")

    def error(self, msg: str) -> None:
        sys.stderr.write(f"selfdiscover: error: {msg}\n")


@dataclass(frozen=True, slots=True)
class EnvTarget:
    path: str
    dialect: str
    explicit: bool = True


def merge_environment(
    environ: Mapping[str, str], variables: Mapping[str, str], *, override: bool
) -> tuple[dict[str, str], dict[str, str]]:
    """Return (new environment, the variables as exported).

    A variable the environment already has keeps its value unless
    ``override``: an operator's explicit setting beats discovery.
    """
    env = dict(environ)
    exported: dict[str, str] = {}
    for k, v in variables.items():
        if k in env and not override:
            exported[k] = env[k]
        else:
            env[k] = v
            exported[k] = v
    return env, exported


def write_targets(
    targets: Sequence[EnvTarget],
    variables: Mapping[str, str],
    diag: Diag,
    *,
    mode: int,
    header: str,
    merge: Mapping[str, str] | None = None,
) -> int:
    """Write every env file; return 0 or the exit code of the first failure.

    The default location falls back to ``$TMPDIR/selfdiscover`` when ``/run``
    is read-only, and is skipped with one warning naming every location and
    why it failed: a default must never stop a container. An explicitly named
    file that cannot be written is an error.
    """
    from .._errors import EnvFileError
    from . import envfile

    # Render every file first: a value one dialect refuses must not leave a
    # partial set behind (some files new, others old or missing).
    rendered: list[tuple[EnvTarget, str]] = []
    for t in targets:
        try:
            rendered.append((t, envfile.render(variables, t.dialect, header=header, merge=merge)))
        except EnvFileError as e:
            diag.error(f"{t.path}: {e}")
            return EX_DATAERR
    for t, content in rendered:
        if t.explicit:
            try:
                envfile.write_atomic(t.path, content, mode=mode)
            except EnvFileError as e:
                diag.error(str(e))  # already names the file and the cause
                return EX_CANTCREAT
            diag.info(f"wrote {t.path} ({t.dialect})")
            continue
        failures: list[str] = []
        for path in default_env_paths(os.environ):
            try:
                own_dir(os.path.dirname(path))
                envfile.write_atomic(path, content, mode=mode)
            except EnvFileError as e:
                failures.append(f"{path}: {e.reason}")
                continue
            # Readers drop a default file older than PID 1: an unchanged file
            # (not rewritten) still has to show it belongs to this container.
            with contextlib.suppress(OSError):
                os.utime(path, follow_symlinks=False)
            diag.info(f"wrote {path} ({t.dialect})")
            break
        else:
            diag.warn("default env file not written: " + "; ".join(failures))
    return 0


def exec_command(command: Sequence[str], env: Mapping[str, str], diag: Diag) -> int:
    """Replace this process with ``command``; return an exit code only on failure."""
    restore_signals()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    try:
        os.execvpe(command[0], list(command), dict(env))
    except (OSError, ValueError) as e:
        return cannot_start(command, e, diag)
    raise AssertionError("unreachable")  # pragma: no cover


def cannot_start(command: Sequence[str], error: OSError | ValueError, diag: Diag) -> int:
    """Say why ``command`` could not be started (exec'd or spawned) and return the
    exit code a shell would: 127 not found, 126 found but not executable."""
    if isinstance(error, FileNotFoundError):
        diag.error(f"{command[0]}: command not found")
        return EX_NOTFOUND
    if isinstance(error, PermissionError):
        diag.error(f"{command[0]}: permission denied")
        return EX_NOEXEC
    if isinstance(error, OSError):
        diag.error(f"{command[0]}: cannot execute: {error.strerror or error}")
        return EX_NOTFOUND if error.errno == errno.ENOTDIR else EX_NOEXEC
    diag.error(f"{command[0]}: cannot execute: {error}")  # an embedded NUL: never reaches the kernel
    return EX_NOEXEC


def env_targets(settings: Settings) -> list[EnvTarget]:
    """The files to write: each ``[DIALECT:]PATH`` given (a path without a
    dialect takes ``settings.format``), else the default location."""
    if settings.no_env_file:
        return []
    targets = []
    for spec in settings.env_file:
        dialect, path = split_spec(spec.strip())
        targets.append(EnvTarget(path, dialect or settings.format))
    return targets or [EnvTarget(DEFAULT_ENV_FILE, settings.format, explicit=False)]


def discover_task(settings: Settings, diag: Diag, *, docker_id: str | None = None) -> TaskInfo:
    """Discovery with these settings; its warnings (tags without permission,
    IMDS unreachable: never fatal) go to stderr."""
    from .._discover import discover_with

    info = discover_with(settings, docker_id=docker_id)
    for warning in info.warnings:
        diag.warn(warning)
    return info


def run_exec(settings: Settings, command: Sequence[str], diag: Diag, *, docker_id: str | None = None) -> int:
    """``exec``: discover, write, export, then become ``command``."""
    if not command:
        diag.error("exec needs a command: selfdiscover exec [OPTIONS] -- CMD [ARG...]")
        return EX_USAGE
    going_on = f"starting {command[0]}"
    rc, env = discover_and_write(settings, diag, going_on=going_on, empty_files=False, docker_id=docker_id)
    if rc is not None:
        return rc
    return exec_command(command, env, diag)


def run_write(settings: Settings, diag: Diag, *, docker_id: str | None = None) -> int:
    """``write``: what ``exec`` does before the exec; 0 exactly when ``exec``
    would have started CMD."""
    going_on = "writing the env files"
    rc, _ = discover_and_write(settings, diag, going_on=going_on, empty_files=True, docker_id=docker_id)
    return rc or 0


def task_variables(
    info: TaskInfo, settings: Settings, environ: Mapping[str, str], diag: Diag
) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(CMD's environment, the variables as exported, how a shell file merges the runtime ones):
    what ``exec`` exports and writes, and what ``show`` prints. selfdiscover's own variables (the
    prefix) give way to a preset one unless ``override``; what other software reads is set only
    when asked (``runtime_variables``)."""
    from .._limits import effective_limits
    from .._model._variables import limit_variables, to_variables

    limits = effective_limits(info, environ=environ, prefix=settings.prefix)
    variables = {**to_variables(info, settings.prefix), **limit_variables(limits, settings.prefix)}
    env, exported = merge_environment(environ, variables, override=settings.override)
    extra, merge = runtime_variables(info, exported, settings, environ, diag)
    env.update(extra)
    exported.update(extra)
    return env, exported, merge


def runtime_variables(
    info: TaskInfo | None,
    exported: Mapping[str, str],
    settings: Settings,
    environ: Mapping[str, str],
    diag: Diag,
) -> tuple[dict[str, str], dict[str, str]]:
    """The variables other software reads itself, each only when asked: ``PYTHON_CPU_COUNT`` and
    ``GOMAXPROCS`` (``--set-cpu-count``, the exported CPU count, or the kernel's without a task) and
    ``OTEL_RESOURCE_ATTRIBUTES`` (``--set-otel-resource``, with a task). One rule for all: the
    operator's own value stays (``--override`` is for selfdiscover's own variables only), here and,
    through the second dict (``envfile.render``'s ``merge``), wherever a shell file is sourced: in
    the init-container pattern that is another container, with settings of its own."""
    from .._model._variables import CPU_COUNT_KNOBS

    out: dict[str, str] = {}
    merge: dict[str, str] = {}
    if settings.set_cpu_count:
        count = exported.get(settings.prefix + "CPU_COUNT")
        if count is None:
            from .._limits import effective_limits

            count = str(effective_limits(environ=environ, prefix=settings.prefix).cpu_count)
        for knob in CPU_COUNT_KNOBS:
            out[knob] = environ.get(knob) or count
            merge[knob] = "default"
    if settings.set_otel_resource and info is not None:
        name, value = otel_resource(info, environ, settings, diag)
        out[name] = value
        merge[name] = "append"
    return out, merge


def otel_resource(
    info: TaskInfo, environ: Mapping[str, str], settings: Settings, diag: Diag
) -> tuple[str, str]:
    """``OTEL_RESOURCE_ATTRIBUTES``: the operator's own entries verbatim (theirs win on a key both set),
    then the task's attributes, encoded so that every SDK reads the same strings back; an entry some
    SDK would reject is left out, with a note, rather than let it blank the whole variable."""
    from .. import _otelenv

    attributes = _otelenv.resource_attributes(info, task_only=settings.otel_task_only)
    ours, notes = _otelenv.encode(attributes)
    for note in notes:
        diag.info(note)
    return _otelenv.VARIABLE, _otelenv.merge(environ.get(_otelenv.VARIABLE), ours)


def discover_and_write(
    settings: Settings, diag: Diag, *, going_on: str, empty_files: bool, docker_id: str | None = None
) -> tuple[int | None, Mapping[str, str]]:
    """Discovery, the failure policy and the env files: all of exec but the exec.

    Returns ``(exit code, _)`` to stop, or ``(None, environment)`` to go on with
    that environment (without the variables when the policy let a failed
    discovery through). ``empty_files``: a failure let through still writes the
    files, with no variables, for readers that have only the files.
    """
    from .._errors import DiscoveryError, NotInECSError

    trap_stop_signals()
    policy = settings.policy
    if policy not in POLICIES:
        diag.error(f"SELFDISCOVER_POLICY must be one of {', '.join(POLICIES)}, got {policy!r}")
        return EX_USAGE, os.environ
    try:
        mode = int(settings.mode, 8)
        if not 0 <= mode <= 0o777:
            raise ValueError
    except ValueError:
        diag.error(f"--mode must be octal permission bits 0000-0777, got {settings.mode!r}")
        return EX_USAGE, os.environ
    targets = env_targets(settings)

    try:
        info = discover_task(settings, diag, docker_id=docker_id)
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
    except ValueError as e:  # a bad URL in the environment
        diag.error(str(e))
        return EX_USAGE, os.environ
    else:
        diag.info(f"task {info.arn} ({info.task_definition}) from {info.source}")
        env, exported, merge = task_variables(info, settings, os.environ, diag)
        header = f"written by selfdiscover {__version__} from {info.source}"
        rc = write_targets(targets, exported, diag, mode=mode, header=header, merge=merge)
        return (rc if rc and policy != "optional" else None), env

    diag.warn(f"{failed}; {going_on} without ECS variables")
    # The kernel's limits are known everywhere: --set-cpu-count acts outside ECS too.
    exported, merge = runtime_variables(None, {}, settings, os.environ, diag)
    env = {**os.environ, **exported}
    if empty_files:  # the readers have only the files: give them one, and no stale one
        header = f"written by selfdiscover {__version__}: no task discovered"
        rc = write_targets(targets, exported, diag, mode=mode, header=header, merge=merge)
        if rc and policy != "optional":
            return rc, env
    return None, env

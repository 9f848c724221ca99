"""Env files that real readers decode to exactly the values given, written atomically.

No single syntax means the same thing to ``docker run --env-file``, a POSIX shell,
python-dotenv / docker compose and systemd (the same line can be a literal for one
and a command substitution for another), so every file is written in one named
*dialect*. Each dialect emits what its reader decodes back to the exact value, or
raises :class:`EnvFileError` naming the variable and saying why. A value is never
written in a form its reader would change.

Rules every dialect shares: names match ``[A-Za-z_][A-Za-z0-9_]*`` (valid for every
reader, and the only names a shell can assign); values are ``str`` without NUL (no
environment can carry it) and encodable as UTF-8 (no lone surrogates). Output is
deterministic: keys sorted, LF line ends, UTF-8 without BOM, optional ``# `` header.

Dialects and what they refuse (and why):

``docker``
    ``docker run --env-file`` (docker/cli ``pkg/kvfile``) and ECS ``environmentFiles``
    on Fargate. ``NAME=value`` with the value verbatim; the reader does no quote or
    escape processing, so there is no way to carry a line break. Refuses LF and CR
    (line based; a CR at a line end is dropped), a value that starts and ends with the
    same quote character (newer docker CLIs strip such quotes, docker/cli#6805), and
    lines over 65535 bytes (``bufio.Scanner`` fails the whole file). On EC2 the ECS
    agent reads ``environmentFiles`` itself (``agent/taskresource/envFiles``) and is
    cruder still: it drops empty values and cuts a value at its first ``=``. Those
    are not refused here, as docker reads them fine; avoid them for that reader.
``shell``
    ``. ./file`` in dash/bash/busybox ash/any POSIX shell, with or without ``set -a``:
    ``export NAME='value'`` lines, so an image with nothing but ``sh`` can start its
    app with ``sh -c '. /ecs/ecs.sh && exec app'``. Every value single-quoted, ``'``
    written as ``'\\''``: nothing inside single quotes is expanded, so ``$(...)``,
    backticks, ``;``, newlines and ``~`` stay literal, and ``export`` is the only
    command the file runs (with ``merge``, also a ``[ -n ... ]`` test and the
    expansion of the variable's own previous value). Refuses nothing beyond the
    shared rules.
``dotenv``
    python-dotenv (``dotenv_values``, interpolation on) *and* docker compose
    ``env_file``. They agree on double quotes with ``\\\\ \\" \\n \\r`` escapes, but both
    interpolate ``$`` there; compose leaves single quotes literal while python-dotenv
    still expands ``${...}`` and decodes ``\\\\`` and ``\\'`` there. So: values with
    ``$`` are single-quoted, everything else double-quoted. Refuses ``${`` (python-dotenv
    expands it in every quoting, with no escape), a ``$`` value that also has ``'``,
    ``\\`` or CR (no single-quoted form both readers decode alike), and a trailing
    ``\\`` (both readers take ``\\"`` as an escaped quote, not the closing one).
``systemd``
    ``EnvironmentFile=`` (systemd ``env-file.c``). Written like systemd's own
    ``write_env_file``: bare when harmless, else double-quoted with ``" \\ ` $``
    backslash-escaped. systemd never expands ``$`` and keeps newlines inside quotes,
    so it refuses nothing beyond the shared rules.
``json``
    ``{"NAME": "value"}``, sorted, UTF-8, for programs (and the canonical record).
    JSON has no comments, so ``header`` is not written.

Atomic writes: see :func:`write_atomic`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
import tempfile
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeGuard

from .._errors import EnvFileError
from ._paths import DIALECTS

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["DIALECTS", "render", "write", "write_atomic"]


# A variable name, as every dialect's reader accepts one.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# docker's reader is a bufio.Scanner with the default 64 KiB token limit; the line
# plus its LF must fit, so 65535 bytes of ``NAME=value`` is the most it accepts.
_DOCKER_MAX_LINE = 65535

# systemd's write_env_var(): quote when a value has a control character or any of
# WHITESPACE, SHELL_NEED_QUOTES; escape SHELL_NEED_ESCAPE inside the double quotes.
_SYSTEMD_NEED_QUOTES = frozenset(" \t\n\r" + '"\\`$' + "*?[" + "'()<>|&;!")
_SYSTEMD_NEED_ESCAPE = '"\\`$'


def _refusal(name: str, dialect: str, reason: str) -> EnvFileError:
    return EnvFileError(f"cannot write variable {name} in a {dialect} env file: {reason}", variable=name)


def _docker(name: str, value: str) -> str:
    if "\n" in value or "\r" in value:
        raise _refusal(name, "docker", "value contains a line break; the reader is line based")
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        raise _refusal(
            name,
            "docker",
            "value starts and ends with the same quote; newer docker CLIs strip such quotes",
        )
    line = f"{name}={value}"
    if len(line.encode("utf-8")) > _DOCKER_MAX_LINE:
        raise _refusal(
            name, "docker", f"line is longer than {_DOCKER_MAX_LINE} bytes; docker rejects the file"
        )
    return line


def _shell(name: str, value: str) -> str:
    return f"export {name}={_single_quoted(value)}"


def _single_quoted(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


# How a shell file treats a variable the environment it is sourced into already has (``merge``):
# "default" keeps that value; "append" puts it after the file's, in a comma-separated list whose
# later entries win (OTEL_RESOURCE_ATTRIBUTES), so that value wins too.
MERGES = ("default", "append")


def _shell_merged(name: str, value: str, how: str) -> str:
    if how == "default":
        return f'[ -n "${{{name}-}}" ] || {name}={_single_quoted(value)}; export {name}'
    return f'{name}={_single_quoted(value)}"${{{name}:+,${name}}}"; export {name}'


def _dotenv(name: str, value: str) -> str:
    if "${" in value:
        raise _refusal(name, "dotenv", "value contains '${', which python-dotenv always expands")
    if "$" in value:
        # Only single quotes keep $ literal in compose; both readers then take the
        # text verbatim as long as it has no quote, backslash or CR.
        for char, what in (("'", "a single quote"), ("\\", "a backslash"), ("\r", "a CR")):
            if char in value:
                raise _refusal(
                    name,
                    "dotenv",
                    f"value has '$' and {what}; no quoting carries both to python-dotenv"
                    " and compose unchanged",
                )
        return f"{name}='{value}'"
    if value.endswith("\\"):
        raise _refusal(
            name,
            "dotenv",
            "value ends with a backslash, which both readers take as escaping the closing quote",
        )
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'{name}="{escaped}"'


def _systemd(name: str, value: str) -> str:
    if not any(c in _SYSTEMD_NEED_QUOTES or c < " " or c == "\x7f" for c in value):
        return f"{name}={value}"
    escaped = "".join("\\" + c if c in _SYSTEMD_NEED_ESCAPE else c for c in value)
    return f'{name}="{escaped}"'


_LINE_WRITERS: dict[str, Callable[[str, str], str]] = {
    "docker": _docker,
    "shell": _shell,
    "dotenv": _dotenv,
    "systemd": _systemd,
}


def valid_name(name: object) -> TypeGuard[str]:
    """A name every dialect and every shell can carry."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def _check(name: object, value: object, dialect: str) -> None:
    if not valid_name(name):
        shown = repr(name)
        raise EnvFileError(
            f"invalid variable name {shown}: names must match [A-Za-z_][A-Za-z0-9_]*",
            variable=shown if not isinstance(name, str) else name,
        )
    if not isinstance(value, str):
        raise _refusal(name, dialect, f"value is {type(value).__name__}, not str")
    if "\0" in value:
        raise _refusal(name, dialect, "value contains NUL, which no environment can hold")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _refusal(name, dialect, "value is not valid Unicode (lone surrogate)") from None


def _header_lines(header: str | None) -> list[str]:
    """Each header line becomes one ``#`` comment that cannot leave its line.

    Line breaks of any kind start a new comment line; other control characters
    become spaces; trailing backslashes go, because systemd (before v254) lets a
    backslash at the end of a comment swallow the next line.
    """
    if not header:
        return []
    lines = []
    for raw in header.splitlines():
        cleaned = "".join(" " if unicodedata.category(c) in ("Cc", "Cs") else c for c in raw)
        text = cleaned.rstrip(" \\")
        lines.append(f"# {text}" if text else "#")
    return lines


def render(
    variables: Mapping[str, str],
    dialect: str,
    *,
    header: str | None = None,
    merge: Mapping[str, str] | None = None,
) -> str:
    """Return the file text for *variables* in *dialect*.

    Raises :class:`EnvFileError` (``.variable`` set) for a variable the dialect's
    reader could not read back exactly, and for an unknown dialect. Nothing is
    written here, so a refusal never leaves a half-made file.

    ``merge`` names variables whose value the environment a shell file is
    sourced into should keep (``"default"``) or put last (``"append"``, for a
    comma-separated list whose later entries win): a file written in one
    container (an init container) and sourced in another then keeps that
    container's own settings. Only the ``shell`` dialect is sourced; the others
    carry the value as it is.
    """
    if dialect not in DIALECTS:
        raise EnvFileError(f"unknown env file dialect {dialect!r}; expected one of {DIALECTS}")
    for name, value in variables.items():
        _check(name, value, dialect)
    merge = merge or {}
    for name, how in merge.items():
        if how not in MERGES or not valid_name(name):
            raise EnvFileError(f"cannot merge {name!r} as {how!r}; expected one of {MERGES}")
    items = sorted(variables.items())
    if dialect == "json":
        return json.dumps(dict(items), ensure_ascii=False, indent=2) + "\n"
    writer = _LINE_WRITERS[dialect]
    lines = _header_lines(header) + [
        _shell_merged(name, value, merge[name])
        if dialect == "shell" and name in merge
        else writer(name, value)
        for name, value in items
    ]
    return "".join(line + "\n" for line in lines)


def _write_error(path: str, exc: OSError) -> EnvFileError:
    reason = exc.strerror or str(exc)
    return EnvFileError(f"cannot write env file {path}: {reason}", reason=reason)


def _unchanged(path: str, payload: bytes, mode: int) -> bool:
    """True when *path* is already a regular file with exactly these bytes and mode.

    Skipping such a write keeps mtimes and inotify watchers quiet, and lets a
    pre-baked correct file on a read-only filesystem pass. Opened with O_NOFOLLOW so
    a symlink is never taken for the file it points at.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != mode:
            return False
        if st.st_size != len(payload):
            return False
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read(len(payload) + 1) == payload
    except OSError:
        return False
    finally:
        os.close(fd)


def _fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno != errno.EINVAL:  # some filesystems cannot fsync a directory
            raise
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike[str], data: str | bytes, *, mode: int = 0o644) -> None:
    """Replace *path* with *data* so readers see the old file or the new one, never a mix.

    The recipe: a temp file (``mkstemp``, O_EXCL) in the same directory, written,
    ``fchmod`` to *mode* (so the result does not depend on the umask), ``fsync``,
    ``os.replace`` onto *path*, then ``fsync`` of the directory so the rename survives
    a crash. On any error the temp file is removed and the old file stays as it was;
    ``OSError`` (ENOSPC, EROFS, EACCES, a missing directory...) becomes a one-line
    :class:`EnvFileError` naming the path.

    A symlink at *path* is replaced by the new file; it is never written through, so
    a planted link cannot redirect the write (resolve the path first to update a
    link's target). A directory at *path* is refused. If *path* already is a regular
    file with the same bytes and mode, nothing is written. A process killed mid-write
    can leave a ``.<name>.*.tmp`` file behind, but never a partial *path*.
    """
    target = os.fspath(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    try:
        if stat.S_ISDIR(os.lstat(target).st_mode):
            why = "it is a directory"
            raise EnvFileError(f"cannot write env file {target}: {why}", reason=why)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise _write_error(target, exc) from exc
    if _unchanged(target, payload, mode):
        return

    directory = os.path.dirname(os.path.abspath(target))
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
    except OSError as exc:
        raise _write_error(target, exc) from exc
    try:
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _write_error(target, exc) from exc
        raise
    try:
        _fsync_directory(directory)
    except OSError as exc:
        raise _write_error(target, exc) from exc


def write(
    path: str | os.PathLike[str],
    variables: Mapping[str, str],
    dialect: str,
    *,
    mode: int = 0o644,
    header: str | None = None,
) -> None:
    """Render *variables* in *dialect* and write them atomically to *path*.

    Rendering happens first, so a refused value leaves the old file untouched.
    """
    write_atomic(path, render(variables, dialect, header=header), mode=mode)

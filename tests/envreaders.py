"""The programs that read env files, wrapped so a test can ask "what does it get?".

Each ``read_*`` function returns the variables the named program would set from a
file, and raises :class:`ReaderError` when the program rejects the file or does
anything besides assigning (for the shells, any stderr output counts: a value that
ran as a command shows up there). Each ``*_missing()`` helper returns ``None`` when
the reader can run here, else the reason, ready for ``pytest.mark.skipif``.

Real programs:

* ``read_shell(path, shell)``: ``set -a; . file`` in dash, ``source file`` in bash.
* ``read_dotenv(path)``: python-dotenv ``dotenv_values`` with interpolation on.
* ``read_compose(path)``: ``docker compose config`` on a service using ``env_file``.
* ``read_docker_cli(path)``: the real docker CLI parses ``--env-file`` and sends
  the result in its container-create request, which a fake engine on a private unix
  socket captures. Only the docker *binary* is needed, no engine and no image.
* ``read_docker_engine(path)``: a running engine: ``docker create`` on an empty
  imported image, then ``docker inspect``.
* ``systemd_reads(path, name, value)``: systemd's own ``parse_env_file()`` (the
  tokenizer ``EnvironmentFile=`` uses) run by ``systemd-analyze condition`` through
  ``ConditionOSRelease=``, with ``$SYSTEMD_OS_RELEASE`` pointing at the file. It can
  only answer "is NAME exactly VALUE?", not list the file, and it cannot tell an
  empty value from a missing one (systemd treats both as empty there).

Ports (no real program can list the variables here):

* ``read_systemd_port(path)``: a line-for-line port of ``parse_env_file_internal()``
  from systemd ``src/basic/env-file.c``, plus what ``EnvironmentFile=`` does after it
  (UTF-8 check fails the load, invalid names dropped, last assignment wins). It is a
  port because no systemd runs as PID 1 here to load a unit; ``systemd_reads`` above
  checks it against the real tokenizer.
* ``read_kvfile_port(path)``: docker/cli ``pkg/kvfile`` as of docker 28, for when the
  docker binary is absent.
"""

from __future__ import annotations

import http.server
import io
import json
import os
import re
import shutil
import socketserver
import subprocess
import tarfile
import tempfile
import threading
import unicodedata
import uuid
from pathlib import Path
from typing import Any

__all__ = [
    "ReaderError",
    "bash_missing",
    "compose_command",
    "compose_missing",
    "dash_missing",
    "docker_cli_missing",
    "docker_engine_missing",
    "read_compose",
    "read_docker_cli",
    "read_docker_engine",
    "read_dotenv",
    "read_kvfile_port",
    "read_shell",
    "read_systemd_port",
    "systemd_analyze_missing",
    "systemd_reads",
]

_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_TIMEOUT = 60


class ReaderError(Exception):
    """The reader rejected the file, or did something besides assigning variables."""


def _clean_env(**extra: str) -> dict[str, str]:
    env = {"PATH": _PATH, "HOME": "/nonexistent-home", "LC_ALL": "C"}
    env.update(extra)
    return env


# --- POSIX shells --------------------------------------------------------------


def dash_missing() -> str | None:
    return None if shutil.which("dash") else "dash is not installed"


def bash_missing() -> str | None:
    return None if shutil.which("bash") else "bash is not installed"


# Variables a shell sets or exports on its own.
_SHELL_NOISE = frozenset({"PWD", "OLDPWD", "SHLVL", "_"})


def read_shell(path: str | os.PathLike[str], shell: str = "dash") -> dict[str, str]:
    """Source *path* with ``set -a`` and return what the shell exported from it."""
    source = "source" if shell == "bash" else "."
    script = f'set -a; {source} "$1" || exit 97; exec env -0'
    env = _clean_env()
    proc = subprocess.run(
        [shell, "-c", script, "reader", os.path.abspath(path)],
        env=env,
        capture_output=True,
        timeout=_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0 or proc.stderr:
        raise ReaderError(f"{shell} exited {proc.returncode}: {proc.stderr.decode('utf-8', 'replace')}")
    out: dict[str, str] = {}
    for entry in proc.stdout.split(b"\0"):
        if entry:
            name, _, value = entry.decode("utf-8").partition("=")
            if name not in _SHELL_NOISE and env.get(name) != value:
                out[name] = value
    return out


# --- python-dotenv -------------------------------------------------------------


def read_dotenv(path: str | os.PathLike[str]) -> dict[str, str]:
    """``dotenv_values(path)`` as an app would call it; unparsed lines are errors.

    python-dotenv only logs a warning for a line it cannot parse and goes on, which
    would hide a value lost in transit, so such lines raise here.
    """
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    with open(path, encoding="utf-8") as f:
        bad = [b.original.line for b in parse_stream(f) if b.error]
    if bad:
        raise ReaderError(f"python-dotenv could not parse lines {bad}")
    values = dotenv_values(path)
    unset = [k for k, v in values.items() if v is None]
    if unset:
        raise ReaderError(f"python-dotenv read no value for {unset}")
    return {k: v for k, v in values.items() if v is not None}


# --- docker compose ------------------------------------------------------------


def compose_command() -> list[str] | None:
    """The compose v2+ command line here, if any (v1 parsed env files differently)."""
    for cmd in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(cmd[0]) is None:
            continue
        proc = subprocess.run(
            [*cmd, "version", "--short"],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            check=False,
        )
        major = proc.stdout.strip().lstrip("v").split(".")[0]
        if proc.returncode == 0 and major.isdigit() and int(major) >= 2:
            return cmd
    return None


def compose_missing() -> str | None:
    if compose_command() is None:
        return "docker compose (v2+) is absent: neither `docker compose` nor `docker-compose`"
    return None


def read_compose(path: str | os.PathLike[str]) -> dict[str, str]:
    """What compose puts in a service's environment from ``env_file: [path]``."""
    cmd = compose_command()
    if cmd is None:
        raise ReaderError("docker compose is absent")
    with tempfile.TemporaryDirectory() as tmp:
        project = {"services": {"probe": {"image": "scratch", "env_file": [os.path.abspath(path)]}}}
        compose_file = Path(tmp, "compose.json")  # JSON is YAML, so no YAML writer needed
        compose_file.write_text(json.dumps(project), encoding="utf-8")
        proc = subprocess.run(
            [*cmd, "-f", str(compose_file), "-p", "probe", "config", "--format", "json"],
            env=_clean_env(HOME=tmp, DOCKER_CONFIG=tmp),
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            check=False,
        )
    if proc.returncode != 0:
        raise ReaderError(f"docker compose config failed: {proc.stderr}")
    environment = json.loads(proc.stdout)["services"]["probe"].get("environment") or {}
    # `compose config` prints a literal $ as $$ so that its output stays loadable.
    return {k: (v or "").replace("$$", "$") for k, v in environment.items()}


# --- docker --env-file ---------------------------------------------------------


def docker_cli_missing() -> str | None:
    return None if shutil.which("docker") else "the docker CLI is not installed"


class _CreateCapture(http.server.BaseHTTPRequestHandler):
    """Just enough of the Engine API for `docker create` to send its request."""

    protocol_version = "HTTP/1.1"
    server: _FakeEngine

    def _reply(self, code: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Api-Version", "1.41")
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self._reply(200, b"OK", "text/plain")

    def do_GET(self) -> None:
        if self.path.endswith("/_ping"):
            self._reply(200, b"OK", "text/plain")
        else:
            self._reply(404, b'{"message":"not in the fake engine"}')

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "/containers/create" in self.path:
            self.server.captured.append(json.loads(body))
        self._reply(400, b'{"message":"captured by the test fake engine"}')

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _FakeEngine(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, socket_path: str) -> None:
        self.captured: list[dict[str, Any]] = []
        super().__init__(socket_path, _CreateCapture)

    def get_request(self) -> tuple[Any, Any]:
        request, _ = super().get_request()
        return request, ("fake-engine", 0)


def read_docker_cli(path: str | os.PathLike[str]) -> dict[str, str]:
    """The environment `docker run --env-file path` would give the container."""
    with tempfile.TemporaryDirectory(prefix="sd-docker-") as tmp:
        sock = os.path.join(tmp, "engine.sock")
        engine = _FakeEngine(sock)
        thread = threading.Thread(target=engine.serve_forever, args=(0.01,), daemon=True)
        thread.start()
        try:
            proc = subprocess.run(
                ["docker", "create", "--env-file", os.path.abspath(path), "probe:none"],
                env=_clean_env(HOME=tmp, DOCKER_CONFIG=tmp, DOCKER_HOST=f"unix://{sock}"),
                capture_output=True,
                text=True,
                timeout=_TIMEOUT,
                check=False,
            )
        finally:
            engine.shutdown()
            engine.server_close()
            thread.join()
    if not engine.captured:
        raise ReaderError(f"docker rejected the env file: {proc.stderr.strip()}")
    return _env_list(engine.captured[-1].get("Env") or [])


def _env_list(entries: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in entries:
        name, _, value = entry.partition("=")
        out[name] = value
    return out


def docker_engine_missing() -> str | None:
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    try:
        proc = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    except subprocess.TimeoutExpired:
        return "no Docker engine answered `docker info` within 20 s"
    return None if proc.returncode == 0 else "no Docker engine is running"


def read_docker_engine(path: str | os.PathLike[str]) -> dict[str, str]:
    """A real engine's view: create (never start) a container from an empty image."""

    def docker(*args: str, data: bytes | None = None) -> str:
        proc = subprocess.run(
            ["docker", *args], input=data, capture_output=True, timeout=_TIMEOUT, check=False
        )
        if proc.returncode != 0:
            raise ReaderError(f"docker {args[0]} failed: {proc.stderr.decode(errors='replace')}")
        return proc.stdout.decode("utf-8")

    empty = io.BytesIO()
    with tarfile.open(fileobj=empty, mode="w"):
        pass
    image = f"selfdiscover-envfile-probe:{uuid.uuid4().hex}"
    docker("import", "-", image, data=empty.getvalue())  # an empty image: no registry needed
    try:
        cid = docker("create", "--env-file", os.path.abspath(path), image, "/none").strip()
        try:
            return _env_list(json.loads(docker("inspect", "-f", "{{json .Config.Env}}", cid)) or [])
        finally:
            docker("rm", cid)
    finally:
        docker("rmi", image)


# Go's unicode.IsSpace, which docker uses to trim the start of each line.
def _go_space(c: str) -> bool:
    return c in "\t\n\v\f\r \x85\xa0" or unicodedata.category(c) == "Zs"


def read_kvfile_port(path: str | os.PathLike[str]) -> dict[str, str]:
    """docker/cli ``pkg/kvfile`` (docker 28) in Python: a port, not the real reader."""
    data = Path(path).read_bytes()
    out: dict[str, str] = {}
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, raw in enumerate(lines, 1):
        if len(raw) > 65535:
            raise ReaderError("bufio.Scanner: token too long")
        raw = raw.removesuffix(b"\r")  # bufio.ScanLines drops one CR before LF
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ReaderError(f"invalid utf8 bytes at line {number}") from None
        if number == 1:
            text = text.removeprefix("\ufeff")
        i = 0
        while i < len(text) and _go_space(text[i]):
            i += 1
        line = text[i:]
        if not line or line[0] == "#":
            continue
        key, sep, value = line.partition("=")
        if not key or " " in key or "\t" in key:
            raise ReaderError(f"bad variable name on line {number}")
        if sep:
            out[key] = value
    return out


# --- systemd -------------------------------------------------------------------


def systemd_analyze_missing() -> str | None:
    """Why the real systemd tokenizer cannot be used here, or None if it can."""
    if shutil.which("systemd-analyze") is None:
        return "systemd-analyze is not installed"
    with tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, "probe.env")
        Path(probe).write_text('PROBE="a b"\n', encoding="utf-8")
        try:
            good = systemd_reads(probe, "PROBE", "a b")
            bad = systemd_reads(probe, "PROBE", "a")
        except (ReaderError, OSError) as exc:
            return f"systemd-analyze cannot evaluate ConditionOSRelease here: {exc}"
    if not good or bad:
        return "systemd-analyze ConditionOSRelease does not answer as expected here"
    return None


def _fnmatch_escape(value: str) -> str:
    return "".join("\\" + c if c in "*?[]\\ \t\n\r" else c for c in value)


def systemd_reads(path: str | os.PathLike[str], name: str, value: str) -> bool:
    """True when systemd's parse_env_file() reads *name* from *path* as exactly *value*.

    ``ConditionOSRelease=NAME$=PATTERN`` fnmatches the value systemd parsed from the
    os-release file, here redirected to *path*. The pattern is *value* with every
    glob character escaped, so the match is an exact comparison. The condition word
    is then double-quoted for systemd's word splitter and ``%`` doubled for its
    specifier expansion. An empty value is checked as "matches no ``?*``".
    """
    if value == "":
        word, want_success = f"{name}$=?*", False
    else:
        word, want_success = f"{name}$={_fnmatch_escape(value)}", True
    quoted = '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    proc = subprocess.run(
        ["systemd-analyze", "condition", "ConditionOSRelease=" + quoted.replace("%", "%%")],
        env=_clean_env(SYSTEMD_OS_RELEASE=os.path.abspath(path)),
        capture_output=True,
        timeout=_TIMEOUT,
        check=False,
    )
    report = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    if proc.returncode == 0 and "Conditions succeeded." in report:
        return want_success
    if proc.returncode != 0 and "Conditions failed." in report:
        return not want_success
    raise ReaderError(f"systemd-analyze did not evaluate the condition: {report.strip()}")


_VALID_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WHITESPACE = b" \t\n\r"
_NEWLINE = b"\n\r"
_COMMENTS = b"#;"
_SHELL_NEED_ESCAPE = b'"\\`$'


def read_systemd_port(path: str | os.PathLike[str]) -> dict[str, str]:
    """``EnvironmentFile=`` semantics: a port of systemd's env-file.c, not systemd."""
    data = Path(path).read_bytes().split(b"\0", 1)[0]  # the C loop stops at NUL
    pairs: dict[bytes, bytes] = {}
    key = bytearray()
    value: bytearray | None = None
    last_key_ws: int | None = None
    last_value_ws: int | None = None
    state = "PRE_KEY"

    def push() -> None:
        nonlocal key, value
        k = bytes(key[:last_key_ws] if last_key_ws is not None else key)
        pairs[k] = bytes(value or b"")
        key, value = bytearray(), None

    def add(c: int) -> None:
        nonlocal value
        if value is None:
            value = bytearray()
        value.append(c)

    for c in data:
        ch = bytes([c])
        if state == "PRE_KEY":
            if ch in _COMMENTS:
                state = "COMMENT"
            elif ch not in _WHITESPACE:
                state, last_key_ws = "KEY", None
                key.append(c)
        elif state == "KEY":
            if ch in _NEWLINE:
                state, key = "PRE_KEY", bytearray()
            elif ch == b"=":
                state, last_value_ws = "PRE_VALUE", None
            else:
                if ch not in _WHITESPACE:
                    last_key_ws = None
                elif last_key_ws is None:
                    last_key_ws = len(key)
                key.append(c)
        elif state == "PRE_VALUE":
            if ch in _NEWLINE:
                state = "PRE_KEY"
                push()
            elif ch == b"'":
                state = "SINGLE_QUOTE_VALUE"
            elif ch == b'"':
                state = "DOUBLE_QUOTE_VALUE"
            elif ch == b"\\":
                state = "VALUE_ESCAPE"
            elif ch not in _WHITESPACE:
                state = "VALUE"
                add(c)
        elif state == "VALUE":
            if ch in _NEWLINE:
                state = "PRE_KEY"
                if last_value_ws is not None and value is not None:
                    del value[last_value_ws:]
                push()
            elif ch == b"\\":
                state, last_value_ws = "VALUE_ESCAPE", None
            else:
                if ch not in _WHITESPACE:
                    last_value_ws = None
                elif last_value_ws is None:
                    last_value_ws = len(value or b"")
                add(c)
        elif state == "VALUE_ESCAPE":
            state = "VALUE"
            if ch not in _NEWLINE:
                add(c)
        elif state == "SINGLE_QUOTE_VALUE":
            if ch == b"'":
                state = "PRE_VALUE"
            else:
                add(c)
        elif state == "DOUBLE_QUOTE_VALUE":
            if ch == b'"':
                state = "PRE_VALUE"
            elif ch == b"\\":
                state = "DOUBLE_QUOTE_VALUE_ESCAPE"
            else:
                add(c)
        elif state == "DOUBLE_QUOTE_VALUE_ESCAPE":
            state = "DOUBLE_QUOTE_VALUE"
            if ch in _SHELL_NEED_ESCAPE:
                add(c)
            elif ch != b"\n":
                add(ord("\\"))
                add(c)
        elif state == "COMMENT":
            if ch == b"\\":
                state = "COMMENT_ESCAPE"
            elif ch in _NEWLINE:
                state = "PRE_KEY"
        elif state == "COMMENT_ESCAPE":  # systemd >= 254; before, always back to COMMENT
            state = "PRE_KEY" if ch in _NEWLINE else "COMMENT"
    if state in {
        "PRE_VALUE",
        "VALUE",
        "VALUE_ESCAPE",
        "SINGLE_QUOTE_VALUE",
        "DOUBLE_QUOTE_VALUE",
        "DOUBLE_QUOTE_VALUE_ESCAPE",
    }:
        if state == "VALUE" and last_value_ws is not None and value is not None:
            del value[last_value_ws:]
        push()

    out: dict[str, str] = {}
    for k, v in pairs.items():
        try:
            name, text = k.decode("utf-8"), v.decode("utf-8")
        except UnicodeDecodeError:
            raise ReaderError("invalid UTF-8: systemd refuses the whole file") from None
        if _VALID_NAME.fullmatch(name):  # strv_env_clean() drops invalid names
            out[name] = text
    return out

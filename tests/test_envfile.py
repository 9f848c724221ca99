"""selfdiscover._outputs.envfile against the real programs that read env files.

The contract under test: for each dialect, a value either reaches its reader
exactly, or ``render`` refuses it with an EnvFileError naming the variable. The
readers are real programs (see ``envreaders``): dash and bash, python-dotenv, the
docker CLI (against a fake engine, and a real engine when one runs), systemd's own
tokenizer via ``systemd-analyze``, plus a port of systemd's parser for listing a
whole file. Compose runs only where it is installed.
"""

from __future__ import annotations

import errno
import json
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path

import envreaders as readers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdiscover._errors import EnvFileError
from selfdiscover._outputs import envfile
from selfdiscover._outputs.envfile import DIALECTS, render, write, write_atomic

ROOT = Path(__file__).resolve().parents[1]

# A reader takes the file and the variables written, and returns what it read.
Reader = Callable[[Path, Mapping[str, str]], dict[str, str]]


def _whole_file(read: Callable[[Path], dict[str, str]]) -> Reader:
    return lambda path, _expected: read(path)


def _systemd_real(path: Path, expected: Mapping[str, str]) -> dict[str, str]:
    """systemd can only confirm values one by one; report a mismatch as such."""
    return {
        name: value if readers.systemd_reads(path, name, value) else "<systemd read otherwise>"
        for name, value in expected.items()
    }


def _json_read(path: Path) -> dict[str, str]:
    data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return data


_MISSING = {
    "dash": readers.dash_missing(),
    "bash": readers.bash_missing(),
    "compose": readers.compose_missing(),
    "docker-cli": readers.docker_cli_missing(),
    "docker-engine": readers.docker_engine_missing(),
    "systemd": readers.systemd_analyze_missing(),
}


def _skip(tool: str) -> pytest.MarkDecorator:
    reason = _MISSING[tool]
    return pytest.mark.skipif(reason is not None, reason=reason or "")


# (dialect, reader id, reader, marks)
READERS: list[tuple[str, str, Reader, list[pytest.MarkDecorator]]] = [
    ("docker", "docker-cli", _whole_file(readers.read_docker_cli), [_skip("docker-cli")]),
    (
        "docker",
        "docker-engine",
        _whole_file(readers.read_docker_engine),
        [pytest.mark.docker, _skip("docker-engine")],
    ),
    ("shell", "dash", _whole_file(partial(readers.read_shell, shell="dash")), [_skip("dash")]),
    ("shell", "bash", _whole_file(partial(readers.read_shell, shell="bash")), [_skip("bash")]),
    ("dotenv", "python-dotenv", _whole_file(readers.read_dotenv), []),
    ("dotenv", "compose", _whole_file(readers.read_compose), [_skip("compose")]),
    ("systemd", "systemd-analyze", _systemd_real, [_skip("systemd")]),
    ("systemd", "systemd-port", _whole_file(readers.read_systemd_port), []),
    ("json", "json", _whole_file(_json_read), []),
]


def reader_params(ids: set[str] | None = None) -> list[object]:
    return [
        pytest.param(dialect, read, id=rid, marks=marks)
        for dialect, rid, read, marks in READERS
        if ids is None or rid in ids
    ]


def _read_back(dialect: str, read: Reader, variables: Mapping[str, str], tmp: Path) -> None:
    """Write *variables* in *dialect* and assert *read* gets exactly them."""
    path = tmp / f"vars.{dialect}"
    path.write_bytes(render(variables, dialect).encode("utf-8"))
    assert read(path, variables) == dict(variables)


# --- the hostile table ----------------------------------------------------------

LONG = "0123456789abcdef" * 6400  # 100 KiB
ALL = frozenset(DIALECTS)

# (id, value, dialects that must refuse it)
HOSTILE: list[tuple[str, str, frozenset[str]]] = [
    ("single_quote", "it's", frozenset()),
    ("double_quote", 'say "hi"', frozenset()),
    ("bash_quote_idiom", "'I'\"'\"'m'", frozenset({"docker"})),
    ("dollar_var", "$HOME", frozenset()),
    ("dollar_brace", "${HOME}", frozenset({"dotenv"})),
    ("dollar_default", "${HOME:-x}", frozenset({"dotenv"})),
    ("dollar_dollar", "$$", frozenset()),
    ("dollar_alone_end", "cost: 5$", frozenset()),
    ("command_subst", "$(id -u)", frozenset()),
    ("backticks", "`id -u`", frozenset()),
    ("newline", "line1\nline2", frozenset({"docker"})),
    ("trailing_newline", "x\n", frozenset({"docker"})),
    ("cr", "a\rb", frozenset({"docker"})),
    ("crlf", "a\r\nb", frozenset({"docker"})),
    ("hash", "#", frozenset()),
    ("hash_first", "#not a comment", frozenset()),
    ("inline_comment", "abc # x", frozenset()),
    ("semicolon_comment", "; x", frozenset()),
    ("leading_trailing_spaces", "  padded  ", frozenset()),
    ("only_spaces", "   ", frozenset()),
    ("tabs", "\tA\tB\t", frozenset()),
    ("backslash", "a\\b", frozenset()),
    ("double_backslash", "a\\\\b", frozenset()),
    ("trailing_backslash", "abc\\", frozenset({"dotenv"})),
    ("backslash_n", "a\\nb", frozenset()),
    ("backslash_quote", "a\\'b\\\"c", frozenset()),
    ("windows_path", "C:\\Program Files\\x", frozenset()),
    ("tilde", "~/x", frozenset()),
    ("tilde_user", "~root", frozenset()),
    ("semicolon", "a; b", frozenset()),
    ("and_and", "true && false", frozenset()),
    ("pipe_redirect", "a | b > /dev/null < x", frozenset()),
    ("glob", "* ? [a-z]", frozenset()),
    ("equals", "a=b==c", frozenset()),
    ("leading_equals", "=x", frozenset()),
    ("percent", "100% %h %%", frozenset()),
    ("unicode", "é 日本 🚀", frozenset()),
    ("unicode_no_space", "café日本🚀", frozenset()),
    ("bom_inside", "\ufeffx", frozenset()),
    ("unicode_line_separators", "a\u2028b\u2029c\x85d", frozenset()),
    ("vertical_tab_formfeed", "a\x0bb\x0cc", frozenset()),
    ("ascii_controls", "\x01\x1b[31m\x7f\x1c", frozenset()),
    ("empty", "", frozenset()),
    ("long_100k", LONG, frozenset({"docker"})),
    ("quoted_both_ends", '"abc"', frozenset({"docker"})),
    ("single_quoted_both_ends", "'abc'", frozenset({"docker"})),
    ("quote_one_end", '"abc', frozenset()),
    ("dollar_and_quote", "it's $5", frozenset({"dotenv"})),
    ("dollar_and_backslash", "C:\\$x", frozenset({"dotenv"})),
    ("dollar_and_newline", "$a\nb", frozenset({"docker"})),
    ("dollar_and_cr", "$a\rb", frozenset({"docker", "dotenv"})),
    ("dollar_and_double_quote", '$a"b', frozenset()),
    ("nul", "a\0b", ALL),
    ("lone_surrogate", "a\ud800b", ALL),
]
HOSTILE_IDS = [h[0] for h in HOSTILE]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("value", "refused_by"), [h[1:] for h in HOSTILE], ids=HOSTILE_IDS)
def test_refusal_table(value: str, refused_by: frozenset[str], dialect: str) -> None:
    """Which dialect refuses which value is pinned, not left to chance."""
    if dialect in refused_by:
        with pytest.raises(EnvFileError) as excinfo:
            render({"BAD_VAR": value, "GOOD": "x"}, dialect)
        assert excinfo.value.variable == "BAD_VAR"
        assert "BAD_VAR" in str(excinfo.value)
        assert "\n" not in str(excinfo.value)
    else:
        render({"BAD_VAR": value}, dialect)


def hostile_params() -> list[object]:
    """Every reader with every value its dialect accepts (refusals: see above)."""
    return [
        pytest.param(dialect, read, value, id=f"{rid}-{hid}", marks=marks)
        for dialect, rid, read, marks in READERS
        for hid, value, refused_by in HOSTILE
        if dialect not in refused_by
    ]


@pytest.mark.parametrize(("dialect", "read", "value"), hostile_params())
def test_hostile_value_reaches_reader_exactly(dialect: str, read: Reader, value: str, tmp_path: Path) -> None:
    _read_back(dialect, read, {"V": value}, tmp_path)


@pytest.mark.parametrize(("dialect", "read"), reader_params())
def test_all_hostile_values_in_one_file(dialect: str, read: Reader, tmp_path: Path) -> None:
    """Neighbouring lines must not bleed into each other (a quote left open, a CR...)."""
    variables = {
        f"V_{hid.upper()}": value
        for hid, value, refused_by in HOSTILE
        if dialect not in refused_by and value != LONG
    }
    _read_back(dialect, read, variables, tmp_path)


CANARY_TEMPLATES = [
    "$(touch {p})",
    "`touch {p}`",
    "'; touch {p}; '",
    '"; touch {p}; "',
    "x\ntouch {p}\n",
    "x'\ntouch {p}\n'",
    "\\'$(touch {p})'",
    '\\"$(touch {p})"',
    "x\r\ntouch {p}",
    "'\"'\"`touch {p}`",
    "${{IFS}}$(touch {p})",
    "$(touch {p})\\",
]


@pytest.mark.parametrize(("dialect", "read"), reader_params())
def test_injection_canary(dialect: str, read: Reader, tmp_path: Path) -> None:
    """A value that would run `touch` if injected must not create the canary file."""
    canary = tmp_path / "PWNED-xyz"
    for template in CANARY_TEMPLATES:
        value = template.format(p=canary)
        try:
            text = render({"V": value}, dialect)
        except EnvFileError as exc:
            assert exc.variable == "V"
            continue
        path = tmp_path / "canary.env"
        path.write_bytes(text.encode("utf-8"))
        assert read(path, {"V": value}) == {"V": value}, template
        assert not canary.exists(), f"{dialect} file ran a command for {template!r}"


# --- names, header, shape ----------------------------------------------------------

BAD_NAMES = ["", "1ABC", "A-B", "A B", "A=B", "A.B", "Ä", "A\n", "export A", " A", "A$"]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_names_are_refused(name: str, dialect: str) -> None:
    with pytest.raises(EnvFileError) as excinfo:
        render({"GOOD": "x", name: "v"}, dialect)
    assert excinfo.value.variable == name
    assert "\n" not in str(excinfo.value)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_non_str_value_is_refused(dialect: str) -> None:
    with pytest.raises(EnvFileError) as excinfo:
        render({"N": 3}, dialect)  # type: ignore[dict-item]
    assert excinfo.value.variable == "N"


def test_unknown_dialect() -> None:
    with pytest.raises(EnvFileError, match="unknown env file dialect"):
        render({"A": "b"}, "yaml")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_output_is_deterministic_sorted_lf_utf8(dialect: str) -> None:
    variables = {"ZED": "z", "ALPHA": "a b", "MID": "é"}
    text = render(variables, dialect, header="made by a test")
    assert text == render(dict(reversed(list(variables.items()))), dialect, header="made by a test")
    assert text.endswith("\n")
    assert "\r" not in text
    assert not text.startswith("\ufeff")
    positions = [text.index(n) for n in ("ALPHA", "MID", "ZED")]
    assert positions == sorted(positions)


def test_empty_mapping() -> None:
    assert render({}, "shell") == ""
    assert render({}, "shell", header="h") == "# h\n"
    assert json.loads(render({}, "json")) == {}


def test_rendered_forms() -> None:
    """The exact spelling per dialect, so a change to it is a visible decision."""
    v = {"A": "it's", "B": "x $y", "C": "plain", "D": 'q"\\', "E": ""}
    assert render(v, "shell") == (
        "export A='it'\\''s'\nexport B='x $y'\nexport C='plain'\nexport D='q\"\\'\nexport E=''\n"
    )
    assert render({k: v[k] for k in "ABCE"}, "dotenv") == ('A="it\'s"\nB=\'x $y\'\nC="plain"\nE=""\n')
    assert render(v, "systemd") == 'A="it\'s"\nB="x \\$y"\nC=plain\nD="q\\"\\\\"\nE=\n'
    assert render({"C": "plain", "E": ""}, "docker") == "C=plain\nE=\n"
    assert render({"C": "é"}, "json") == '{\n  "C": "é"\n}\n'


INJECTING_HEADER = "made by test\nINJECTED=1\rALSO=2\u2028THIRD=3\x85FOURTH=4\x00x\\"


@pytest.mark.parametrize(("dialect", "read"), reader_params())
def test_header_cannot_inject_a_line(dialect: str, read: Reader, tmp_path: Path) -> None:
    text = render({"V": "kept"}, dialect, header=INJECTING_HEADER)
    if dialect == "json":
        assert json.loads(text) == {"V": "kept"}  # JSON has no comments: header left out
    else:
        lines = text.splitlines()
        assert all(line.startswith("#") for line in lines[:-1])
        assert lines[-1].startswith("export V=" if dialect == "shell" else "V=")
    path = tmp_path / "h.env"
    path.write_bytes(text.encode("utf-8"))
    assert read(path, {"V": "kept"}) == {"V": "kept"}


@pytest.mark.skipif(_MISSING["systemd"] is not None, reason=_MISSING["systemd"] or "")
def test_header_trailing_backslash_does_not_swallow_next_line(tmp_path: Path) -> None:
    """systemd < 254 continues a comment that ends in a backslash onto the next line,
    which would hide the first variable; the header sanitiser drops such backslashes."""
    path = tmp_path / "h.env"
    path.write_text(render({"V": "kept"}, "systemd", header="ends with \\\\"), encoding="utf-8")
    assert readers.systemd_reads(path, "V", "kept")
    assert readers.read_systemd_port(path) == {"V": "kept"}


def test_public_api() -> None:
    assert set(envfile.__all__) == {"DIALECTS", "render", "write", "write_atomic"}
    assert DIALECTS == ("docker", "shell", "dotenv", "systemd", "json")


def test_docker_line_limit_matches_real_docker(tmp_path: Path) -> None:
    """The 64 KiB line limit is docker's, measured: the longest accepted line reads back."""
    longest = "x" * (65535 - len("V="))
    _read_back("docker", _whole_file(_docker_reader()), {"V": longest}, tmp_path)
    with pytest.raises(EnvFileError, match="65535"):
        render({"V": longest + "x"}, "docker")
    path = tmp_path / "too-long.env"
    path.write_text(f"V={longest}x\n", encoding="utf-8")
    with pytest.raises(readers.ReaderError):
        _docker_reader()(path)


def _docker_reader() -> Callable[[Path], dict[str, str]]:
    """The real docker CLI when installed, else (clearly a port) kvfile's rules."""
    if _MISSING["docker-cli"] is None:
        return readers.read_docker_cli
    return readers.read_kvfile_port


# --- property tests ------------------------------------------------------------------

HOSTILE_CHARS = [
    *"'\"$\\`{}()\n\r\t #;~&|<>*?[]!=%:-",
    *["${", "$(", "\\n", "\\\\", "\r\n", "\u2028", "\x85", "\ufeff", "\xa0"],
    *["é", "日", "🚀", "\x00", "\x0b", "\x0c", "\x1c", "\x7f", "\x1b"],
]
values = st.lists(st.one_of(st.sampled_from(HOSTILE_CHARS), st.characters(codec="utf-8")), max_size=24).map(
    "".join
)
names = st.from_regex(r"[A-Za-z0-9_]{0,6}", fullmatch=True).map(lambda s: "V_" + s)
variable_sets = st.dictionaries(names, values, min_size=1, max_size=4)

PROPERTY_READERS: dict[str, Reader] = {
    "shell": _whole_file(partial(readers.read_shell, shell="dash")),
    "dotenv": _whole_file(readers.read_dotenv),
    "systemd": _whole_file(readers.read_systemd_port),
    "json": _whole_file(_json_read),
}


def _roundtrip_or_refuse(dialect: str, read: Reader, variables: dict[str, str]) -> None:
    try:
        render(variables, dialect)
    except EnvFileError as exc:
        bad = exc.variable
        assert bad is not None and bad in variables
        with pytest.raises(EnvFileError):  # refused on its own too, not for a neighbour
            render({bad: variables[bad]}, dialect)
        return
    with tempfile.TemporaryDirectory() as tmp:
        _read_back(dialect, read, variables, Path(tmp))


@pytest.mark.skipif(_MISSING["dash"] is not None, reason=_MISSING["dash"] or "")
@pytest.mark.parametrize("dialect", ["shell", "dotenv", "systemd", "json"])
@settings(max_examples=150, deadline=None)
@given(variables=variable_sets)
def test_property_roundtrip_or_refuse(dialect: str, variables: dict[str, str]) -> None:
    _roundtrip_or_refuse(dialect, PROPERTY_READERS[dialect], variables)


@settings(max_examples=150, deadline=None)
@given(variables=variable_sets)
def test_property_docker(variables: dict[str, str]) -> None:
    """Real docker CLI when installed; otherwise a port of kvfile (docker 28)."""
    _roundtrip_or_refuse("docker", _whole_file(_docker_reader()), variables)


@pytest.mark.skipif(_MISSING["systemd"] is not None, reason=_MISSING["systemd"] or "")
@settings(max_examples=150, deadline=None)
@given(variables=variable_sets)
def test_property_systemd_real_tokenizer(variables: dict[str, str]) -> None:
    _roundtrip_or_refuse("systemd", _systemd_real, variables)


@pytest.mark.skipif(_MISSING["systemd"] is not None, reason=_MISSING["systemd"] or "")
@settings(max_examples=150, deadline=None)
@given(value=values)
def test_property_systemd_port_agrees_with_systemd(value: str) -> None:
    """The port is only trusted as far as real systemd agrees with it."""
    if "\0" in value:
        value = value.replace("\0", "")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "f.env")
        # Quote-free raw text exercises the bare-value rules, the other two the quoting.
        for line in (f"V={value}", f'V="{value}"', f"V='{value}'"):
            path.write_bytes(f"{line}\n".encode())
            try:
                ported = readers.read_systemd_port(path).get("V", "")
            except readers.ReaderError:
                continue
            assert readers.systemd_reads(path, "V", ported), line


PORTABLE = st.from_regex(r"[A-Za-z0-9_@%+=:,./-]*", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(value=PORTABLE)
def test_property_portable_subset_accepted_everywhere(value: str) -> None:
    """Core ECS values (ARNs, names, images) must never be refused by any dialect."""
    for dialect in DIALECTS:
        render({"V": value}, dialect)
    with tempfile.TemporaryDirectory() as tmp:
        _read_back("shell", PROPERTY_READERS["shell"], {"V": value}, Path(tmp))
        _read_back("dotenv", PROPERTY_READERS["dotenv"], {"V": value}, Path(tmp))


# --- atomic writes ---------------------------------------------------------------------


def _tmp_leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_write_atomic_writes_bytes_and_str(tmp_path: Path) -> None:
    target = tmp_path / "out.env"
    write_atomic(target, "é\n")
    assert target.read_bytes() == "é\n".encode()
    write_atomic(str(target), b"\x00raw")
    assert target.read_bytes() == b"\x00raw"
    assert _tmp_leftovers(tmp_path) == []


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077, 0o777])
@pytest.mark.parametrize("mode", [0o644, 0o600, 0o640, 0o444])
def test_mode_is_exact_whatever_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    target = tmp_path / "out.env"
    target.write_text("old")
    os.chmod(target, 0o666)
    old = os.umask(umask)
    try:
        write_atomic(target, "new", mode=mode)
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert target.read_text() == "new"


def test_symlink_at_target_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    target = tmp_path / "out.env"
    target.symlink_to(victim)
    write_atomic(target, "new")
    assert not target.is_symlink()
    assert target.read_text() == "new"
    assert victim.read_text() == "precious"


def test_dangling_symlink_at_target_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "out.env"
    target.symlink_to(tmp_path / "elsewhere")
    write_atomic(target, "new")
    assert not target.is_symlink()
    assert not (tmp_path / "elsewhere").exists()


def test_symlink_with_same_content_is_still_replaced(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("same")
    os.chmod(victim, 0o644)
    target = tmp_path / "out.env"
    target.symlink_to(victim)
    write_atomic(target, "same")
    assert not target.is_symlink()


def test_directory_at_target_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "out.env"
    target.mkdir()
    (target / "inside").write_text("x")
    with pytest.raises(EnvFileError, match="is a directory") as excinfo:
        write_atomic(target, "new")
    assert str(target) in str(excinfo.value)
    assert (target / "inside").read_text() == "x"
    assert _tmp_leftovers(tmp_path) == []


def test_missing_directory(tmp_path: Path) -> None:
    target = tmp_path / "nope" / "out.env"
    with pytest.raises(EnvFileError) as excinfo:
        write_atomic(target, "new")
    message = str(excinfo.value)
    assert str(target) in message
    assert "No such file or directory" in message
    assert "\n" not in message


def test_unchanged_file_is_not_rewritten(tmp_path: Path) -> None:
    target = tmp_path / "out.env"
    write_atomic(target, "same", mode=0o640)
    before = target.stat()
    time.sleep(0.01)
    write_atomic(target, "same", mode=0o640)
    after = target.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    write_atomic(target, "same", mode=0o600)  # same bytes, other mode: rewritten
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.stat().st_ino != before.st_ino


def test_file_and_directory_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    write_atomic(tmp_path / "out.env", "data")
    assert synced == ["file", "dir"]


# Tests run as root, and root ignores permission bits: a chmod 0555 directory would
# not fail. So the failures below are injected into the syscalls instead.


def _is_temp_fd(fd: int) -> bool:
    try:
        return ".out.env." in os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return False


def _failing(real: Callable[..., object], err: int) -> Callable[..., object]:
    def fake(fd: int, *args: object) -> object:
        if _is_temp_fd(fd):
            raise OSError(err, os.strerror(err))
        return real(fd, *args)

    return fake


@pytest.mark.parametrize(
    ("syscall", "err"),
    [("write", errno.ENOSPC), ("fsync", errno.EIO), ("fchmod", errno.EPERM)],
)
def test_failed_write_keeps_old_file_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syscall: str, err: int
) -> None:
    target = tmp_path / "out.env"
    target.write_text("old")
    monkeypatch.setattr(os, syscall, _failing(getattr(os, syscall), err))
    with pytest.raises(EnvFileError) as excinfo:
        write_atomic(target, "new" * 1000)
    message = str(excinfo.value)
    assert str(target) in message
    assert os.strerror(err) in message
    assert "\n" not in message
    assert target.read_text() == "old"
    assert _tmp_leftovers(tmp_path) == []


def test_read_only_filesystem_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def erofs(*args: object, **kwargs: object) -> tuple[int, str]:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    target = tmp_path / "out.env"
    target.write_text("old")
    monkeypatch.setattr(tempfile, "mkstemp", erofs)
    with pytest.raises(EnvFileError, match="Read-only file system"):
        write_atomic(target, "new")
    assert target.read_text() == "old"


def test_failed_rename_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def eacces(src: object, dst: object) -> None:
        raise OSError(errno.EACCES, os.strerror(errno.EACCES))

    target = tmp_path / "out.env"
    target.write_text("old")
    monkeypatch.setattr(os, "replace", eacces)
    with pytest.raises(EnvFileError, match="Permission denied"):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert _tmp_leftovers(tmp_path) == []


def test_interrupt_mid_write_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    target = tmp_path / "out.env"
    target.write_text("old")
    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert _tmp_leftovers(tmp_path) == []


def test_write_renders_then_writes(tmp_path: Path) -> None:
    target = tmp_path / "ecs.env"
    write(target, {"B": "2", "A": "1 2"}, "shell", mode=0o600, header="hello")
    assert target.read_text() == "# hello\nexport A='1 2'\nexport B='2'\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_write_refusal_leaves_old_file(tmp_path: Path) -> None:
    target = tmp_path / "ecs.env"
    target.write_text("old")
    with pytest.raises(EnvFileError) as excinfo:
        write(target, {"A": "ok", "B": "two\nlines"}, "docker")
    assert excinfo.value.variable == "B"
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ecs.env"]


_WRITER = """
import sys
sys.path.insert(0, sys.argv[1])
from selfdiscover._outputs.envfile import write_atomic
target, payloads = sys.argv[2], [open(p, "rb").read() for p in sys.argv[3:]]
print("ready", flush=True)
i = 0
while True:
    write_atomic(target, payloads[i % len(payloads)])
    i += 1
"""


@pytest.mark.slow
def test_sigkill_mid_write_leaves_old_or_new_never_partial(tmp_path: Path) -> None:
    target = tmp_path / "out.env"
    versions = {bytes([65 + n]) * (1 << 20) for n in range(2)}  # two 1 MiB versions
    sources = []
    for n, payload in enumerate(sorted(versions)):
        src = tmp_path / f"payload{n}"
        src.write_bytes(payload)
        sources.append(str(src))
    target.write_bytes(b"original")
    allowed = versions | {b"original"}
    rng = random.Random(20240601)
    seen = set()
    for _ in range(30):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(ROOT), str(target), *sources],
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        content = target.read_bytes()
        assert content in allowed, f"partial file of {len(content)} bytes"
        seen.add(content)
    assert len(seen) >= 2, "the writer never got to replace the file; test proves nothing"
    # A killed writer cannot remove its temp file; it must be the hidden temp name.
    assert all(re.fullmatch(r"\.out\.env\..+\.tmp", n) for n in _tmp_leftovers(tmp_path))


_CONCURRENT_WRITER = """
import sys
sys.path.insert(0, sys.argv[1])
from selfdiscover._outputs.envfile import write_atomic
target, writer = sys.argv[2], int(sys.argv[3])
for n in range(20):
    body = f"writer={writer} n={n}\\n" + f"{writer}:{n};" * 4000
    write_atomic(target, body)
"""


@pytest.mark.slow
def test_concurrent_writers_end_with_one_complete_version(tmp_path: Path) -> None:
    target = tmp_path / "out.env"
    procs = [
        subprocess.Popen([sys.executable, "-c", _CONCURRENT_WRITER, str(ROOT), str(target), str(w)])
        for w in range(8)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * 8
    content = target.read_text()
    match = re.match(r"writer=(\d+) n=(\d+)\n", content)
    assert match, content[:80]
    writer, n = match.groups()
    assert content == f"writer={writer} n={n}\n" + f"{writer}:{n};" * 4000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.env"]


# --- shell files that keep the sourcing environment's own settings (merge) ---------------

MERGE_HOSTILE = "it's $(touch pwned) `id` ${HOME} ; x\nnext"


def _source(path: Path, shell: str, preset: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    """What *names* are after ``. path`` in *shell*, started with *preset* in its environment."""
    script = '. "$1" || exit 97; env -0'
    env = {"PATH": os.environ["PATH"], **preset}
    proc = subprocess.run(
        [shell, "-c", script, "reader", str(path)], env=env, capture_output=True, timeout=30, cwd=path.parent
    )
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    got = dict(e.decode().partition("=")[::2] for e in proc.stdout.split(b"\0") if e)
    return {n: got[n] for n in names if n in got}


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_shell_merge_keeps_the_sourcing_environments_own_values(tmp_path: Path, shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.fail(f"{shell} is needed to read the shell dialect")
    path = tmp_path / "ecs.sh"
    variables = {"KNOB": "2", "LIST": "a=1,b=2", "ODD": MERGE_HOSTILE, "PLAIN": "x"}
    merge = {"KNOB": "default", "LIST": "append", "ODD": "default"}
    path.write_text(envfile.render(variables, "shell", merge=merge), encoding="utf-8")
    names = ("KNOB", "LIST", "ODD", "PLAIN")
    # Nothing set where it is sourced: the file's values, byte for byte.
    assert _source(path, shell, {}, names) == variables
    # Set there: "default" keeps theirs, "append" puts theirs last (later entries win); others replaced.
    theirs = {"KNOB": "8", "LIST": "b=9", "ODD": "mine", "PLAIN": "mine"}
    assert _source(path, shell, theirs, names) == {
        "KNOB": "8",
        "LIST": "a=1,b=2,b=9",
        "ODD": "mine",
        "PLAIN": "x",
    }
    assert not (tmp_path / "pwned").exists()


def test_merge_is_only_for_the_shell_dialect_and_checked() -> None:
    variables = {"KNOB": "2"}
    for dialect in ("docker", "dotenv", "systemd", "json"):
        assert envfile.render(variables, dialect, merge={"KNOB": "default"}) == envfile.render(
            variables, dialect
        )
    with pytest.raises(EnvFileError, match="cannot merge"):
        envfile.render(variables, "shell", merge={"KNOB": "prepend"})
    with pytest.raises(EnvFileError, match="cannot merge"):
        envfile.render(variables, "json", merge={"A;B": "default"})

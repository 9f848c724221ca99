"""Own-container-ID detection: the shared corpus, extra layouts, hostile files."""

from __future__ import annotations

import errno
import json
import os
import random
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdiscover import _containerid as _identity
from selfdiscover._containerid import (
    CGROUP_MAX_BYTES,
    MOUNTINFO_MAX_BYTES,
    MOUNTINFO_MAX_LINES,
    OVERRIDE_ENV,
    Identity,
    container_id,
    identify,
    normalize_container_id,
    parse_cgroup,
    parse_mountinfo,
)
from selfdiscover._files import read_bounded

DATA = Path(__file__).parent / "data"
CORPUS: list[dict[str, Any]] = json.loads((DATA / "container-id-vectors.json").read_text())
EXTRA: list[dict[str, Any]] = json.loads((DATA / "identity_extra_vectors.json").read_text())
VECTORS = CORPUS + EXTRA

# Every form a parser may return: 64 hex, ECS/Fargate, Garden, kubepods UUID.
ID_FORMS = re.compile(
    r"[0-9a-f]{64}|[0-9a-f]{32}-[0-9]{1,10}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
    r"(?:[0-9a-f]{4}|[0-9a-f]{12})"
)

ID_A = "3192204fdc5a5439fc9e88539270c76f727976ef6cc788e9258ead0d80a70540"
ID_B = "d46bf73afb74b57c6a7103676dd16fdffc89bc60fb890b801a6402b971bdf769"


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    # A CI runner inside a pod sets KUBERNETES_SERVICE_HOST, which would change
    # the mountinfo answers; a developer may have the override exported.
    monkeypatch.delenv(OVERRIDE_ENV, raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)


def make_proc(root: Path, cgroup: str | bytes | None = None, mountinfo: str | bytes | None = None) -> str:
    self_dir = root / "proc" / "self"
    self_dir.mkdir(parents=True, exist_ok=True)
    for name, content in (("cgroup", cgroup), ("mountinfo", mountinfo)):
        if content is not None:
            data = content.encode() if isinstance(content, str) else content
            (self_dir / name).write_bytes(data)
    return str(root / "proc")


def by_name(name: str) -> dict[str, Any]:
    return next(v for v in VECTORS if v["name"] == name)


def run_with_timeout(fn: Callable[[], Any], seconds: float = 5.0) -> Any:
    """Fail instead of hanging the whole suite if ``fn`` blocks."""
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(fn()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "blocked"
    return result[0]


# --- the vectors -----------------------------------------------------------------


def test_corpus_is_the_full_public_subset() -> None:
    assert len(CORPUS) == 35
    assert len({v["name"] for v in VECTORS}) == len(VECTORS)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["name"])
def test_vector_parser(vector: dict[str, Any]) -> None:
    if vector["source"] == "cgroup":
        assert parse_cgroup(vector["content"]) == vector["expected"]
    else:
        assert parse_mountinfo(vector["content"]) == vector["expected"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["name"])
def test_vector_through_proc(vector: dict[str, Any], tmp_path: Path) -> None:
    proc = make_proc(tmp_path, **{vector["source"]: vector["content"]})
    assert container_id(proc) == vector["expected"]
    ident = identify(proc, environ={})
    assert ident.container_id == vector["expected"]
    if vector["expected"] is None:
        assert ident.rule == "none"
    elif vector["source"] == "cgroup":
        assert ident.rule == "cgroup"
    else:
        assert ident.rule in ("mountinfo-cgroup-root", "mountinfo-runtime-dir")


# --- rules and their reporting ------------------------------------------------------


def test_cgroup_wins_over_mountinfo(tmp_path: Path) -> None:
    mountinfo = by_name("mi-docker-20.10-with-volume")["content"]
    proc = make_proc(tmp_path, cgroup=f"0::/system.slice/docker-{ID_A}.scope\n", mountinfo=mountinfo)
    ident = identify(proc, environ={})
    assert ident == Identity(ID_A, "cgroup", ident.detail)
    assert "line 1" in ident.detail and "docker-" in ident.detail


def test_private_cgroupns_falls_back_to_mountinfo(tmp_path: Path) -> None:
    vector = by_name("mi-docker-20.10-with-volume")
    proc = make_proc(tmp_path, cgroup="0::/\n", mountinfo=vector["content"])
    ident = identify(proc, environ={})
    assert (ident.container_id, ident.rule) == (vector["expected"], "mountinfo-runtime-dir")
    assert "cgroup" in ident.detail and "mountinfo" in ident.detail


def test_cgroup_mount_root_rule_is_reported(tmp_path: Path) -> None:
    vector = by_name("mi-k8s-containerd-v2-cgroup2-root-vs-sandbox")
    ident = identify(make_proc(tmp_path, mountinfo=vector["content"]), environ={})
    assert ident.rule == "mountinfo-cgroup-root"
    assert "/sys/fs/cgroup" in ident.detail


def test_nothing_found_explains_each_source(tmp_path: Path) -> None:
    proc = make_proc(tmp_path, cgroup="0::/\n", mountinfo="")
    ident = identify(proc, environ={})
    assert ident == Identity(None, "none", ident.detail)
    assert "self/cgroup" in ident.detail and "self/mountinfo" in ident.detail


def test_shared_network_namespace_is_flagged(tmp_path: Path) -> None:
    vector = by_name("extra-mi-shared-netns-owner-only")
    ident = identify(make_proc(tmp_path, cgroup="0::/\n", mountinfo=vector["content"]), environ={})
    assert ident.container_id == vector["expected"]
    assert ident.rule == "mountinfo-runtime-dir"
    assert "network-namespace owner" in ident.detail


def test_own_runtime_dir_beats_netns_files_and_is_not_flagged(tmp_path: Path) -> None:
    vector = by_name("extra-mi-podman-own-secrets-vs-infra-netns-files")
    ident = identify(make_proc(tmp_path, mountinfo=vector["content"]), environ={})
    assert ident.container_id == vector["expected"]
    assert "network-namespace owner" not in ident.detail


def test_kubernetes_from_environment_ignores_pod_shared_files(tmp_path: Path) -> None:
    content = by_name("mi-docker-20.10-with-volume")["content"]
    proc = make_proc(tmp_path, mountinfo=content)
    assert identify(proc, environ={}).container_id is not None
    ident = identify(proc, environ={"KUBERNETES_SERVICE_HOST": "10.96.0.1"})
    assert ident.container_id is None
    assert "Kubernetes" in ident.detail
    assert parse_mountinfo(content, kubernetes=True) is None


def test_kubernetes_false_disables_the_pod_filter() -> None:
    # Without the filter CRI-O's infra files compete with the own /run/secrets.
    content = by_name("mi-openshift-crio-v2-infra-hostname-vs-own-secrets")["content"]
    assert parse_mountinfo(content) == parse_mountinfo(content, kubernetes=True)
    assert parse_mountinfo(content, kubernetes=False) is None


def test_mountinfo_octal_escapes_are_decoded() -> None:
    assert _identity._unescape(r"/a\040b\011c\012d\134e\134040") == "/a b\tc\nd\\e\\040"
    root = f"/containers/storage/overlay-containers/{ID_A}/userdata"
    line = rf"1 2 0:25 {root} /run/my\040dir rw - tmpfs tmpfs rw"
    ident = _identity._scan_mountinfo(line, None)
    assert ident.container_id == ID_A
    assert "/run/my dir" in ident.detail


def test_ids_from_mount_points_and_options_are_never_taken() -> None:
    content = (
        f"10 1 0:30 / /var/lib/docker/containers/{ID_A}/mounts/shm rw - tmpfs shm rw\n"
        f"11 1 0:31 / / rw - overlay overlay rw,upperdir=/var/lib/containers/{ID_B}/diff\n"
        f"12 1 0:32 /var/lib/docker/volumes/{ID_B}/_data /data rw - ext4 /dev/sda1 rw\n"
    )
    assert parse_mountinfo(content) is None


def test_first_cgroup_line_with_an_id_wins() -> None:
    text = f"2:memory:/docker/{ID_A}\n1:name=systemd:/docker/{ID_B}\n"
    assert parse_cgroup(text) == ID_A


# --- override ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (ID_B, ID_B),
        (f"  {ID_B.upper()}\n", ID_B),
        (
            "37bbbbed5fd87cbc8c1b2084b1c48b52-2675438671",
            "37bbbbed5fd87cbc8c1b2084b1c48b52-2675438671",
        ),
        ("37BBBBED5FD87CBC8C1B2084B1C48B52-7", "37bbbbed5fd87cbc8c1b2084b1c48b52-7"),
        ("6f265890-5165-7fab-6b52-18d1", "6f265890-5165-7fab-6b52-18d1"),
    ],
)
def test_valid_override_wins(raw: str, expected: str, tmp_path: Path) -> None:
    proc = make_proc(tmp_path, cgroup=f"0::/system.slice/docker-{ID_A}.scope\n")
    assert identify(proc, environ={OVERRIDE_ENV: raw}) == Identity(
        expected, "override", f"from ${OVERRIDE_ENV}"
    )


@pytest.mark.parametrize(
    "raw",
    [
        "hello",
        ID_B[:-1],
        ID_B + "0",
        f"docker-{ID_B}",
        f"docker://{ID_B}",
        "37bbbbed5fd87cbc8c1b2084b1c48b52-26754386710",
        "3e74d3fd-9db4-4c9d-921a-e05c2502fb98",
        "x" * 10_000,
    ],
)
def test_invalid_override_is_ignored_and_noted(raw: str, tmp_path: Path) -> None:
    proc = make_proc(tmp_path, cgroup=f"0::/system.slice/docker-{ID_A}.scope\n")
    ident = identify(proc, environ={OVERRIDE_ENV: raw})
    assert (ident.container_id, ident.rule) == (ID_A, "cgroup")
    assert ident.detail.startswith(f"ignored invalid ${OVERRIDE_ENV}=")
    assert len(ident.detail) < 500
    assert normalize_container_id(raw) is None


def test_invalid_override_noted_even_when_nothing_found(tmp_path: Path) -> None:
    ident = identify(make_proc(tmp_path), environ={OVERRIDE_ENV: "nope"})
    assert ident.container_id is None and "ignored invalid" in ident.detail


def test_blank_override_is_unset(tmp_path: Path) -> None:
    proc = make_proc(tmp_path, cgroup=f"0::/docker/{ID_A}\n")
    ident = identify(proc, environ={OVERRIDE_ENV: "  \t"})
    assert ident.rule == "cgroup" and "ignored" not in ident.detail


def test_container_id_reads_override_from_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OVERRIDE_ENV, ID_B)
    assert container_id(make_proc(tmp_path)) == ID_B


def test_missing_proc_root(tmp_path: Path) -> None:
    ident = identify(str(tmp_path / "nope"), environ={})
    assert ident.container_id is None and ident.rule == "none"
    assert "No such file" in ident.detail


def test_directory_at_cgroup_path_falls_through(tmp_path: Path) -> None:
    vector = by_name("mi-docker-20.10-with-volume")
    proc = make_proc(tmp_path, mountinfo=vector["content"])
    (tmp_path / "proc" / "self" / "cgroup").mkdir()
    ident = identify(proc, environ={})
    assert ident.container_id == vector["expected"]
    assert "not a regular file" in ident.detail


def test_symlink_loop(tmp_path: Path) -> None:
    proc = make_proc(tmp_path)
    cgroup = tmp_path / "proc" / "self" / "cgroup"
    cgroup.symlink_to(cgroup)
    assert container_id(proc) is None


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_endless_device_is_refused(tmp_path: Path) -> None:
    proc = make_proc(tmp_path)
    (tmp_path / "proc" / "self" / "cgroup").symlink_to("/dev/zero")
    (tmp_path / "proc" / "self" / "mountinfo").symlink_to("/dev/zero")
    assert run_with_timeout(lambda: container_id(proc)) is None


@pytest.mark.parametrize("failing", ["open", "read"])
def test_unreadable_file(failing: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root, so chmod 000 would not stop the read: simulate it.
    proc = make_proc(tmp_path, cgroup=f"0::/docker/{ID_A}\n", mountinfo="")
    real = getattr(os, failing)

    def denied(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.EACCES if failing == "open" else errno.EIO, "denied")

    monkeypatch.setattr(os, failing, denied)
    try:
        ident = identify(proc, environ={})
    finally:
        monkeypatch.setattr(os, failing, real)
    assert ident.container_id is None and "denied" in ident.detail


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("name", ["cgroup", "mountinfo"])
def test_fifo_without_writer_does_not_block(name: str, tmp_path: Path) -> None:
    proc = make_proc(tmp_path)
    os.mkfifo(tmp_path / "proc" / "self" / name)
    ident = run_with_timeout(lambda: identify(proc, environ={}))
    assert ident.container_id is None and "not a regular file" in ident.detail


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_with_silent_writer_does_not_block(tmp_path: Path) -> None:
    proc = make_proc(tmp_path)
    fifo = tmp_path / "proc" / "self" / "cgroup"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # holds a write end open
    try:
        assert run_with_timeout(lambda: container_id(proc)) is None
        assert run_with_timeout(lambda: read_bounded(str(fifo), 100)) is None
    finally:
        os.close(writer)


def test_huge_cgroup_file_is_read_only_up_to_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    filler = b"1:name=systemd:/\n" * (CGROUP_MAX_BYTES // 17 + 1)
    late = f"2:memory:/docker/{ID_A}\n".encode()
    data = filler + late
    data += b"3:pids:/\n" * ((10 * 1024 * 1024 - len(data)) // 9)
    proc = make_proc(tmp_path, cgroup=data, mountinfo="")

    read_total = 0
    real_read = os.read

    def counting_read(fd: int, n: int) -> bytes:
        nonlocal read_total
        chunk = real_read(fd, n)
        read_total += len(chunk)
        return chunk

    monkeypatch.setattr(os, "read", counting_read)
    start = time.perf_counter()
    assert container_id(proc) is None  # the ID sits after the cap
    assert time.perf_counter() - start < 1.0
    assert read_total <= CGROUP_MAX_BYTES + 1 + 64  # cgroup cap (+1 to see it) + empty mountinfo


def test_huge_mountinfo_keeps_the_head(tmp_path: Path) -> None:
    head = by_name("mi-docker-20.10-with-volume")
    junk = b"1 2 0:1 / /x rw - tmpfs tmpfs rw\n" * (10 * 1024 * 1024 // 32)
    proc = make_proc(tmp_path, cgroup="0::/\n", mountinfo=head["content"].encode() + junk)
    start = time.perf_counter()
    assert container_id(proc) == head["expected"]
    assert time.perf_counter() - start < 1.0

    after = by_name("mi-podman-rootless-overlay-containers-userdata")
    proc = make_proc(tmp_path / "late", cgroup="0::/\n", mountinfo=junk + after["content"].encode())
    ident = identify(proc, environ={})
    assert ident.container_id is None and "capped" in ident.detail


def test_line_cut_by_the_cap_is_dropped(tmp_path: Path) -> None:
    # A 65-hex name cut after 64 characters must not become a valid ID.
    prefix = b"1:memory:/docker/"
    pad = b"9:pids:/\n" * ((CGROUP_MAX_BYTES - len(prefix) - 64) // 9)
    pad += b"/" * (CGROUP_MAX_BYTES - len(pad) - len(prefix) - 64 - 1) + b"\n"
    data = pad + prefix + (ID_A + "f").encode() + b"\n"
    assert len(pad) + len(prefix) + 64 == CGROUP_MAX_BYTES
    assert container_id(make_proc(tmp_path, cgroup=data)) is None
    assert parse_cgroup(data.decode()) is None


def test_mountinfo_line_cap() -> None:
    line = f"9 1 0:5 /var/lib/docker/containers/{ID_A}/hostname /etc/hostname rw - ext4 /dev/sda rw\n"
    junk = "1 2 0:1 / /x rw - tmpfs tmpfs rw\n"
    assert parse_mountinfo(junk * (MOUNTINFO_MAX_LINES - 1) + line) == ID_A
    assert parse_mountinfo(junk * MOUNTINFO_MAX_LINES + line) is None


def test_binary_garbage(tmp_path: Path) -> None:
    rng = random.Random(1234)
    garbage = bytes(rng.getrandbits(8) for _ in range(200_000))
    proc = make_proc(tmp_path, cgroup=garbage, mountinfo=garbage)
    assert container_id(proc) is None


def test_nul_bytes_and_invalid_utf8_do_not_hide_a_valid_line(tmp_path: Path) -> None:
    cgroup = b"\x00" * 1000 + b"\n\xff\xfe\xc3(:\x80:/\x00\n" + f"1:cpu:/docker/{ID_A}\n".encode()
    assert container_id(make_proc(tmp_path, cgroup=cgroup)) == ID_A


def test_invalid_utf8_inside_an_id_is_no_id(tmp_path: Path) -> None:
    broken = (f"1:cpu:/docker/{ID_A[:30]}").encode() + b"\xff" + ID_A[31:].encode() + b"\n"
    nul = (f"1:cpu:/docker/{ID_A[:30]}").encode() + b"\x00" + ID_A[31:].encode() + b"\n"
    assert container_id(make_proc(tmp_path, cgroup=broken + nul)) is None


def test_read_bounded(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"line one\nline two\n")
    assert read_bounded(str(path), 100) == "line one\nline two\n"
    assert read_bounded(str(path), 12) == "line one\n"
    assert read_bounded(str(tmp_path / "missing"), 100) is None
    assert read_bounded(str(tmp_path), 100) is None


ADVERSARIAL = {
    "hex": "a" * 64,
    "hex-dash": "0123456789abcdef-",
    "dashes": "-",
    "colons": ":",
    "slash-hex": "/" + "b" * 64,
    "slash-short": "/a",
    "hex-colon": "c" * 63 + ":",
    "scope": "docker-" + "d" * 64 + ".scope.scope",
    "containers": "/containers/" + "e" * 64,
    "escapes": "\\040",
    "separator": " - ",
    "uuid-ish": "3e74d3fd-9db4-4c9d-921a-",
}


@pytest.mark.parametrize("unit", list(ADVERSARIAL.values()), ids=list(ADVERSARIAL))
@pytest.mark.parametrize("parser", ["cgroup", "mountinfo"])
def test_adversarial_long_lines_are_fast(unit: str, parser: str) -> None:
    size = (CGROUP_MAX_BYTES if parser == "cgroup" else MOUNTINFO_MAX_BYTES) - 100
    body = unit * (size // len(unit))
    if parser == "cgroup":
        texts = [f"1:cpu:{body}\n", f"1:cpu:/{body}\n", body + "\n"]
        run: Callable[[str], str | None] = parse_cgroup
    else:
        texts = [
            f"1 2 0:1 {body} /sys/fs/cgroup rw - cgroup2 cgroup rw\n",
            f"1 2 0:1 /x {body} rw - ext4 x rw\n",
            body + "\n",
        ]
        run = parse_mountinfo
    for text in texts:
        start = time.perf_counter()
        result = run(text)
        assert time.perf_counter() - start < 0.5
        assert result is None or ID_FORMS.fullmatch(result)


# --- properties -----------------------------------------------------------------------

HEX64 = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
# Parts that can never be an ID (no hex digits), standing in for slices and units.
FILLER_PART = st.text(alphabet="ghijklmnopqrstuvwxyz._@-", min_size=1, max_size=20).filter(
    lambda p: p not in (".", "..")
)
PREFIXES = st.sampled_from(
    [
        "",
        "docker-",
        "cri-containerd-",
        "crio-",
        "libpod-",
        "kubepods-besteffort-pod2105e389_7471_476e_a50f_6074cef29bbd.slice:cri-containerd:",
    ]
)
TOKENS = st.sampled_from(
    [
        "/",
        ":",
        "-",
        " ",
        "\n",
        " - ",
        "0::",
        "1:cpu:",
        "docker-",
        ".scope",
        "kubepods",
        "pod",
        "/containers/",
        "overlay-containers",
        "/sandboxes/",
        "/etc/hostname",
        "/sys/fs/cgroup",
        "cgroup2",
        "cgroup",
        "\\040",
        "/kubelet/pods/",
        "a" * 32,
        "b" * 64,
        "-1234567890",
        "3e74d3fd-9db4-4c9d-921a-e05c2502fb98",
        "6f265890-5165-7fab-6b52-18d1",
        "12 34 0:5 ",
    ]
)
STRUCTURED_TEXT = st.lists(TOKENS | st.text(max_size=8), max_size=60).map("".join)


@settings(max_examples=200, deadline=None)
@given(text=st.text() | STRUCTURED_TEXT)
def test_parse_cgroup_never_raises(text: str) -> None:
    result = parse_cgroup(text)
    assert result is None or ID_FORMS.fullmatch(result)


@settings(max_examples=200, deadline=None)
@given(text=st.text() | STRUCTURED_TEXT, kubernetes=st.none() | st.booleans())
def test_parse_mountinfo_never_raises(text: str, kubernetes: bool | None) -> None:
    result = parse_mountinfo(text, kubernetes=kubernetes)
    assert result is None or ID_FORMS.fullmatch(result)


@st.composite
def cgroup_layouts(draw: st.DrawFn) -> tuple[str, str]:
    """A cgroup path with the ID at a random depth, possibly below an outer
    container and above leaf cgroups, plus the whole file around it."""
    cid = draw(HEX64)
    left = draw(st.lists(FILLER_PART, max_size=5))
    if draw(st.booleans()):
        left.insert(draw(st.integers(0, len(left))), "docker-" + draw(HEX64) + ".scope")
    right = draw(st.lists(FILLER_PART, max_size=3))
    part = draw(PREFIXES) + cid + (".scope" if draw(st.booleans()) else "")
    path = "/" + "/".join([*left, part, *right])
    v2 = draw(st.booleans())
    lines = [f"{n}:{c}:/" for n, c in enumerate(draw(st.lists(FILLER_PART, max_size=3)), 10)]
    lines.append(f"0::{path}" if v2 else f"4:memory:{path}")
    return cid, "\n".join(lines) + "\n"


@settings(max_examples=200, deadline=None)
@given(layout=cgroup_layouts())
def test_generated_cgroup_layout_is_found_exactly(layout: tuple[str, str]) -> None:
    cid, text = layout
    assert parse_cgroup(text) == cid
    path = text.rstrip("\n").rsplit("\n", 1)[-1].split(":", 2)[2]
    mountinfo = f"30 23 0:26 {path} /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n"
    assert parse_mountinfo(mountinfo) == cid


@st.composite
def runtime_dir_layouts(draw: st.DrawFn) -> tuple[str, str]:
    cid = draw(HEX64)
    base = "/".join(draw(st.lists(FILLER_PART, max_size=4)))
    kind = draw(st.sampled_from(["containers", "overlay-containers", "btrfs-containers"]))
    files = draw(
        st.lists(
            st.sampled_from(["/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/run/secrets"]),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    lines = [
        f"{100 + i} 1 0:25 /{base}/{kind}/{cid}/userdata{mp} {mp} rw,relatime - tmpfs tmpfs rw"
        for i, mp in enumerate(files)
    ]
    for i, junk in enumerate(draw(st.lists(FILLER_PART, max_size=5))):
        lines.insert(
            draw(st.integers(0, len(lines))),
            f"{200 + i} 1 0:9 /{junk} /{junk} rw - ext4 /dev/sda rw",
        )
    return cid, "\n".join(lines) + "\n"


@settings(max_examples=200, deadline=None)
@given(layout=runtime_dir_layouts())
def test_generated_runtime_dir_layout_is_found_exactly(layout: tuple[str, str]) -> None:
    cid, text = layout
    assert parse_mountinfo(text, kubernetes=False) == cid

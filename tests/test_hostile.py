"""Hostile and faulty agents, end to end: selfdiscover runs before the application in
every container, so whatever the agent sends, it must end within its deadline with a
safe result or a one-line error, in bounded memory, without a traceback, a broken env
file, or agent data changing what the application runs.

* Property-based fuzzing (hypothesis, fixed budget, derandomized) of every parser of
  agent responses, of ``classify`` and of the raw HTTP exchange over a real socket.
* Resource bounds measured in-process: 100 MB bodies (declared, close-delimited,
  chunked), a gzip bomb, endless headers, redirects to other hosts.
* The real shim (``selfdiscover exec``, the installed console script) against crafted
  TMDE v4 and introspection answers: exit codes, one-line errors, env files read back
  by dash, json and a docker-style line check, and an injection canary that must never
  appear.
* The shim against dripping and silent agents: wall time from its first request (its
  start-up is the machine's time, not the deadline's).

Bugs this file found are fixed; the test of each stays with the behaviour it guards, its
docstring naming the bug.
All traffic is loopback (127.0.0.1); every server loop is bounded.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import tracemalloc
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import envreaders as readers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rawserver import RawServer, drip, reply, reset, silent, stream
from timing import first_request_at, slack

from selfdiscover import AgentResponseError, DiscoveryError, Retry, TaskInfo, Timeout, discover
from selfdiscover._errors import EnvFileError, RetryableError
from selfdiscover._model import TaskArn, parse_task_arn
from selfdiscover._model._variables import LIMIT_VARIABLES, VARIABLES, to_variables
from selfdiscover._outputs.envfile import DIALECTS, render
from selfdiscover.sources import _http as http_mod
from selfdiscover.sources._agent import (
    AgentClient,
    AgentMetadata,
    AgentTask,
    classify,
    parse_metadata,
    parse_task,
    parse_tasks,
)
from selfdiscover.sources.metadata_file import parse_metadata_file
from selfdiscover.sources.tmde import parse_task_metadata
from selfdiscover.testing import Behaviour, FakeAgent

PY = sys.executable
DID = "5d0e1f2a" * 8  # the caller's own container ID (passed as SELFDISCOVER_DOCKER_ID)
OTHER = "9c" * 32
TASK_ID = "0123456789abcdef0123456789abcdef"
ARN = f"arn:aws:ecs:us-west-2:111122223333:task/prod/{TASK_ID}"
CAP = http_mod.DEFAULT_BODY_CAP
MB = 1024 * 1024
VAR_NAMES = frozenset("ECS_" + suffix for suffix, _ in (*VARIABLES, *LIMIT_VARIABLES))

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


# --- what "well-formed" means ------------------------------------------------------


def clean(value: str) -> bool:
    """What the parsers promise for every string they return: at most 2048 characters, no
    control character (C0, DEL, C1) and no lone surrogate (it cannot be encoded for execve)."""
    return len(value) <= 2048 and not any(
        ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or 0xD800 <= ord(c) <= 0xDFFF for c in value
    )


def assert_clean_strings(obj: Any) -> None:
    """Every str reachable through dataclass fields, tuples and lists is clean."""
    if isinstance(obj, str):
        assert clean(obj), repr(obj)[:200]
    elif is_dataclass(obj) and not isinstance(obj, type):
        for f in fields(obj):
            assert_clean_strings(getattr(obj, f.name))
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            assert_clean_strings(item)
    elif isinstance(obj, Mapping):
        for key, item in obj.items():
            assert isinstance(key, str) and isinstance(item, str)
            assert_clean_strings(key)
            assert_clean_strings(item)
    elif isinstance(obj, int) and not isinstance(obj, bool):
        assert 0 <= obj < 2**31, obj
    else:
        assert obj is None, type(obj)


def assert_one_line_error(e: BaseException) -> None:
    """A DiscoveryError whose message is one printable line of reasonable length."""
    assert isinstance(e, (AgentResponseError, RetryableError)), f"{type(e).__name__}: {e}"
    assert isinstance(e, DiscoveryError)
    msg = str(e)
    assert msg and len(msg) < 1000, msg[:200]
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in msg), repr(msg)


FAMILY_RE = re.compile(r"[A-Za-z0-9_-]{1,255}")
PORT_VAR_RE = re.compile(r"ECS_PORT_[1-9][0-9]{0,4}_(TCP|UDP)")
REVISION_RE = re.compile(r"[0-9]{1,10}")


def assert_core(arn: str, family: str, version: str) -> None:
    assert arn.startswith("arn:")
    assert FAMILY_RE.fullmatch(family) and REVISION_RE.fullmatch(version)


def assert_task(t: AgentTask) -> None:
    assert isinstance(t, AgentTask)
    assert_core(t.arn, t.family, t.version)
    assert_clean_strings(t)


def assert_info(info: TaskInfo) -> None:
    """A TaskInfo from hostile input is well-formed, and every dialect either writes it
    as single NAME=... lines (or JSON) or refuses it with EnvFileError: never anything else."""
    assert isinstance(info, TaskInfo)
    assert_core(info.arn, info.family, info.version)
    assert_clean_strings(info)
    variables = to_variables(info)
    assert {n for n in variables if not PORT_VAR_RE.fullmatch(n)} <= VAR_NAMES
    for dialect in DIALECTS:
        try:
            text = render(variables, dialect, header="hostile")
        except EnvFileError as e:
            assert e.variable in variables and "\n" not in str(e)
            continue
        if dialect == "json":
            assert json.loads(text) == variables
        else:  # one NAME=... line per variable, whatever the quoting
            lines = [ln for ln in text.split("\n") if ln and not ln.startswith("#")]
            assert len(lines) == len(variables), text


# --- strategies ------------------------------------------------------------------------

REAL_KEYS = (
    "Arn", "Family", "Version", "KnownStatus", "DesiredStatus", "Containers", "DockerId", "DockerID",
    "DockerName", "Name", "Image", "ImageID", "AvailableCommands", "Tasks", "Cluster",
    "ContainerInstanceArn", "TaskARN", "Revision", "AvailabilityZone", "LaunchType",
    "TaskDefinitionFamily", "TaskDefinitionRevision", "ContainerID", "ContainerName",
    "ContainerInstanceARN", "MetadataFileStatus",
)  # fmt: skip

NASTY = (
    "", " ", "arn:", ARN, "arn:nope", "arn:$(touch pwned)", "`touch pwned`", "$(id)", "${IFS}",
    "'", '"', "'quoted'", '"quoted"', "a\nb", "a\rb", "\x00", "\x1b[2J", "\x7f", "\x85", "\u2028",
    "\ud800", "\udcff", "é", "😀", "x" * 2048, "x" * 2049, "1", "12", "1" * 10, "1" * 11, "-1", "1.0",
    "01", "٣", "web", "web;rm -rf /", "READY", "RUNNING", DID, DID[:12], OTHER, "null", "{}",
)  # fmt: skip

text_values = st.one_of(st.sampled_from(NASTY), st.text(max_size=24))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), text_values)
keys = st.one_of(st.sampled_from(REAL_KEYS), st.text(max_size=8))
json_values = st.recursive(
    scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(keys, kids, max_size=6)),
    max_leaves=10,
)
arns = st.one_of(
    st.sampled_from([ARN, f"arn:aws:ecs:eu-west-1:123456789012:task/{TASK_ID}", "arn:x"]),
    st.from_regex(r"arn:aws[a-z-]{0,3}:ecs:[a-z0-9-]{1,6}:[0-9]{11,13}:task/([a-z0-9_-]{1,6}/)?[0-9a-f]{32}",
                  fullmatch=True),
    text_values,
)  # fmt: skip
families = st.one_of(st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True), text_values)
revisions = st.one_of(st.from_regex(r"[0-9]{1,11}", fullmatch=True), text_values, st.integers())
any_value = st.one_of(text_values, json_values)


def shaped(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with the real keys, each value likely right (3 in 4) and sometimes hostile."""
    return st.fixed_dictionaries(
        {k: st.one_of(v, v, v, any_value) for k, v in required.items()},
        optional={**{k: st.one_of(v, v, v, any_value) for k, v in optional.items()}, "Extra": json_values},
    )


v1_containers = shaped(
    {"DockerId": st.sampled_from([DID, OTHER]), "Name": families},
    {"DockerID": st.just(DID), "DockerName": text_values, "Image": text_values, "ImageID": text_values},
)
v1_tasks = shaped(
    {"Arn": arns, "Family": families, "Version": revisions},
    {
        "Containers": st.one_of(st.none(), st.lists(v1_containers, max_size=3)),
        "KnownStatus": text_values,
        "DesiredStatus": text_values,
        "AvailableCommands": st.just([]),
    },
)
v1_metadata = shaped(
    {},
    {"Cluster": text_values, "ContainerInstanceArn": text_values, "Version": text_values},
)
v4_containers = shaped({"DockerId": st.sampled_from([DID, OTHER]), "Name": families}, {})
v4_tasks = shaped(
    {"TaskARN": arns, "Family": families, "Revision": revisions},
    {
        "Containers": st.one_of(st.none(), st.lists(v4_containers, max_size=3)),
        "Cluster": text_values,
        "KnownStatus": text_values,
        "AvailabilityZone": text_values,
        "LaunchType": text_values,
    },
)
metadata_files = shaped(
    {
        "MetadataFileStatus": st.sampled_from(["READY", "READY", "READY", "NOT_READY", ""]),
        "TaskARN": arns,
        "TaskDefinitionFamily": families,
        "TaskDefinitionRevision": revisions,
    },
    {
        "ContainerID": st.just(DID),
        "ContainerName": families,
        "Cluster": text_values,
        "ContainerInstanceARN": text_values,
        "AvailabilityZone": text_values,
    },
)


# Valid documents whose text is anything the contract allows (no C0/DEL, no surrogates):
# shell metacharacters, quotes, non-ASCII. They drive the success path through the
# model and every env-file dialect.
allowed_text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=24)
good_families = st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True)
good_revisions = st.from_regex(r"[0-9]{1,10}", fullmatch=True)
good_arns = st.one_of(st.from_regex(r"arn:[ -~]{0,40}", fullmatch=True), st.just(ARN))
valid_containers = st.fixed_dictionaries({"DockerId": st.sampled_from([DID, OTHER]), "Name": allowed_text})
valid_v1_tasks = st.fixed_dictionaries(
    {"Arn": good_arns, "Family": good_families, "Version": good_revisions},
    optional={
        "KnownStatus": allowed_text,
        "Containers": st.lists(valid_containers, max_size=2),
    },
)
valid_v4_tasks = st.fixed_dictionaries(
    {"TaskARN": good_arns, "Family": good_families, "Revision": good_revisions},
    optional={
        "Cluster": allowed_text,
        "AvailabilityZone": allowed_text,
        "LaunchType": allowed_text,
        "Containers": st.lists(valid_containers, max_size=2),
    },
)
valid_metadata_files = st.fixed_dictionaries(
    {
        "MetadataFileStatus": st.just("READY"),
        "TaskARN": good_arns,
        "TaskDefinitionFamily": good_families,
        "TaskDefinitionRevision": good_revisions,
    },
    optional={"ContainerName": allowed_text, "Cluster": allowed_text, "AvailabilityZone": allowed_text},
)


@st.composite
def corrupted(draw: st.DrawFn, docs: st.SearchStrategy[Any]) -> bytes:
    """A JSON document as bytes, sometimes truncated or with bytes spliced in."""
    body = json.dumps(draw(docs), ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    how = draw(st.sampled_from(["as-is", "as-is", "truncate", "splice"]))
    if how == "truncate" and body:
        body = body[: draw(st.integers(0, len(body) - 1))]
    elif how == "splice":
        at = draw(st.integers(0, len(body)))
        body = (
            body[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\x00", b"\xed\xa0\x80", b'"', b"\n"]))
            + body[at:]
        )
    return body


bodies = st.one_of(
    st.binary(max_size=120),
    corrupted(st.one_of(v1_tasks, json_values)),
    corrupted(st.fixed_dictionaries({"Tasks": st.lists(v1_tasks, max_size=2)})),
    corrupted(v1_metadata),
    st.sampled_from([b"", b" ", b"<html><body>502 Bad Gateway</body></html>", b"\xef\xbb\xbf{}",
                     b"[" * 5000, b"1" * 5000, b"NaN", b'"\\ud800"', b"\x1f\x8b\x08\x00"]),
)  # fmt: skip


class Tally:
    """Counts outcomes so each fuzz test can show it reached both sides of the parser."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1


def parse_or_error(fn: Callable[[], Any], tally: Tally) -> Any:
    try:
        out = fn()
    except DiscoveryError as e:
        assert_one_line_error(e)
        tally(type(e).__name__)
        return None
    tally("ok")
    return out


# --- 1. property-based fuzzing of the parsers ------------------------------------------


def test_fuzz_parse_task() -> None:
    tally = Tally()

    @FUZZ
    @given(obj=st.one_of(valid_v1_tasks, v1_tasks, json_values))
    def check(obj: Any) -> None:
        t = parse_or_error(lambda: parse_task(obj), tally)
        if t is not None:
            assert_task(t)

    check()
    assert tally.counts.get("ok", 0) >= 10 and tally.counts.get("AgentResponseError", 0) >= 10, tally.counts


def test_fuzz_parse_tasks() -> None:
    tally = Tally()
    # A list of tasks in a branch of its own: every hypothesis version then draws enough of them
    # for the tally below (nested in a one_of with two invalid siblings, some drew 9 in 200).
    docs = st.one_of(
        st.fixed_dictionaries({"Tasks": st.lists(v1_tasks, max_size=3)}),
        st.fixed_dictionaries({"Tasks": st.one_of(st.none(), json_values)}),
        json_values,
    )

    @FUZZ
    @given(obj=docs)
    def check(obj: Any) -> None:
        tasks = parse_or_error(lambda: parse_tasks(obj), tally)
        if tasks is not None:
            assert isinstance(tasks, list)
            for t in tasks:
                assert_task(t)

    check()
    assert tally.counts.get("ok", 0) >= 10 and tally.counts.get("AgentResponseError", 0) >= 10, tally.counts


def test_fuzz_parse_metadata() -> None:
    tally = Tally()

    @FUZZ
    @given(obj=st.one_of(v1_metadata, json_values))
    def check(obj: Any) -> None:
        meta = parse_or_error(lambda: parse_metadata(obj), tally)
        if meta is not None:
            assert isinstance(meta, AgentMetadata)
            assert_clean_strings(meta)
            semver = meta.agent_semver
            assert semver is None or re.fullmatch(r"\d+\.\d+\.\d+", semver)

    check()
    assert tally.counts.get("ok", 0) >= 10 and tally.counts.get("AgentResponseError", 0) >= 10, tally.counts


def test_fuzz_parse_task_metadata() -> None:
    tally = Tally()
    containers = st.one_of(st.none(), v4_containers, json_values)

    @FUZZ
    @given(
        task=st.one_of(valid_v4_tasks, v4_tasks, json_values),
        container=containers,
        own=st.sampled_from([None, DID]),
    )
    def check(task: Any, container: Any, own: str | None) -> None:
        info = parse_or_error(lambda: parse_task_metadata(task, container, own, source="fuzz"), tally)
        if info is not None:
            assert_info(info)

    check()
    assert tally.counts.get("ok", 0) >= 10 and tally.counts.get("AgentResponseError", 0) >= 10, tally.counts


def test_fuzz_parse_metadata_file() -> None:
    tally = Tally()
    texts = st.one_of(
        valid_metadata_files.map(json.dumps),
        corrupted(st.one_of(metadata_files, json_values)).map(lambda b: b.decode("utf-8", "surrogateescape")),
        st.text(max_size=80),
    )

    @FUZZ
    @given(text=texts)
    def check(text: str) -> None:
        info = parse_or_error(lambda: parse_metadata_file(text, source="fuzz"), tally)
        if info is not None:
            assert_info(info)

    check()
    outcomes = ("ok", "RetryableError", "AgentResponseError")
    assert min(tally.counts.get(k, 0) for k in outcomes) >= 5, tally.counts


VALID_ARNS = st.from_regex(
    r"arn:aws(-cn|-us-gov)?:ecs:[a-z]{2}-[a-z]{4,9}-[0-9]:[0-9]{12}:task/"
    r"([A-Za-z0-9_-]{1,12}/)?([0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})",
    fullmatch=True,
)


def test_fuzz_parse_task_arn() -> None:
    tally = Tally()

    @st.composite
    def mutated(draw: st.DrawFn) -> str:
        arn = draw(VALID_ARNS)
        at = draw(st.integers(0, len(arn)))
        return arn[:at] + draw(st.sampled_from(["", "/", ":", "\n", "x", "A", "\x00", "$("])) + arn[at + 1 :]

    @FUZZ
    @given(arn=st.one_of(VALID_ARNS, mutated(), arns))
    def check(arn: str) -> None:
        parsed = parse_task_arn(arn)  # never raises, for any str
        if parsed is None:
            tally("none")
            return
        tally("ok")
        assert isinstance(parsed, TaskArn)
        # Round trip: the parts put back together are exactly the input.
        cluster = f"{parsed.cluster}/" if parsed.cluster is not None else ""
        assert (
            f"arn:{parsed.partition}:ecs:{parsed.region}:{parsed.account}:task/{cluster}{parsed.task_id}"
            == arn
        )
        assert re.fullmatch(r"[0-9]{12}", parsed.account)
        for part in (parsed.partition, parsed.region, parsed.task_id, parsed.cluster or "x"):
            assert clean(part) and part.isascii() and "/" not in part and ":" not in part

    check()
    assert tally.counts.get("ok", 0) >= 30 and tally.counts.get("none", 0) >= 30, tally.counts

    @settings(FUZZ, max_examples=50)
    @given(arn=VALID_ARNS)
    def every_valid_arn_parses(arn: str) -> None:
        assert parse_task_arn(arn) is not None

    every_valid_arn_parses()


def test_fuzz_bytes_through_json_and_every_v1_parser() -> None:
    """Arbitrary bytes as a 200 body: decoded, then offered to each parser."""
    tally = Tally()
    parsed = Tally()

    @FUZZ
    @given(body=bodies)
    def check(body: bytes) -> None:
        try:
            obj = http_mod.Response(200, body, {}).json()
        except DiscoveryError as e:
            assert_one_line_error(e)
            tally(type(e).__name__)
            return
        tally("json")
        task = parse_or_error(lambda: parse_task(obj), parsed)
        if task is not None:
            assert_task(task)
        for t in parse_or_error(lambda: parse_tasks(obj), parsed) or []:
            assert_task(t)
        meta = parse_or_error(lambda: parse_metadata(obj), parsed)
        if meta is not None:
            assert_clean_strings(meta)

    check()
    assert tally.counts.get("json", 0) >= 10 and tally.counts.get("AgentResponseError", 0) >= 10, tally.counts
    assert parsed.counts.get("ok", 0) >= 10, parsed.counts


def test_fuzz_classify_status_headers_body() -> None:
    tally = Tally()
    statuses = st.one_of(
        st.integers(100, 599), st.sampled_from([200, 301, 302, 307, 308, 400, 404, 429, 500])
    )

    @FUZZ
    @given(status=statuses, location=st.text(max_size=300), body=bodies, retry_nf=st.booleans())
    def check(status: int, location: str, body: bytes, retry_nf: bool) -> None:
        resp = http_mod.Response(status, body, {"location": location})
        parse_or_error(lambda: classify(resp, what="container x", retry_not_found=retry_nf), tally)

    check()
    assert len(tally.counts) >= 3, tally.counts


def test_parsers_refuse_c1_controls_and_lone_surrogates() -> None:
    for bad in ("\x85", "\x9b31m", "\ud800", "x\udcff"):
        with pytest.raises(AgentResponseError, match="control characters"):
            parse_task(v1c(Name=bad))
        with pytest.raises(AgentResponseError):
            parse_metadata({"Cluster": bad})
        with pytest.raises(AgentResponseError):
            parse_task_metadata(v4(Cluster=bad), None, DID, source="t")
        with pytest.raises(AgentResponseError):
            parse_metadata_file(json.dumps({"MetadataFileStatus": "READY", "TaskARN": ARN,
                                            "TaskDefinitionFamily": "w", "TaskDefinitionRevision": "1",
                                            "ContainerName": bad}), source="t")  # fmt: skip


def client(url: str, total: float = 2.0) -> AgentClient:
    return AgentClient(url, timeout=Timeout(connect=0.5, read=1.0, total=total), retry=Retry(enabled=False))


# --- the raw HTTP exchange, fuzzed over a real socket ----------------------------------

STATUS_LINES = (
    b"HTTP/1.1 200 OK", b"HTTP/1.0 200 OK", b"HTTP/1.1 302 Found", b"HTTP/1.1 404 Not Found",
    b"HTTP/1.1 500 Internal Server Error", b"HTTP/1.1 429 Too Many", b"HTTP/1.1 418 teapot",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK", b"HTTP/1.1 99999 Big", b"HTTP/2 200", b"ICY 200 OK",
    b"garbage", b"", b"HTTP/1.1 200 OK\r\n\r\n\r\nHTTP/1.1 200 OK",
)  # fmt: skip
HEADER_NAMES = (
    b"Content-Length", b"Transfer-Encoding", b"Content-Encoding", b"Content-Type", b"Location",
    b"Connection", b"content-length", b"X-Junk", b" Folded", b"Content-Length ",
)  # fmt: skip
HEADER_VALUES = (
    b"0", b"2", b"17", b"100000000", b"4194305", b"-1", b"1,1", b"abc", b" 12 ", b"chunked", b"gzip",
    b"identity", b"GZIP ", b"br", b"close", b"application/json", b"http://10.1.2.3/v1/tasks", b"",
    b"\xb2", b"1\xb9", b"\xff\xfe",
)  # fmt: skip
header_junk = st.binary(max_size=12).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
wire_headers = st.lists(
    st.tuples(st.sampled_from(HEADER_NAMES), st.one_of(st.sampled_from(HEADER_VALUES), header_junk)),
    max_size=5,
)
good_task = json.dumps(
    {"Arn": ARN, "Family": "web", "Version": "3", "Containers": [{"DockerId": DID, "Name": "app"}]}
).encode()
wire_bodies = st.one_of(
    st.sampled_from([good_task, b"", b"5\r\n{}{}{\r\n0\r\n\r\n", b"fffffffff\r\nx", b"<html>oops</html>"]),
    bodies,
)


def test_fuzz_raw_http_exchange_over_a_socket() -> None:
    """Raw response bytes (status lines, duplicate/odd headers, chunk framing, junk) over
    loopback: the client returns a task or raises a one-line DiscoveryError, promptly."""
    slot: list[bytes] = [b""]
    tally = Tally()

    def handler(conn: socket.socket, srv: RawServer) -> None:
        srv.send(conn, slot[0])
        conn.shutdown(socket.SHUT_WR)

    limit = 1.0 + slack()
    with RawServer(handler, max_conns=10_000) as srv:

        @settings(FUZZ, max_examples=150)
        @given(status=st.sampled_from(STATUS_LINES), headers=wire_headers, body=wire_bodies)
        def check(status: bytes, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
            slot[0] = (
                status + b"\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in headers) + b"\r\n" + body
            )
            http_mod._pools.clear()  # one fresh connection per example
            t0 = time.monotonic()
            task = parse_or_error(lambda: client(srv.url, total=1.0).task_by_docker_id(DID), tally)
            assert time.monotonic() - t0 < limit
            if task is not None:
                assert_task(task)

        check()
    assert tally.counts.get("ok", 0) >= 3 and len(tally.counts) >= 3, tally.counts


@pytest.mark.parametrize("length", [b"\xb2", b"\xb9", b"1\xb3", b"\xd9\xa3"])
def test_non_ascii_digit_content_length_is_ignored_not_a_crash(length: bytes) -> None:
    """'²'.isdigit() is True and int('²') raises: once a ValueError escaped discovery."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: " + length + b"\r\nConnection: close\r\n\r\n" + good_task
    with RawServer(reply(answer)) as srv:
        task = client(srv.url).task_by_docker_id(DID)  # read to EOF, under the cap
    assert_task(task)
    with RawServer(reply(answer.replace(good_task, b"{}"))) as srv, pytest.raises(AgentResponseError) as e:
        client(srv.url).task_by_docker_id(DID)
    assert_one_line_error(e.value)


# --- 3. bounded memory and time, in-process ---------------------------------------------


@lru_cache(maxsize=1)
def gzip_bomb() -> bytes:
    """100 MB of zeros, gzip-compressed (about 100 KB), built from a reused 1 MB block."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(MB)
    parts = [comp.compress(block) for _ in range(100)]
    return b"".join([*parts, comp.flush()])


def send_gzip_bomb(conn: socket.socket, srv: RawServer) -> None:
    bomb = gzip_bomb()
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(bomb)
    srv.send(conn, head + bomb)


def _measured(fn: Callable[[], Any]) -> tuple[BaseException | None, float, int]:
    """(exception, seconds, peak bytes allocated by Python while running fn)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    t0 = time.monotonic()
    err: BaseException | None = None
    try:
        fn()
    except BaseException as e:
        err = e
    took = time.monotonic() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return err, took, peak


HUGE = 100_000_000
PIECE = b"x" * (64 * 1024)
PIECES = HUGE // len(PIECE) + 1  # > 100 MB if the client never stopped reading


@pytest.mark.parametrize(
    ("handler", "needle", "max_peak"),
    [
        (stream(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % HUGE, PIECE, PIECES), "cap", 1 * MB),
        (stream(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", PIECE, PIECES), "cap", 2 * CAP),
        (stream(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", PIECE, PIECES, chunked=True), "cap",
         2 * CAP),
        (send_gzip_bomb, "Content-Encoding", 1 * MB),
        (stream(b"HTTP/1.1 200 OK\r\n", b"X-Flood: y\r\n", 100_000), "headers", 1 * MB),
        (stream(b"HTTP/1.1 200 OK\r\nX-Long: ", b"z" * 4096, 25_000), "line", 1 * MB),
    ],
    ids=["100MB-declared", "100MB-close-delimited", "100MB-chunked", "gzip-bomb",
         "100k-headers", "100MB-header-line"],
)  # fmt: skip
def test_huge_answers_are_cut_quickly_in_bounded_memory(
    handler: Callable[..., None], needle: str, max_peak: int
) -> None:
    gzip_bomb()  # built (and cached) before measuring
    with RawServer(handler) as srv:
        err, took, peak = _measured(lambda: client(srv.url).task_by_docker_id(DID))
        assert err is not None
        assert_one_line_error(err)
        assert needle in str(err), str(err)
        if needle == "cap":
            assert str(CAP) in str(err)
        assert took < 1.0, took
        assert peak < max_peak, f"peak {peak / MB:.1f} MB"
        assert srv.requests == 1
        srv.stop.set()
    assert srv.sent < HUGE // 2, srv.sent  # the client hung up long before the end


def test_gzip_bomb_is_really_a_bomb() -> None:
    """Keep the bomb honest: ~0.1 MB that inflates to 100 MB."""
    bomb = gzip_bomb()
    assert len(bomb) < 200 * 1024
    d = zlib.decompressobj(31)
    assert len(d.decompress(bomb, 2 * MB)) == 2 * MB  # and more remains


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_to_another_host_is_not_followed(status: int) -> None:
    head = b"HTTP/1.1 %d Moved\r\nLocation: http://10.1.2.3/v1/tasks?dockerid=x\r\nContent-Length: 0\r\n\r\n"
    margin = slack()
    with RawServer(reply(head % status)) as srv:
        t0 = time.monotonic()
        with pytest.raises(AgentResponseError) as e:
            client(srv.url).task_by_docker_id(DID)
        assert time.monotonic() - t0 < margin  # one round trip
        assert srv.requests == 1
    assert_one_line_error(e.value)
    assert "redirect" in str(e.value) and "10.1.2.3" in str(e.value)


@pytest.mark.parametrize(
    "handler",
    [
        reply(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + good_task[:40]),  # reset/short body
        reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n"),
        reply(b"\x00\xff\xfe garbage \r\n\r\n"),
        reply(b""),
        silent(3),
        drip(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", b"{", 0.2, 3),
    ],
    ids=["short-body", "bad-chunk", "binary-status", "closed-at-once", "silent", "body-drip"],
)
def test_transport_faults_end_within_the_deadline(handler: Callable[..., None]) -> None:
    margin = slack()
    with RawServer(handler) as srv:
        t0 = time.monotonic()
        with pytest.raises(DiscoveryError) as e:
            AgentClient(srv.url, timeout=Timeout(connect=0.5, read=2.0, total=0.6)).task_by_docker_id(DID)
        took = time.monotonic() - t0
    assert_one_line_error(e.value)
    assert took < 0.6 + margin, (took, margin)


# The status line and headers are bounded by the deadline too: a watchdog shuts the socket.
@pytest.mark.parametrize(
    "handler",
    [
        drip(b"HTTP/1.1 200 OK\r\n", b"X", 0.2, 1.4),
        drip(b"", b"HTTP/1.1 100 Continue\r\n\r\n", 0.2, 1.4),
    ],
    ids=["header-drip", "endless-100-continue"],
)
def test_header_drip_is_bounded_by_the_deadline(handler: Callable[..., None]) -> None:
    margin = slack()
    with RawServer(handler) as srv:
        t0 = time.monotonic()
        with pytest.raises(DiscoveryError):
            client(srv.url, total=0.5).task_by_docker_id(DID)
        took = time.monotonic() - t0
    assert took < 0.5 + margin, f"{took:.2f}s for a 0.5s deadline (+{margin:.2f}s)"


def test_caller_not_among_the_task_containers_is_a_safe_result(tmp_path: Path) -> None:
    body = json.dumps(
        {"Arn": ARN, "Family": "web", "Version": "3", "Containers": [{"DockerId": OTHER, "Name": "sidecar"}]}
    ).encode()

    def override(method: str, target: str) -> tuple[int, dict[str, str], bytes] | None:
        if target == "/v1/metadata":
            return 200, {"Content-Type": "application/json"}, json.dumps(META).encode()
        return (200, {"Content-Type": "application/json"}, body) if target.startswith("/v1/tasks") else None

    with FakeAgent(behaviour=Behaviour(override=override)) as agent:
        info = discover(
            agent_url=agent.url, docker_id=DID, timeout=2, sources=["agent-url"], proc_root=str(tmp_path),
            environ={},
        )  # fmt: skip
    assert (info.arn, info.family, info.version) == (ARN, "web", "3")
    assert info.container_name is None  # never the sidecar's name
    assert info.docker_id == DID and info.task_id == TASK_ID and info.cluster_name == "prod"


# --- 2. the real shim against crafted agent answers -------------------------------------

APP = "import json, os, sys; sys.stdout.write(json.dumps(dict(os.environ)))"
CANARY = "@CANARY@"  # replaced by an absolute path in the test's tmp dir


@dataclass(frozen=True)
class Case:
    id: str
    api: str  # "v1" (introspection, SELFDISCOVER_AGENT_URL) or "v4" (ECS_CONTAINER_METADATA_URI_V4)
    body: Any = None  # the task answer: JSON-able, or raw bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    second: Any = None  # v1: /v1/metadata; v4: the container endpoint
    rc: int = 0
    expect: dict[str, str] = field(default_factory=dict)  # exact values the app must see
    absent: tuple[str, ...] = ()


def v1(**over: Any) -> dict[str, Any]:
    task = {"Arn": ARN, "Family": "web", "Version": "3", "KnownStatus": "RUNNING", "DesiredStatus": "RUNNING",
            "Containers": [{"DockerId": DID, "DockerName": "ecs-web-3-app", "Name": "app"}]}  # fmt: skip
    task.update(over)
    return task


def v1c(**over: Any) -> dict[str, Any]:
    return v1(Containers=[{"DockerId": DID, "DockerName": "d", "Name": "app", **over}])


def v4(**over: Any) -> dict[str, Any]:
    task = {"Cluster": "prod", "TaskARN": ARN, "Family": "web", "Revision": "3", "KnownStatus": "RUNNING",
            "AvailabilityZone": "us-west-2a", "LaunchType": "FARGATE",
            "Containers": [{"DockerId": DID, "Name": "app"}]}  # fmt: skip
    task.update(over)
    return task


META = {"Cluster": "prod", "ContainerInstanceArn": "arn:aws:ecs:us-west-2:111122223333:container-instance/x",
        "Version": "Amazon ECS Agent - v1.105.1 (8dfceca6)"}  # fmt: skip
SUBST = f"$(touch {CANARY}-1)"
TICKS = f"`touch {CANARY}-2`"
QUOTES = f'it\'s "{CANARY}"; touch {CANARY}-3 #'
BIG = "A" * 100_000
HTML = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>oops</body></html>"

CASES = [
    # -- safe results: hostile text the contract allows is carried verbatim, never run
    Case("v1-subst-in-arn", "v1", v1(Arn=f"arn:aws:ecs:us-west-2:111122223333:task/{SUBST}"),
         expect={"ECS_TASK_ARN": f"arn:aws:ecs:us-west-2:111122223333:task/{SUBST}"},
         absent=("ECS_TASK_ID", "ECS_REGION", "ECS_ACCOUNT_ID")),
    Case("v1-backticks-in-name", "v1", v1c(Name=TICKS), expect={"ECS_CONTAINER_NAME": TICKS}),
    Case("v1-quotes-in-name", "v1", v1c(Name=QUOTES), expect={"ECS_CONTAINER_NAME": QUOTES}),
    Case("v1-shell-vars-in-cluster", "v1", v1(), second={**META, "Cluster": f";${{IFS}}$HOME{SUBST};"},
         expect={"ECS_CLUSTER": f";${{IFS}}$HOME{SUBST};"}),
    Case("v1-cluster-arn-with-subst", "v1", v1(),
         second={**META, "Cluster": f"arn:aws:ecs:us-west-2:111122223333:cluster/{SUBST}"},
         expect={"ECS_CLUSTER": SUBST}),
    Case("v1-arn-does-not-parse", "v1", v1(Arn="arn:nope"), expect={"ECS_TASK_ARN": "arn:nope"},
         absent=("ECS_TASK_ID", "ECS_REGION", "ECS_ACCOUNT_ID")),
    Case("v1-caller-not-in-task", "v1", v1(Containers=[{"DockerId": OTHER, "Name": "sidecar"}]),
         expect={"ECS_CONTAINER_ID": DID, "ECS_TASK_FAMILY": "web"}, absent=("ECS_CONTAINER_NAME",)),
    Case("v1-no-containers", "v1", v1(Containers=None), absent=("ECS_CONTAINER_NAME",)),
    Case("v1-metadata-newline-ignored", "v1", v1(), second={**META, "Cluster": "evil\nECS_TASK_FAMILY=x"},
         expect={"ECS_CLUSTER": "prod", "ECS_TASK_FAMILY": "web"}),
    Case("v1-metadata-html-ignored", "v1", v1(), second=HTML, expect={"ECS_CLUSTER": "prod"}),
    Case("v1-non-ascii-name", "v1", v1c(Name="café-😀"), expect={"ECS_CONTAINER_NAME": "café-😀"}),
    # -- refused by the env-file dialect (docker strips matching quotes): 65, nothing half-written
    Case("v1-quoted-name-docker-refuses", "v1", v1c(Name="'quoted'"), rc=65),
    Case("v1-lone-surrogate", "v1", v1c(Name="x\udcff"), rc=69),
    Case("v1-c1-csi-in-name", "v1", v1c(Name="\x9b2J"), rc=69),
    # -- one-line errors
    Case("v1-newline-in-name", "v1", v1c(Name="app\nECS_TASK_FAMILY=evil"), rc=69),
    Case("v1-cr-in-arn", "v1", v1(Arn=ARN + "\r"), rc=69),
    Case("v1-nul-in-family", "v1", v1(Family="web\x00"), rc=69),
    Case("v1-nul-in-name", "v1", v1c(Name="a\x00b"), rc=69),
    Case("v1-escape-sequence", "v1", v1c(Name="\x1b]0;pwned\x07\x1b[2J"), rc=69),
    Case("v1-invalid-utf8", "v1", b'{"Arn": "arn:x", "Family": "w\xff\xfe", "Version": "3"}', rc=69),
    Case("v1-100KB-name", "v1", v1c(Name=BIG), rc=69),
    Case("v1-100KB-arn", "v1", v1(Arn="arn:" + BIG), rc=69),
    Case("v1-arn-is-a-command", "v1", v1(Arn=SUBST), rc=69),
    Case("v1-family-shell-metachars", "v1", v1(Family=f"web;touch {CANARY}-4"), rc=69),
    Case("v1-version-shell-metachars", "v1", v1(Version=f"3 && touch {CANARY}-5"), rc=69),
    Case("v1-wrong-types", "v1", v1(Family=7, Version=3), rc=69),
    Case("v1-containers-not-a-list", "v1", v1(Containers={"DockerId": DID}), rc=69),
    Case("v1-list-not-a-task", "v1", [v1()], rc=69),
    Case("v1-catch-all", "v1", {"AvailableCommands": ["/v1/metadata", "/v1/tasks"]}, rc=69),
    Case("v1-html-200", "v1", HTML, headers={"Content-Type": "text/html"}, rc=69),
    Case("v1-truncated", "v1", json.dumps(v1()).encode()[:57], rc=69),
    Case("v1-empty-200", "v1", b"", rc=69),
    Case("v1-5MB-body", "v1", b"[" + b"0," * (5 * MB // 2) + b"0]", rc=69),
    Case("v1-gzip-bomb", "v1", b"@BOMB@", headers={"Content-Encoding": "gzip"}, rc=69),
    Case("v1-redirect", "v1", b"", status=302, headers={"Location": "http://10.1.2.3/v1/tasks"}, rc=69),
    Case("v1-html-502-until-deadline", "v1", HTML, status=502, headers={"Content-Type": "text/html"}, rc=69),
    # -- TMDE v4
    Case("v4-subst-and-ticks", "v4", v4(AvailabilityZone=SUBST, LaunchType=TICKS),
         expect={"ECS_AVAILABILITY_ZONE": SUBST, "ECS_LAUNCH_TYPE": TICKS, "ECS_CONTAINER_NAME": "app"}),
    Case("v4-quotes-in-cluster", "v4", v4(Cluster=QUOTES), expect={"ECS_CLUSTER": QUOTES}),
    Case("v4-arn-does-not-parse", "v4", v4(TaskARN="arn:aws:ecs:mars:1:task/x"),
         expect={"ECS_TASK_ARN": "arn:aws:ecs:mars:1:task/x"}, absent=("ECS_TASK_ID", "ECS_REGION")),
    Case("v4-caller-not-in-task-container-says-nothing", "v4",
         v4(Containers=[{"DockerId": OTHER, "Name": "sidecar"}]), second={},
         expect={"ECS_TASK_FAMILY": "web"}, absent=("ECS_CONTAINER_NAME", "ECS_CONTAINER_ID")),
    Case("v4-container-endpoint-newline", "v4", v4(Containers=[]), second={"DockerId": DID, "Name": "a\nb"},
         rc=69),
    Case("v4-quoted-cluster-docker-refuses", "v4", v4(Cluster='"prod"'), rc=65),
    Case("v4-family-shell-metachars", "v4", v4(Family=f"$(touch {CANARY}-6)"), rc=69),
    Case("v4-nul-in-arn", "v4", v4(TaskARN=ARN + "\x00"), rc=69),
    Case("v4-100KB-cluster", "v4", v4(Cluster=BIG), rc=69),
    Case("v4-nel-in-cluster", "v4", v4(Cluster="a\x85b"), rc=69),
    Case("v4-invalid-utf8", "v4", b'{"TaskARN": "arn:\xc3\x28", "Family": "w", "Revision": "1"}', rc=69),
    Case("v4-html", "v4", HTML, rc=69),
    Case("v4-wrong-shape", "v4", {"TaskARN": [ARN], "Family": {"x": 1}, "Revision": None}, rc=69),
    Case("v4-redirect", "v4", b"", status=307, headers={"Location": "http://10.1.2.3/task"}, rc=69),
]  # fmt: skip


def _subst(obj: Any, canary: str) -> Any:
    if isinstance(obj, str):
        return obj.replace(CANARY, canary)
    if isinstance(obj, dict):
        return {k: _subst(v, canary) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_subst(v, canary) for v in obj]
    return obj


def _encode(obj: Any, canary: str) -> bytes:
    if isinstance(obj, bytes):
        return gzip_bomb() if obj == b"@BOMB@" else obj
    return json.dumps(_subst(obj, canary)).encode()  # ensure_ascii: NUL travels as \u0000


def _override(case: Case, canary: str) -> Callable[[str, str], tuple[int, dict[str, str], bytes] | None]:
    task = _encode(case.body, canary)
    ok = {"Content-Type": "application/json"}
    if case.api == "v1":
        meta = _encode(META if case.second is None else case.second, canary)

        def v1_answer(method: str, target: str) -> tuple[int, dict[str, str], bytes] | None:
            if target.startswith("/v1/tasks"):
                return case.status, case.headers or ok, task
            if target == "/v1/metadata":
                return 200, ok, meta
            return 404, {}, b""

        return v1_answer
    container = _encode({"DockerId": DID, "Name": "app"} if case.second is None else case.second, canary)

    def v4_answer(method: str, target: str) -> tuple[int, dict[str, str], bytes] | None:
        if target == "/v4/ep/task":
            return case.status, case.headers or ok, task
        if target == "/v4/ep":
            return 200, ok, container
        return 400, {}, b""

    return v4_answer


@pytest.fixture
def scrubbed(clean_env: dict[str, str]) -> dict[str, str]:
    env = dict(clean_env)
    env.update(SELFDISCOVER_TIMEOUT="2", SELFDISCOVER_DOCKER_ID=DID)
    return env


def agent_env(env: dict[str, str], api: str, url: str) -> dict[str, str]:
    """Point the shim at one source only: nothing but loopback is ever contacted
    (no localhost:51678 probe, no default gateway)."""
    if api == "v1":
        return {**env, "SELFDISCOVER_AGENT_URL": url, "SELFDISCOVER_SOURCES": "agent-url"}
    return {**env, "ECS_CONTAINER_METADATA_URI_V4": f"{url}/v4/ep", "SELFDISCOVER_SOURCES": "tmde-v4"}


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    took: float
    ended: float  # time.monotonic() when it had exited


def run_shim(
    shim: list[str], env: dict[str, str], cwd: Path, *options: str, files: dict[str, Path] | None = None
) -> Run:
    specs = [f"--env-file={d}:{p}" for d, p in (files or {}).items()]
    cmd = [*shim, "exec", *options, *specs, "--", PY, "-c", APP]
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, timeout=20, check=False)
    ended = time.monotonic()
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    return Run(p.returncode, out, err, ended - t0, ended)


def shim_margin(shim: list[str], env: dict[str, str], cwd: Path) -> float:
    """What this machine adds now to a shim's deadline, measured: ``slack()`` plus the time
    from first request to exit of a shim that fails at once (an answer it refuses, which is
    not retried), i.e. its error path and exit without any waiting."""
    refused = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]"
    with RawServer(reply(refused)) as srv:
        r = run_shim(shim, agent_env(env, "v1", srv.url), cwd, "--required")
    assert r.rc == 69 and srv.first_request_at is not None, r.stderr
    return slack() + (r.ended - srv.first_request_at)


def assert_one_line_stderr(r: Run) -> None:
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.split("\n")
    assert len(lines) == 2 and lines[1] == "", f"not one line: {r.stderr!r}"
    assert lines[0].startswith("selfdiscover: error: "), r.stderr
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in lines[0]), repr(lines[0])


DOCKER_LINE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")


def read_env_files(files: dict[str, Path]) -> dict[str, dict[str, str]]:
    """Each file that exists, read back by its reader; a file that exists must be complete
    and readable (no half-written file, no line that is not NAME=...)."""
    out: dict[str, dict[str, str]] = {}
    for dialect, path in files.items():
        if not path.exists():
            continue
        if dialect == "shell":
            out[dialect] = readers.read_shell(path, "dash")  # set -a; . file -- any stderr fails
        elif dialect == "json":
            data = json.loads(path.read_text(encoding="utf-8"))
            assert isinstance(data, dict) and all(isinstance(v, str) for v in data.values())
            out[dialect] = data
        else:
            raw = path.read_bytes()
            assert raw.endswith(b"\n")
            for line in raw.decode("utf-8").split("\n")[:-1]:
                assert line.startswith("#") or DOCKER_LINE.fullmatch(line), repr(line)
            out[dialect] = readers.read_kvfile_port(path)
    return out


@pytest.mark.skipif(readers.dash_missing() is not None, reason=readers.dash_missing() or "")
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_shim_against_crafted_answers(
    case: Case, shim: list[str], scrubbed: dict[str, str], tmp_path: Path
) -> None:
    canary = str(tmp_path / "pwned")
    files = {d: tmp_path / f"ecs.{d}" for d in ("shell", "docker", "json")}
    margin = slack()
    with FakeAgent(behaviour=Behaviour(override=_override(case, canary))) as agent:
        r = run_shim(shim, agent_env(scrubbed, case.api, agent.url), tmp_path, "--required", files=files)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.rc == case.rc, (r.rc, r.stderr)
    took = r.ended - first_request_at(agent)
    assert took < 2.0 + margin, (took, margin)  # SELFDISCOVER_TIMEOUT=2, from the first request
    got = read_env_files(files)
    if r.rc == 0:
        assert r.stderr == ""
        app = {k: v for k, v in json.loads(r.stdout).items() if k in VAR_NAMES}
        assert set(got) == {"shell", "docker", "json"}
        for dialect, variables in got.items():
            assert variables == app, dialect
        assert app["ECS_TASK_FAMILY"] and app["ECS_TASK_VERSION"] and app["ECS_TASK_ARN"].startswith("arn:")
        for k, v in case.expect.items():
            assert app.get(k) == _subst(v, canary), k
        for k in case.absent:
            assert k not in app
    else:
        assert_one_line_stderr(r)
        assert r.stdout == "", "CMD started after a failure"
        if r.rc == 69:
            assert got == {}  # discovery failed: no file at all
        assert "json" not in got  # a refusal stops before the later files
    assert not list(tmp_path.glob(".ecs.*.tmp")), "temp file left behind"
    assert not list(tmp_path.glob("pwned*")), "agent data ran as a command"


def test_shim_non_ascii_digit_content_length(
    shim: list[str], scrubbed: dict[str, str], tmp_path: Path
) -> None:
    """Was exit 2 (a usage error) from a stray ValueError; --optional did not start CMD."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: \xb9\r\nConnection: close\r\n\r\n{}"
    with RawServer(reply(answer)) as srv:
        r = run_shim(shim, agent_env(scrubbed, "v1", srv.url), tmp_path, "--required")
        r_opt = run_shim(shim, agent_env(scrubbed, "v1", srv.url), tmp_path, "--optional")
    assert r.rc == 69, r.stderr
    assert_one_line_stderr(r)
    assert r_opt.rc == 0 and json.loads(r_opt.stdout)["SELFDISCOVER_DOCKER_ID"] == DID


def test_shim_never_exports_invalid_utf8(shim: list[str], scrubbed: dict[str, str], tmp_path: Path) -> None:
    """Was: a JSON \\udcff escape became the raw byte 0xff in the application's environment."""
    case = Case("surrogate-escape", "v1", v1c(Name="x\udcff"))
    with FakeAgent(behaviour=Behaviour(override=_override(case, "unused"))) as agent:
        r = run_shim(shim, agent_env(scrubbed, "v1", agent.url), tmp_path, "--no-env-file")
    assert r.rc == 69 and r.stdout == ""
    assert_one_line_stderr(r)


OPTIONAL_CASES = [c for c in CASES if c.id in {
    "v1-newline-in-name", "v1-invalid-utf8", "v1-gzip-bomb", "v1-quoted-name-docker-refuses",
    "v4-family-shell-metachars", "v4-100KB-cluster",
}]  # fmt: skip


@pytest.mark.parametrize("case", OPTIONAL_CASES, ids=[c.id for c in OPTIONAL_CASES])
def test_optional_policy_always_starts_the_command(
    case: Case, shim: list[str], scrubbed: dict[str, str], tmp_path: Path
) -> None:
    """Fail open means fail open: whatever the agent says, CMD runs (with one warning)."""
    canary = str(tmp_path / "pwned")
    files = {"docker": tmp_path / "ecs.docker"}
    with FakeAgent(behaviour=Behaviour(override=_override(case, canary))) as agent:
        r = run_shim(shim, agent_env(scrubbed, case.api, agent.url), tmp_path, "--optional", files=files)
    assert r.rc == 0 and "Traceback" not in r.stderr, r.stderr
    assert json.loads(r.stdout)["SELFDISCOVER_DOCKER_ID"] == DID  # CMD ran
    assert len(r.stderr.splitlines()) == 1, r.stderr
    assert not list(tmp_path.glob("pwned*"))


def test_shim_optional_with_a_lone_surrogate_starts_the_command(
    shim: list[str], scrubbed: dict[str, str], tmp_path: Path
) -> None:
    """Was: the surrogate reached execve(), exit 126 'cannot execute', CMD never started."""
    case = Case("surrogate", "v1", v1c(Name="x\ud800"))
    with FakeAgent(behaviour=Behaviour(override=_override(case, "unused"))) as agent:
        r = run_shim(shim, agent_env(scrubbed, "v1", agent.url), tmp_path, "--optional",
                     files={"docker": tmp_path / "ecs.docker"})  # fmt: skip
    assert r.rc == 0, (r.rc, r.stderr)
    assert not VAR_NAMES & set(json.loads(r.stdout))  # started without ECS variables
    assert len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr


# --- 4. the shim against slow agents: wall time from the first request ----------------


def reset_mid_body(conn: socket.socket, srv: RawServer) -> None:
    srv.send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 400\r\n\r\n" + good_task[:30])
    reset(conn)  # RST on close


SLOW = {
    "body-drip-1B/s": drip(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", b" ", 1.0, 4),
    "silent": silent(4),
    "reset-mid-body": reset_mid_body,
}


@pytest.mark.parametrize(
    ("kind", "api"),
    [
        ("body-drip-1B/s", "v1"),
        ("body-drip-1B/s", "v4"),
        ("silent", "v1"),
        ("silent", "v4"),
        ("reset-mid-body", "v1"),
    ],
)
def test_shim_with_a_slow_agent_exits_69_within_the_deadline(
    kind: str, api: str, shim: list[str], scrubbed: dict[str, str], tmp_path: Path
) -> None:
    env = {**scrubbed, "SELFDISCOVER_TIMEOUT": "1.5"}
    margin = shim_margin(shim, env, tmp_path)
    with RawServer(SLOW[kind]) as srv:
        r = run_shim(shim, agent_env(env, api, srv.url), tmp_path, "--required")
        srv.stop.set()
    assert r.rc == 69, r.stderr
    assert_one_line_stderr(r)
    assert r.stdout == ""
    assert srv.first_request_at is not None
    took = r.ended - srv.first_request_at
    assert took < 1.5 + margin, f"{took:.2f}s from the first request (+{margin:.2f}s)"


def test_shim_with_a_header_dripping_agent_exits_within_the_deadline(
    shim: list[str], scrubbed: dict[str, str], tmp_path: Path
) -> None:
    env = {**scrubbed, "SELFDISCOVER_TIMEOUT": "1"}
    margin = shim_margin(shim, env, tmp_path)
    with RawServer(drip(b"HTTP/1.1 200 OK\r\n", b"X", 0.2, 2.2)) as srv:
        r = run_shim(shim, agent_env(env, "v1", srv.url), tmp_path, "--required")
        srv.stop.set()
    assert r.rc == 69
    assert srv.first_request_at is not None
    took = r.ended - srv.first_request_at
    assert took < 1.0 + margin, f"{took:.2f}s from the first request (+{margin:.2f}s)"


def _peak_rss_of(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[int, int]:
    """(exit code, peak RSS in KB) of cmd, measured by a wrapper that has no other child."""
    wrapper = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run(
        [PY, "-c", wrapper, *cmd], env=env, cwd=cwd, capture_output=True, text=True, timeout=30
    )
    rc, kb = out.stdout.split()
    return int(rc), int(kb)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KB is Linux's unit")
def test_shim_peak_rss_against_a_100MB_body(
    shim: list[str], scrubbed: dict[str, str], tmp_path: Path
) -> None:
    """The shim process itself (getrusage), healthy agent vs a 100 MB close-delimited body."""
    cmd = [*shim, "exec", "--required", "--no-env-file", "--", "true"]
    body = json.dumps(v1()).encode()
    healthy = Behaviour(override=lambda m, t: (200, {"Content-Type": "application/json"}, body)
                        if t.startswith("/v1/tasks") else None)  # fmt: skip
    with FakeAgent(behaviour=healthy) as agent:
        rc, baseline = _peak_rss_of(cmd, agent_env(scrubbed, "v1", agent.url), tmp_path)
    assert rc == 0
    margin = shim_margin(shim, scrubbed, tmp_path)
    with RawServer(stream(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", PIECE, PIECES)) as srv:
        rc, hostile = _peak_rss_of(cmd, agent_env(scrubbed, "v1", srv.url), tmp_path)
        ended = time.monotonic()
        srv.stop.set()
    assert rc == 69
    assert srv.first_request_at is not None
    took = ended - srv.first_request_at
    assert took < 2.0 + margin, (took, margin)  # SELFDISCOVER_TIMEOUT=2, from the first request
    assert hostile - baseline < 50 * 1024, f"baseline {baseline} KB, hostile {hostile} KB"
    assert srv.sent < HUGE // 2

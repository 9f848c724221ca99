"""OTEL_RESOURCE_ATTRIBUTES read back by real SDKs: Python's ``OTELResourceDetector``
and JavaScript's ``envDetector`` (``@opentelemetry/resources``, pinned in
tests/node/package.json, run by Node), compared key by key with what
``SelfdiscoverResourceDetector`` reports for the same fake TMDE answer.

The Node reader is installed into tests/node/node_modules by ``npm ci`` (.ci/run
does it; tests/otelnode.py says what is missing); ``node`` must be
on PATH, or these tests fail.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.resources import OTELResourceDetector
from otelnode import ReadJS, installed_version, pinned_versions

from selfdiscover import _otelenv, _tags
from selfdiscover._discover import discover
from selfdiscover._model import TaskInfo
from selfdiscover.otel import SelfdiscoverResourceDetector
from selfdiscover.testing import FakeAgent, FakeContainer

VAR = "OTEL_RESOURCE_ATTRIBUTES"
ARRAYS = {"aws.log.group.names", "aws.log.group.arns", "aws.log.stream.names", "aws.log.stream.arns"}
ARRAYS |= {"container.image.tags"}
# What ECS and its agent write but a reader would mangle unless encoded: awslogs names may hold
# anything but ":" and "*" in a stream, the container and image names come from the task definition.
HOSTILE = [
    "a,b",
    "k=v",
    "a=b=c",
    "100%",
    "%41",
    "%zz",
    "%",
    "%%25",
    "+plus+ and space",
    " leading and trailing ",
    "\"double\" and 'single' quotes",
    "unicode: é ü 日本語 🚀 𝄞",
    "\u00a0non-breaking spaces\u00a0",
    "\u3000ideographic\u3000",
    "tab\tand\nnewline",
    "a;b&c?d#e[f]g{h}",
    "back\\slash",
    "`$(echo hi)` $HOME",
    '/ecs/my,app=1%/prod stream "x" é',
    "arn:aws:logs:us-west-2:111122223333:log-group:/ecs/a,b=c%d:log-stream:s t/é",
    "registry.example:5000/org/app@sha256:" + "ab" * 32,
]


# --- the readers ---------------------------------------------------------------------


def read_py(value: str) -> dict[str, object]:
    """What the Python SDK's environment detector makes of ``value``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(VAR, value)
        mp.delenv("OTEL_SERVICE_NAME", raising=False)
        return dict(OTELResourceDetector().detect().attributes)


@pytest.fixture
def py_warnings(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Python's detector skips a malformed item with a warning: there must be none."""
    with caplog.at_level(logging.WARNING, logger="opentelemetry.sdk.resources"):
        yield caplog
    warned = [r.getMessage() for r in caplog.get_records("call") if r.name.startswith("opentelemetry")]
    assert not warned


def read_back_exactly(read_js: ReadJS, value: str, expected: Mapping[str, str]) -> None:
    """Both SDKs read ``value`` as ``expected``, key by key."""
    assert read_py(value) == dict(expected)
    js = read_js(value)
    assert not js.discarded, js.stderr
    assert js.attributes == dict(expected)


# --- a task on the fake agent ---------------------------------------------------------


@dataclass(frozen=True)
class Discovered:
    info: TaskInfo
    detected: dict[str, object]  # SelfdiscoverResourceDetector().detect() for the same answer

    @property
    def strings(self) -> dict[str, str]:
        return {k: v for k, v in self.detected.items() if isinstance(v, str)}


def discovered(agent: FakeAgent, container: FakeContainer, clean_env: Mapping[str, str]) -> Discovered:
    env = dict(
        clean_env, ECS_CONTAINER_METADATA_URI_V4=agent.metadata_uri(container), SELFDISCOVER_TIMEOUT="5"
    )
    info = discover(environ=env)
    _tags.set_identity(None)
    try:
        detected = SelfdiscoverResourceDetector(raise_on_error=True, environ=env).detect()
    finally:
        _tags.set_identity(None)
    return Discovered(info, dict(detected.attributes))


def fargate_task(agent: FakeAgent, container: FakeContainer) -> None:
    agent.add_task("shop", 12, [container], launch_type="FARGATE", service_name="shop-svc")


# --- the task's attributes, read back -------------------------------------------------


def test_the_task_reads_back_the_same_in_python_and_node(
    agent: FakeAgent, clean_env: dict[str, str], read_js: ReadJS, py_warnings: pytest.LogCaptureFixture
) -> None:
    app = FakeContainer("app", image="111122223333.dkr.ecr.us-west-2.amazonaws.com/api:1.8.0")
    fargate_task(agent, app)
    found = discovered(agent, app, clean_env)
    attrs = _otelenv.resource_attributes(found.info)
    assert attrs == found.strings  # the detector's own mapping, every string of it
    value, notes = _otelenv.encode(attrs)
    assert notes == []
    read_back_exactly(read_js, value, found.strings)
    # what is not carried: the arrays, though the detector has them
    assert set(found.detected) - set(found.strings) == ARRAYS
    assert found.detected["aws.log.stream.names"] == (f"ecs/app/{found.info.task_id}",)
    assert {"container.name", "container.id", "aws.ecs.task.arn", "cloud.account.id"} <= set(attrs)
    assert "service.name" not in attrs and "service.name" not in read_py(value)


def test_resource_attributes_takes_a_task_info_or_the_identity(
    agent: FakeAgent, clean_env: dict[str, str]
) -> None:
    app = FakeContainer("app")
    fargate_task(agent, app)
    found = discovered(agent, app, clean_env)
    identity = _tags.from_task(found.info)
    assert _otelenv.resource_attributes(identity) == _otelenv.resource_attributes(found.info)
    assert _otelenv.resource_attributes({}) == {}  # not the process-wide identity


def test_hostile_awslogs_names_stay_out_and_the_rest_reads_back(
    agent: FakeAgent, clean_env: dict[str, str], read_js: ReadJS, py_warnings: pytest.LogCaptureFixture
) -> None:
    group = "/ecs/my,app=1%/prod"
    stream = "pre fix,\"quoted\"='x'%20é🚀/app/" + "s" * 300  # > 255 characters, encoded or not
    app = FakeContainer(
        "app",
        log_options={"awslogs-group": group, "awslogs-stream": stream, "awslogs-region": "eu-west-1"},
    )
    fargate_task(agent, app)
    found = discovered(agent, app, clean_env)
    assert found.detected["aws.log.group.names"] == (group,)
    assert found.detected["aws.log.stream.names"] == (stream,)
    value, notes = _otelenv.encode(_otelenv.resource_attributes(found.info))
    assert notes == []
    for text in (group, stream, "my%2Capp", "%25"):
        assert text not in value
    read_back_exactly(read_js, value, found.strings)


@pytest.mark.parametrize(
    ("image", "name"),
    [
        ("registry.example:5000/org/app@sha256:" + "ab" * 32, "registry.example:5000/org/app"),
        ("org/app:1.8@sha256:" + "cd" * 32, "org/app"),
        ("public.example/app", "public.example/app"),
    ],
)
def test_image_references_with_digests(
    agent: FakeAgent,
    clean_env: dict[str, str],
    read_js: ReadJS,
    py_warnings: pytest.LogCaptureFixture,
    image: str,
    name: str,
) -> None:
    app = FakeContainer("app", image=image)
    fargate_task(agent, app)
    found = discovered(agent, app, clean_env)
    assert found.detected["container.image.name"] == name
    value, notes = _otelenv.encode(_otelenv.resource_attributes(found.info))
    assert notes == [] and "sha256" not in value
    read_back_exactly(read_js, value, found.strings)


def test_an_arn_over_255_characters_is_left_out_not_the_whole_variable(
    clean_env: dict[str, str], read_js: ReadJS, py_warnings: pytest.LogCaptureFixture
) -> None:
    """Cluster names go up to 255 characters, so the ARNs built on them go past
    what JavaScript reads; one such entry would cost Node every attribute."""
    long_ones = {"aws.ecs.task.arn", "aws.ecs.cluster.arn", "aws.ecs.container.arn", "cloud.resource_id"}
    with FakeAgent(cluster="c" * 220) as agent:
        app = FakeContainer("app")
        agent.add_task("shop", 12, [app])  # on EC2, the container ARN has the cluster in it
        found = discovered(agent, app, clean_env)
    attrs = _otelenv.resource_attributes(found.info)
    assert {k for k, v in attrs.items() if len(v) > 255} == long_ones
    value, notes = _otelenv.encode(attrs)
    assert len(notes) == len(long_ones)
    for key in long_ones:
        (note,) = [n for n in notes if repr(key) in n]
        assert "JavaScript reads at most 255" in note
    kept = {k: v for k, v in found.strings.items() if k not in long_ones}
    assert kept["aws.ecs.task.family"] == "shop" and kept["container.name"] == "app"
    read_back_exactly(read_js, value, kept)
    # why: the same variable with one of them in it is nothing at all to Node
    task_arn = found.strings["aws.ecs.task.arn"]
    with_it = f"{value},aws.ecs.task.arn={task_arn}"
    assert read_js(with_it).discarded and read_js(with_it).attributes == {}
    assert read_py(with_it)["aws.ecs.task.arn"] == task_arn  # Python has no limit


def test_task_only_leaves_out_the_writing_container(
    agent: FakeAgent, clean_env: dict[str, str], read_js: ReadJS, py_warnings: pytest.LogCaptureFixture
) -> None:
    init = FakeContainer("init", image="public.example/selfdiscover:1")
    app = FakeContainer("app")
    agent.add_task("shop", 12, [init, app], launch_type="FARGATE")
    found = discovered(agent, init, clean_env)
    full = _otelenv.resource_attributes(found.info)
    task = _otelenv.resource_attributes(found.info, task_only=True)
    assert task == {k: v for k, v in full.items() if k not in _tags.OTEL_CONTAINER_ATTRIBUTES}
    assert set(full) - set(task) == {
        "container.id",
        "container.name",
        "container.image.name",
        "aws.ecs.container.arn",
        "cloud.resource_id",
    }
    assert set(task) >= {"aws.ecs.task.arn", "aws.ecs.cluster.arn", "cloud.region", "cloud.account.id"}
    assert "init" not in task.values() and found.info.docker_id not in task.values()
    read_back_exactly(read_js, _otelenv.encode(task)[0], task)


def test_the_container_attributes_are_keys_of_the_mapping() -> None:
    every = _tags.otel_resource_attributes({}, all_keys=True)
    assert set(_tags.OTEL_CONTAINER_ATTRIBUTES) <= set(every)
    assert {k for k in every if k.startswith(("container.", "aws.log."))} <= _tags.OTEL_CONTAINER_ATTRIBUTES


# --- the encoding ---------------------------------------------------------------------


def test_hostile_values_read_back_exactly(read_js: ReadJS, py_warnings: pytest.LogCaptureFixture) -> None:
    attrs = {f"test.hostile.{i}": v for i, v in enumerate(HOSTILE)}
    value, notes = _otelenv.encode(attrs)
    assert notes == []
    assert value.isascii() and value == value.strip()
    for ch in " \t\n+\"'":
        assert ch not in value
    read_back_exactly(read_js, value, attrs)


def test_random_text_reads_back_exactly(read_js: ReadJS, py_warnings: pytest.LogCaptureFixture) -> None:
    """Many entries in one variable, from every kind of character ECS lets through."""
    rnd = random.Random(20)
    pool = [chr(c) for c in range(0x20, 0x7F)] + list("\t\n\r\u00a0\u2028\u3000\ufeffé日🚀𝄞%%%,,==++")
    attrs: dict[str, str] = {}
    for i in range(300):
        attrs[f"test.random.{i}"] = "".join(rnd.choice(pool) for _ in range(rnd.randint(1, 60)))
    value, notes = _otelenv.encode(attrs)
    assert notes == []
    read_back_exactly(read_js, value, attrs)


@given(st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=255))
def test_python_reads_any_value_back(text: str) -> None:
    value, notes = _otelenv.encode({"test.any": text})
    if len(text.encode("utf-16-le")) // 2 > 255:
        assert value == "" and len(notes) == 1
    else:
        assert notes == [] and read_py(value) == {"test.any": text}


def test_255_utf16_code_units_is_the_limit(read_js: ReadJS, py_warnings: pytest.LogCaptureFixture) -> None:
    """JavaScript counts ``length``: a character outside the BMP is two."""
    fits = {"test.ascii": "a" * 255, "test.astral": "a" * 253 + "🚀", "test.escaped": "%" * 255}
    over = {"test.ascii.over": "a" * 256, "test.astral.over": "a" * 254 + "🚀"}
    value, notes = _otelenv.encode({**fits, **over})
    assert [n.split("'")[1] for n in notes] == list(over)
    read_back_exactly(read_js, value, fits)
    assert len(value) > 3 * 255  # the limit is on the decoded text, not on what is written
    for key, text in over.items():  # what the guard saves the rest from
        assert read_js(f"{value},{key}={quote(text, safe='/:')}").discarded


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("service.name", "shop", "names the application"),
        ("has space", "x", "the key would need percent-encoding"),
        ("comma,key", "x", "the key would need percent-encoding"),
        ("é.key", "x", "the key would need percent-encoding"),
        ("", "x", "the key would need percent-encoding"),
        ("k" * 256, "x", "JavaScript reads at most 255"),
        ("test.empty", "", "the value is empty"),
        ("test.surrogate", "a\udc80b", "not valid Unicode text"),
    ],
    ids=["service.name", "space", "comma", "non-ascii", "empty-key", "long-key", "empty", "surrogate"],
)
def test_unwritable_entries_are_left_out_with_a_note(read_js: ReadJS, key: str, value: str, why: str) -> None:
    got, notes = _otelenv.encode({"test.before": "1", key: value, "test.after": "2"})
    assert got == "test.before=1,test.after=2"
    (note,) = notes
    assert note.startswith(f"{VAR}: {key[:80]!r} left out: ") and why in note
    read_back_exactly(read_js, got, {"test.before": "1", "test.after": "2"})


def test_why_keys_are_never_encoded(read_js: ReadJS) -> None:
    """The premise: Python keeps an encoded key as written, JavaScript decodes it."""
    assert read_py("a%20b=x") == {"a%20b": "x"}
    assert read_js("a%20b=x").attributes == {"a b": "x"}


def test_why_one_bad_entry_matters(read_js: ReadJS) -> None:
    """The premise: JavaScript discards the whole variable for one bad entry, Python skips it."""
    js = read_js("test.ok=1,test.bad=a=b")
    assert js.discarded and js.attributes == {}
    assert read_py("test.ok=1,test.bad=a=b") == {"test.ok": "1", "test.bad": "a=b"}
    assert read_js("test.ok=1,test.bad=%E0%A4%A").discarded


def test_the_node_sdk_is_the_pinned_2_6_or_later(read_js: ReadJS) -> None:
    pinned = pinned_versions()["@opentelemetry/resources"]
    major, minor, _ = (int(x) for x in pinned.split("."))
    assert major == 2 and minor >= 6, pinned
    assert installed_version("@opentelemetry/resources") == pinned


# --- the operator's own variable ------------------------------------------------------


OURS, _ = _otelenv.encode(
    {"cloud.region": "us-west-2", "aws.ecs.task.family": "shop", "container.name": "app"}
)


@pytest.mark.parametrize("existing", [None, "", "  "])
def test_without_an_operator_variable_ours_is_all(existing: str | None) -> None:
    assert _otelenv.merge(existing, OURS) == OURS


@pytest.mark.parametrize(
    "existing",
    [
        "deployment.environment=prod,cloud.region=mine",
        "deployment.environment = prod , cloud.region = mine ",
        "deployment.environment=prod,cloud.region=mine,",
        "deployment.environment=prod,cloud.region=mine, ",
        "deployment.environment=prod,cloud%2Eregion=mine",  # JavaScript decodes keys: that is cloud.region
        "deployment.environment=prod,cloud.region=mine,service.name=shop-api",
    ],
)
def test_the_operator_keeps_their_text_and_wins(
    read_js: ReadJS, py_warnings: pytest.LogCaptureFixture, existing: str
) -> None:
    merged = _otelenv.merge(existing, OURS)
    assert merged.startswith(existing)  # verbatim
    assert merged[len(existing) :].lstrip(",") == "aws.ecs.task.family=shop,container.name=app"
    js = read_js(merged)
    assert not js.discarded
    assert js.attributes["cloud.region"] == "mine"
    for attributes in (read_py(merged), js.attributes):
        assert attributes["deployment.environment"] == "prod"
        assert attributes["aws.ecs.task.family"] == "shop" and attributes["container.name"] == "app"
        assert "us-west-2" not in attributes.values()


def test_the_operator_sets_everything() -> None:
    existing = "container.name=theirs,cloud.region=theirs,aws.ecs.task.family=theirs,broken-item"
    assert _otelenv.merge(existing, OURS) is existing


def test_the_operator_names_the_service(read_js: ReadJS) -> None:
    """``service.name`` is theirs alone: in the variable or in OTEL_SERVICE_NAME."""
    merged = _otelenv.merge("service.name=shop-api", OURS)
    assert read_py(merged)["service.name"] == "shop-api"
    assert read_js(merged, service_name="from-env").attributes["service.name"] == "from-env"

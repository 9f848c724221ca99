"""The OpenTelemetry resource detector with the real SDK, side by side with the
official ECS detector (opentelemetry-sdk-extension-aws) on the same fake agent.

The agent serves TMDE v4 over a real socket on loopback (otelkit.SampleTMDE).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.extension.aws.resource.ecs import AwsEcsResourceDetector
from opentelemetry.sdk.resources import Resource
from otelkit import APP, TASK, SampleTMDE, sample

from selfdiscover import _tags
from selfdiscover import logging as sdlog
from selfdiscover.otel import SelfdiscoverResourceDetector
from selfdiscover.testing import FakeAgent, FakeContainer

# Where both detectors must agree, value for value.
SAME = (
    "cloud.provider",
    "cloud.platform",
    "aws.ecs.cluster.arn",
    "aws.ecs.task.arn",
    "aws.ecs.task.family",
    "aws.ecs.task.revision",
    "aws.ecs.launchtype",
    "aws.ecs.container.arn",
    "aws.log.group.names",
    "aws.log.group.arns",
    "aws.log.stream.names",
    "aws.log.stream.arns",
)
# What only selfdiscover reports, with the sample's values.
ONLY_OURS = {
    "aws.ecs.task.id": "30bc42de1fb631fa64329abe1fa1f940",
    "cloud.region": "us-west-2",
    "cloud.account.id": "111122223333",
    "cloud.availability_zone": "us-west-2b",
    "cloud.resource_id": APP["ContainerARN"],
    "container.image.name": "111122223333.dkr.ecr.us-west-2.amazonaws.com/api",
    "container.image.tags": ("1.8.0",),
}


@pytest.fixture
def ecs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[SampleTMDE]:
    """A fake TMDE v4 and a process environment that points both detectors at it."""
    for k in list(os.environ):
        if k.startswith(("ECS_", "SELFDISCOVER_", "AWS_", "OTEL_")):
            monkeypatch.delenv(k)
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the env-file fallback path: ours, empty
    monkeypatch.setenv("SELFDISCOVER_RUN_DIR", str(tmp_path / "run"))  # and the /run default
    tmde = sample()
    _tags.set_identity(None)
    with tmde.agent:
        monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", tmde.uri)
        yield tmde
    _tags.set_identity(None)


def official_container_id() -> str:
    """What the official detector's rule yields here: the last 64 characters
    of the first /proc/self/cgroup line longer than 64."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if len(line.strip()) > 64:
            return line.strip()[-64:]
    return ""


def attrs(resource: Resource) -> dict[str, Any]:
    return dict(resource.attributes)


def test_the_entry_point_names_the_detector() -> None:
    (ep,) = entry_points(group="opentelemetry_resource_detector", name="selfdiscover")
    assert ep.load() is SelfdiscoverResourceDetector


@pytest.mark.parametrize(
    ("names", "region"),
    [
        ("selfdiscover", "set-by-hand"),  # the SDK's own detector ("otel") runs last: the user's word wins
        ("selfdiscover,otel", "set-by-hand"),
        ("otel,selfdiscover", "us-west-2"),  # named first, "otel" runs first: the detector wins
    ],
)
def test_resource_create_loads_it_by_name(
    ecs: SampleTMDE, monkeypatch: pytest.MonkeyPatch, names: str, region: str
) -> None:
    monkeypatch.setenv("OTEL_EXPERIMENTAL_RESOURCE_DETECTORS", names)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "cloud.region=set-by-hand")
    got = attrs(Resource.create())
    assert got["aws.ecs.task.arn"] == TASK["TaskARN"]
    assert got["container.name"] == "app"
    assert got["cloud.region"] == region
    monkeypatch.delenv("OTEL_EXPERIMENTAL_RESOURCE_DETECTORS")
    assert "aws.ecs.task.arn" not in attrs(Resource.create())  # not loaded unless named


def test_side_by_side_with_the_official_detector(ecs: SampleTMDE) -> None:
    official = attrs(AwsEcsResourceDetector(raise_on_error=True).detect())
    ours = attrs(SelfdiscoverResourceDetector(raise_on_error=True).detect())
    assert set(official) <= set(ours)
    for key in SAME:
        assert official[key], key
        assert ours[key] == official[key], key
    # container.name: the official one reports the hostname, not the task definition's name
    assert official["container.name"] == socket.gethostname() != "app"
    assert ours["container.name"] == "app"
    # container.id: a /proc/self/cgroup guess there (here: no line is long enough); TMDE's DockerId here
    assert official["container.id"] == official_container_id()
    assert ours["container.id"] == APP["DockerId"]
    for key, value in ONLY_OURS.items():
        assert key not in official
        assert ours[key] == value, key
    # the SDK keeps only valid attributes: nothing we set was dropped
    assert Resource(ours).attributes == ours


def test_one_discovery_per_process(ecs: SampleTMDE) -> None:
    """TracerProvider(), MeterProvider() and LoggerProvider() each call Resource.create()."""
    first = attrs(SelfdiscoverResourceDetector().detect())
    asked = ecs.agent.request_count()
    assert asked >= 1
    assert attrs(SelfdiscoverResourceDetector().detect()) == first
    assert ecs.agent.request_count() == asked


def test_the_log_style_is_the_same_mapping(ecs: SampleTMDE) -> None:
    ours = attrs(SelfdiscoverResourceDetector().detect())
    style = _tags.tags("otel")  # the detector published the identity it discovered
    assert {k: v for k, v in style.items() if v} == ours
    assert set(style) >= set(ours) and all(v in ("", ()) for k, v in style.items() if k not in ours)
    assert sdlog.otel_resource_attributes() == ours


def test_start_up_race_official_gives_up_ours_retries(ecs: SampleTMDE) -> None:
    ecs.missing_for = ecs.agent.elapsed() + 0.3  # the agent has not recorded the container yet
    official = attrs(AwsEcsResourceDetector().detect())
    assert "aws.ecs.task.arn" not in official  # one attempt, 404, empty resource
    ours = attrs(SelfdiscoverResourceDetector().detect())
    assert ours["aws.ecs.task.arn"] == TASK["TaskARN"]
    assert ecs.agent.elapsed() >= ecs.missing_for
    statuses = [r.status for r in ecs.agent.requests]
    assert statuses.count(404) >= 2 and statuses[-1] == 200


def test_agents_before_1_45_official_loses_everything(ecs: SampleTMDE) -> None:
    """TMDE v4 came with agent 1.39.0; ContainerARN, LogDriver, LogOptions and
    LaunchType only with 1.45.0. The official detector indexes them and fails whole."""
    del ecs.task["LaunchType"]
    for key in ("ContainerARN", "LogDriver", "LogOptions"):
        for c in ecs.task["Containers"]:
            c.pop(key, None)
    assert attrs(AwsEcsResourceDetector().detect()) == {}
    ours = attrs(SelfdiscoverResourceDetector(raise_on_error=True).detect())
    assert ours["aws.ecs.task.arn"] == TASK["TaskARN"] and ours["container.name"] == "app"
    assert not {"aws.ecs.launchtype", "aws.ecs.container.arn", "aws.log.group.names"} & set(ours)


def test_other_partitions(ecs: SampleTMDE) -> None:
    """aws-cn and aws-us-gov: the official detector's ARN pattern says ``arn:aws:``."""
    for doc in (ecs.task, ecs.container):
        for k in ("TaskARN", "ContainerARN"):
            if k in doc:
                doc[k] = doc[k].replace("arn:aws:ecs:us-west-2:", "arn:aws-cn:ecs:cn-north-1:")
    ecs.container["LogOptions"]["awslogs-region"] = "cn-north-1"
    official = attrs(AwsEcsResourceDetector().detect())
    ours = attrs(SelfdiscoverResourceDetector(raise_on_error=True).detect())
    assert ours["aws.log.group.arns"] == ("arn:aws-cn:logs:cn-north-1:111122223333:log-group:/ecs/api",)
    assert ours["aws.ecs.cluster.arn"] == "arn:aws-cn:ecs:cn-north-1:111122223333:cluster/default"
    assert ours["cloud.region"] == "cn-north-1"
    # its account pattern wants "arn:aws:": no account, so no ARN, and a None in a string array
    assert official["aws.log.group.arns"] == official["aws.log.stream.arns"] == (None,)
    assert official["aws.ecs.task.arn"] == ours["aws.ecs.task.arn"]


def test_cross_region_logs(ecs: SampleTMDE) -> None:
    """A task in us-west-2 logging to eu-west-1: the log ARNs name the log's region."""
    ecs.container["LogOptions"]["awslogs-region"] = "eu-west-1"
    official = attrs(AwsEcsResourceDetector().detect())
    ours = attrs(SelfdiscoverResourceDetector(raise_on_error=True).detect())
    assert ours["aws.log.group.arns"] == ("arn:aws:logs:eu-west-1:111122223333:log-group:/ecs/api",)
    assert ours["aws.log.group.arns"] == official["aws.log.group.arns"]
    assert ours["aws.log.stream.arns"] == official["aws.log.stream.arns"]
    assert ours["cloud.region"] == "us-west-2"


def test_tmde_v3_only(monkeypatch: pytest.MonkeyPatch, ecs: SampleTMDE) -> None:
    """Older agents inject only ECS_CONTAINER_METADATA_URI (v3): the official
    detector then reports no task at all."""
    monkeypatch.delenv("ECS_CONTAINER_METADATA_URI_V4")
    with FakeAgent() as agent:
        app = FakeContainer("web")
        agent.add_task("shop", 9, [app])
        monkeypatch.setenv("ECS_CONTAINER_METADATA_URI", agent.metadata_uri(app, version=3))
        official = attrs(AwsEcsResourceDetector(raise_on_error=True).detect())
        ours = attrs(SelfdiscoverResourceDetector(raise_on_error=True).detect())
    assert "aws.ecs.task.arn" not in official and official["cloud.platform"] == "aws_ecs"
    assert ours["aws.ecs.task.family"] == "shop" and ours["container.name"] == "web"
    assert ours["container.id"] == app.docker_id


def test_exported_variables_come_first_then_the_env_file(
    ecs: SampleTMDE, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    arn = "arn:aws:ecs:eu-west-1:123456789012:task/prod/0123456789abcdef0123456789abcdef"
    env_file = tmp_path / "ecs.env"
    env_file.write_text(f"ECS_TASK_ARN={arn}\nECS_TASK_FAMILY=fromfile\nECS_CLUSTER=prod\n")
    monkeypatch.setenv("SELFDISCOVER_ENV_FILE", str(env_file))
    assert attrs(SelfdiscoverResourceDetector().detect())["aws.ecs.task.family"] == "fromfile"
    monkeypatch.setenv("ECS_TASK_ARN", arn)
    monkeypatch.setenv("ECS_TASK_FAMILY", "fromenv")
    got = attrs(SelfdiscoverResourceDetector().detect())
    assert got["aws.ecs.task.family"] == "fromenv" and got["cloud.region"] == "eu-west-1"
    assert ecs.agent.request_count() == 0  # neither asked the agent
    AwsEcsResourceDetector().detect()
    assert ecs.agent.request_count() == 2  # the official one always does


def test_no_tmde_at_all(monkeypatch: pytest.MonkeyPatch, ecs: SampleTMDE) -> None:
    """Only the introspection API (an agent URL and our container ID): the
    official detector sees no ECS."""
    monkeypatch.delenv("ECS_CONTAINER_METADATA_URI_V4")
    with FakeAgent() as agent:
        task = agent.add_container_task("b2" * 32, family="worker", version=3, name="jobs")
        monkeypatch.setenv("SELFDISCOVER_AGENT_URL", agent.url)
        monkeypatch.setenv("SELFDISCOVER_DOCKER_ID", "b2" * 32)
        assert attrs(AwsEcsResourceDetector(raise_on_error=True).detect()) == {}
        ours = attrs(SelfdiscoverResourceDetector(raise_on_error=True).detect())
    assert ours["aws.ecs.task.arn"] == task.arn and ours["container.name"] == "jobs"
    assert ours["container.id"] == "b2" * 32 and ours["aws.ecs.task.family"] == "worker"


def test_a_hanging_agent_costs_the_deadline_not_more(
    ecs: SampleTMDE, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ecs.agent.behaviour.hang = True
    monkeypatch.setenv("SELFDISCOVER_OTEL_TIMEOUT", "1")
    monkeypatch.setenv("SELFDISCOVER_TIMEOUT", "30")  # the detector's own variable wins
    start = time.monotonic()
    with caplog.at_level(logging.WARNING):
        got = attrs(SelfdiscoverResourceDetector().detect())
    took = time.monotonic() - start
    assert got == {}
    assert 0.9 <= took < 3.0, took
    (rec,) = [r for r in caplog.records if r.name == "selfdiscover.otel"]
    assert rec.exc_info is None and "no ECS resource attributes" in rec.getMessage()
    with pytest.raises(Exception, match="1s"):
        SelfdiscoverResourceDetector(raise_on_error=True).detect()


def test_official_detector_waits_five_seconds_on_a_hanging_agent(ecs: SampleTMDE) -> None:
    ecs.agent.behaviour.hang = True
    start = time.monotonic()
    assert attrs(AwsEcsResourceDetector().detect()) == {}
    assert time.monotonic() - start >= 4.9  # its fixed urlopen timeout, no deadline of its own


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf"])
def test_a_bad_timeout_is_a_warning_or_with_raise_on_error_an_error(
    ecs: SampleTMDE, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    monkeypatch.setenv("SELFDISCOVER_OTEL_TIMEOUT", value)
    with caplog.at_level(logging.WARNING):
        assert attrs(SelfdiscoverResourceDetector().detect()) == {}
    assert "SELFDISCOVER_OTEL_TIMEOUT must be" in caplog.text
    with pytest.raises(ValueError, match="SELFDISCOVER_OTEL_TIMEOUT"):
        SelfdiscoverResourceDetector(raise_on_error=True).detect()
    assert ecs.agent.request_count() == 0


def test_outside_ecs_empty_at_once_even_with_raise_on_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for k in list(os.environ):
        if k.startswith(("ECS_", "SELFDISCOVER_", "AWS_", "OTEL_")):
            monkeypatch.delenv(k)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("SELFDISCOVER_RUN_DIR", str(tmp_path / "run"))
    proc = tmp_path / "proc" / "self"
    proc.mkdir(parents=True)
    (proc / "cgroup").write_text("0::/\n")  # cgroup v2, private namespace: no ID anywhere
    (proc / "mountinfo").write_text("")
    _tags.set_identity(None)
    with caplog.at_level(logging.DEBUG):
        start = time.monotonic()
        got = SelfdiscoverResourceDetector(raise_on_error=True, proc_root=str(tmp_path / "proc")).detect()
        took = time.monotonic() - start
    assert got.attributes == {} and took < 0.3, took
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_outside_ecs_in_a_fresh_process(clean_env: dict[str, str], tmp_path: Path) -> None:
    """Loaded by name through Resource.create(), as an application would: no
    warning, no traceback, nothing on stderr."""
    code = (
        "import time, json\n"
        "from opentelemetry.sdk.resources import Resource\n"
        "t = time.monotonic()\n"
        "r = Resource.create()\n"
        "print(json.dumps({'took': time.monotonic() - t, 'keys': sorted(r.attributes)}))\n"
    )
    env = {**clean_env, "TMPDIR": str(tmp_path), "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel,selfdiscover"}
    env = {
        k: v
        for k, v in env.items()
        if not k.startswith("OTEL_") or k == "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS"
    }
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    out = json.loads(p.stdout)
    assert not [k for k in out["keys"] if k.startswith(("aws.", "cloud.", "container."))]
    # the SDK's first entry-point scan included (~0.2 s here); the detector alone is measured above
    assert out["took"] < 2.0, out


def test_private_cgroup_namespace(ecs: SampleTMDE, clean_env: dict[str, str], tmp_path: Path) -> None:
    """In a new cgroup namespace every /proc/self/cgroup path is ``/``: the
    official detector's container.id is empty, ours is the container's."""
    unshare = shutil.which("unshare")
    assert unshare, "unshare (util-linux) is needed"
    code = (
        "import json, sys\n"
        "from opentelemetry.sdk.extension.aws.resource.ecs import AwsEcsResourceDetector\n"
        "from selfdiscover.otel import SelfdiscoverResourceDetector\n"
        "o = dict(AwsEcsResourceDetector(raise_on_error=True).detect().attributes)\n"
        "s = dict(SelfdiscoverResourceDetector(raise_on_error=True).detect().attributes)\n"
        "print(json.dumps({'cgroup': open('/proc/self/cgroup').read(), 'official': o, 'ours': s}))\n"
    )
    env = {**clean_env, "TMPDIR": str(tmp_path), "ECS_CONTAINER_METADATA_URI_V4": ecs.uri}
    p = subprocess.run(
        [unshare, "--cgroup", sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert all(line.endswith(":/") for line in out["cgroup"].splitlines()), out["cgroup"]
    assert out["official"]["container.id"] == ""
    assert out["ours"]["container.id"] == APP["DockerId"]
    assert out["official"]["aws.ecs.task.arn"] == out["ours"]["aws.ecs.task.arn"]


@pytest.mark.parametrize(
    ("ref", "name", "tags"),
    [
        ("nginx", "nginx", ("latest",)),
        ("nginx:1.27", "nginx", ("1.27",)),
        ("registry.local:5000/team/app:2.0", "registry.local:5000/team/app", ("2.0",)),
        ("registry.local:5000/team/app", "registry.local:5000/team/app", ("latest",)),
        ("app@sha256:" + "a" * 64, "app", ()),
        ("registry.local:5000/app:3.1@sha256:" + "b" * 64, "registry.local:5000/app", ("3.1",)),
        (
            "111122223333.dkr.ecr.us-west-2.amazonaws.com/api:1.8.0",
            APP["Image"].rsplit(":", 1)[0],
            ("1.8.0",),
        ),
        ("", "", ()),
    ],
)
def test_image_reference_split(ref: str, name: str, tags: tuple[str, ...]) -> None:
    assert _tags.split_image(ref) == (name, tags)


def test_importing_selfdiscover_does_not_import_the_sdk(clean_env: dict[str, str]) -> None:
    code = (
        "import sys, selfdiscover, selfdiscover.logging\n"
        "print(sorted(m for m in sys.modules if 'opentelemetry' in m))\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", code], env=clean_env, capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 0 and p.stdout.strip() == "[]", p.stdout + p.stderr

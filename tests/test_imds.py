"""The opt-in host-address client (IMDSv2) against the loopback ``FakeIMDS``: a token
first, never a tokenless GET, nothing asked without the opt-in, a failure only warns,
and the client's budget stays inside the discovery deadline."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from selfdiscover import TaskInfo, Timeout, discover
from selfdiscover._discover import complete_host_address, make_context
from selfdiscover._settings import read
from selfdiscover.sources import imds
from selfdiscover.testing import FakeAgent, FakeIMDS, random_docker_id


@pytest.fixture
def agent_env(fake_agent: FakeAgent) -> dict[str, str]:
    """An environment discovering through the introspection API (which has no host address)."""
    docker_id = random_docker_id()
    fake_agent.add_container_task(docker_id)
    return {
        "SELFDISCOVER_AGENT_URL": fake_agent.url,
        "SELFDISCOVER_DOCKER_ID": docker_id,
        "SELFDISCOVER_SOURCES": "agent-url",
    }


@pytest.fixture
def hanging_imds() -> Iterator[FakeIMDS]:
    with FakeIMDS(fault="hang-put") as f:
        yield f


def test_token_then_local_ipv4(fake_imds: FakeIMDS) -> None:
    env = {"SELFDISCOVER_IMDS_URL": fake_imds.url}
    assert imds.local_ipv4(env["SELFDISCOVER_IMDS_URL"], Timeout(), time.monotonic() + 5) == "10.0.1.25"
    reqs = fake_imds.requests
    assert [(r.method, r.path) for r in reqs] == [
        ("PUT", "/latest/api/token"),
        ("GET", "/latest/meta-data/local-ipv4"),
    ]
    assert reqs[0].header("X-aws-ec2-metadata-token-ttl-seconds") == "60"
    token = reqs[1].header("X-aws-ec2-metadata-token")
    assert token and token in fake_imds.tokens
    assert all(r.status == 200 for r in reqs)


def test_a_token_is_required_by_the_fake(fake_imds: FakeIMDS) -> None:
    """The guard the client relies on: without the token the service answers 401."""
    import urllib3

    r = urllib3.PoolManager().request("GET", fake_imds.url + "/latest/meta-data/local-ipv4", retries=False)
    assert r.status == 401


def test_discover_fills_the_host_address_only_when_opted_in(
    fake_imds: FakeIMDS, agent_env: dict[str, str]
) -> None:
    env = {**agent_env, "SELFDISCOVER_IMDS_URL": fake_imds.url}
    info = discover(environ=env, timeout=5)
    assert info.host_ipv4 is None
    assert fake_imds.requests == []  # not asked at all without SELFDISCOVER_IMDS=1
    info = discover(environ={**env, "SELFDISCOVER_IMDS": "1"}, timeout=5)
    assert info.host_ipv4 == "10.0.1.25" and info.warnings == ()
    assert [r.method for r in fake_imds.requests] == ["PUT", "GET"]


def test_a_hop_limit_timeout_only_warns_and_keeps_to_its_budget(
    hanging_imds: FakeIMDS, agent_env: dict[str, str]
) -> None:
    """The PUT answer never arrives (hop limit 1 from a bridge container): discovery still
    succeeds, with a warning, and the IMDS budget bounds the wait."""
    env = {**agent_env, "SELFDISCOVER_IMDS_URL": hanging_imds.url, "SELFDISCOVER_IMDS": "1"}
    t0 = time.monotonic()
    info = discover(environ=env, timeout=10)
    took = time.monotonic() - t0
    assert info.family and info.host_ipv4 is None
    assert len(info.warnings) == 1 and "host address unknown" in info.warnings[0]
    assert "timed out" in info.warnings[0]
    # At least the budget (the client waited for the answer), never the whole deadline.
    assert imds.BUDGET * 0.9 <= took < 10 * 0.5, took
    assert [r.path for r in hanging_imds.requests] == ["/latest/api/token"]  # no tokenless GET


def test_the_budget_never_passes_the_deadline(hanging_imds: FakeIMDS) -> None:
    env = {"SELFDISCOVER_IMDS_URL": hanging_imds.url}
    t0 = time.monotonic()
    with pytest.raises(imds.IMDSError, match="timed out"):
        imds.local_ipv4(env["SELFDISCOVER_IMDS_URL"], Timeout(), t0 + 0.3)
    assert time.monotonic() - t0 < imds.BUDGET


@pytest.mark.parametrize(
    ("fault", "message"),
    [("500", "HTTP 500"), ("down", "refused")],
)
def test_failures_name_the_cause(fault: str, message: str) -> None:
    with FakeIMDS(fault=fault) as f, pytest.raises(imds.IMDSError, match=message):
        imds.local_ipv4(f.url, Timeout(), time.monotonic() + 3)


@pytest.mark.parametrize("body", ["10.0.1.25\nX=1", "not-an-ip", "0.0.0.0", "::1"])
def test_a_hostile_answer_is_refused(fake_imds: FakeIMDS, body: str) -> None:
    fake_imds.values["local-ipv4"] = body
    with pytest.raises(imds.IMDSError, match=r"local-ipv4 is (not an IPv4|a wildcard) address"):
        imds.local_ipv4(fake_imds.url, Timeout(), time.monotonic() + 3)


def test_a_bad_url_is_named_and_nothing_is_asked(fake_imds: FakeIMDS) -> None:
    with pytest.raises(imds.IMDSError, match="SELFDISCOVER_IMDS_URL"):
        imds.local_ipv4("https://x", Timeout(), time.monotonic() + 3)
    assert fake_imds.requests == []


def test_never_asked_on_fargate_or_when_the_host_is_known(fake_imds: FakeIMDS) -> None:
    env = {"SELFDISCOVER_IMDS_URL": fake_imds.url, "SELFDISCOVER_IMDS": "1"}
    ctx = make_context(read(env, timeout=5.0), docker_id="a" * 64, proc_root="/nonexistent", environ=env)
    arn = "arn:aws:ecs:us-west-2:111122223333:task/default/30bc42de1fb631fa64329abe1fa1f940"
    fargate = TaskInfo(arn=arn, family="f", version="1", launch_type="FARGATE")
    assert complete_host_address(fargate, ctx, time.monotonic() + 5) is fargate
    known = TaskInfo(arn=arn, family="f", version="1", host_ipv4="10.9.9.9")
    assert complete_host_address(known, ctx, time.monotonic() + 5) is known
    assert fake_imds.requests == []
    ec2 = TaskInfo(arn=arn, family="f", version="1", launch_type="EC2")
    assert complete_host_address(ec2, ctx, time.monotonic() + 5).host_ipv4 == "10.0.1.25"

"""The fake IMDSv2 the host-address client is tested against, over real
loopback sockets: token first, 401 without it, the TTL bounds, the fault modes."""

from __future__ import annotations

import http.client
import socket
import time

import pytest

from selfdiscover.testing import FakeIMDS


def call(
    imds: FakeIMDS, method: str, path: str, headers: dict[str, str] | None = None, timeout: float = 5.0
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", imds.port, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def put(imds: FakeIMDS, ttl: str, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """The token request."""
    return call(imds, "PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": ttl}, timeout)


def token(imds: FakeIMDS, ttl: str = "21600") -> str:
    status, headers, body = put(imds, ttl)
    assert status == 200 and headers["X-aws-ec2-metadata-token-ttl-seconds"] == ttl
    return body.decode()


def test_token_then_values(fake_imds: FakeIMDS) -> None:
    t = token(fake_imds)
    auth = {"X-aws-ec2-metadata-token": t}
    for path, want in (
        ("local-ipv4", b"10.0.1.25"),
        ("public-ipv4", b"203.0.113.25"),
        ("instance-id", b"i-0123456789abcdef0"),
        ("placement/availability-zone", b"us-west-2b"),
    ):
        assert call(fake_imds, "GET", f"/latest/meta-data/{path}", auth)[::2] == (200, want)
    assert call(fake_imds, "GET", "/latest/meta-data/nope", auth)[0] == 404
    listing = call(fake_imds, "GET", "/latest/meta-data/", auth)[2].decode().split("\n")
    assert "local-ipv4" in listing and "placement/" in listing
    first = fake_imds.requests[0]
    assert (first.method, first.path) == ("PUT", "/latest/api/token")
    assert first.header("x-aws-ec2-metadata-token-ttl-seconds") == "21600"
    assert fake_imds.requests[1].header("X-AWS-EC2-METADATA-TOKEN") == t


def test_without_or_with_a_wrong_token_is_401(fake_imds: FakeIMDS) -> None:
    assert call(fake_imds, "GET", "/latest/meta-data/local-ipv4")[0] == 401
    bad = {"X-aws-ec2-metadata-token": "forged"}
    assert call(fake_imds, "GET", "/latest/meta-data/local-ipv4", bad)[0] == 401
    assert [r.status for r in fake_imds.requests] == [401, 401]
    assert fake_imds.paths() == [("GET", "/latest/meta-data/local-ipv4")] * 2


def test_token_ttl_bounds_and_method(fake_imds: FakeIMDS) -> None:
    for ttl in ("0", "21601", "-1", "x", ""):
        assert put(fake_imds, ttl)[0] == 400
    assert call(fake_imds, "PUT", "/latest/api/token")[0] == 400  # no TTL header at all
    ttl60 = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    assert call(fake_imds, "GET", "/latest/api/token", ttl60)[0] == 405
    proxied = {"X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "10.0.0.9"}
    assert call(fake_imds, "PUT", "/latest/api/token", proxied)[0] == 403
    assert token(fake_imds, "1") and token(fake_imds, "21600")


def test_an_expired_token_is_401(fake_imds: FakeIMDS) -> None:
    t = token(fake_imds, "1")
    fake_imds.tokens[t] = time.monotonic() - 0.001  # expire it without waiting a second
    assert call(fake_imds, "GET", "/latest/meta-data/local-ipv4", {"X-aws-ec2-metadata-token": t})[0] == 401


def test_no_public_address_is_404() -> None:
    with FakeIMDS(public_ipv4=None) as imds:
        auth = {"X-aws-ec2-metadata-token": token(imds)}
        assert call(imds, "GET", "/latest/meta-data/public-ipv4", auth)[0] == 404
        assert call(imds, "GET", "/latest/meta-data/local-ipv4", auth)[0] == 200


def test_hang_put_never_answers_the_token_but_is_recorded() -> None:
    with FakeIMDS(fault="hang-put") as imds:
        started = time.monotonic()
        with pytest.raises(socket.timeout):
            put(imds, "60", timeout=0.3)
        assert time.monotonic() - started >= 0.3
        assert [(r.method, r.status) for r in imds.requests] == [("PUT", 0)]
        assert call(imds, "GET", "/latest/meta-data/local-ipv4")[0] == 401  # GETs still answer
        imds.fault = None  # the fault can be lifted while running
        assert token(imds)
    # stop() returned although a handler was hanging


def test_hang_never_answers_anything() -> None:
    with FakeIMDS(fault="hang") as imds, pytest.raises(socket.timeout):
        call(imds, "GET", "/latest/meta-data/local-ipv4", timeout=0.2)


def test_down_refuses_connections() -> None:
    with FakeIMDS(fault="down") as imds:
        with pytest.raises(ConnectionRefusedError):
            put(imds, "60")
        assert imds.requests == []


def test_500_answers_everything_500() -> None:
    with FakeIMDS(fault="500") as imds:
        assert put(imds, "60")[0] == 500
        assert call(imds, "GET", "/latest/meta-data/local-ipv4")[0] == 500


def test_unknown_fault_is_refused() -> None:
    with pytest.raises(ValueError, match="hang-put"):
        FakeIMDS(fault="slow")


def test_ipv6_loopback() -> None:
    with FakeIMDS("::1") as imds:
        assert imds.url == f"http://[::1]:{imds.port}"
        conn = http.client.HTTPConnection("::1", imds.port, timeout=5)
        conn.request("PUT", "/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": "5"})
        assert conn.getresponse().status == 200
        conn.close()

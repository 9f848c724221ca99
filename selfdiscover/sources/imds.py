"""The EC2 instance metadata service, IMDSv2 only, for the host's private IPv4.

Opt-in (``SELFDISCOVER_IMDS=1``) and used only when no other source named
the host address: Fargate has no IMDS, ECS can block it for awsvpc tasks
(``ECS_AWSVPC_BLOCK_IMDS``), and with a token hop limit of 1 a bridge-mode
container's PUT never gets its answer (it times out rather than being
refused). So the client has a short budget of its own inside the caller's
deadline, and every failure is a warning, never a failed discovery.

IMDSv2: ``PUT /latest/api/token`` with a TTL header gives a token; each GET
sends it back. A tokenless GET (IMDSv1) is never made: instances that
require v2 answer it 401, and v1 may be switched off.
"""

from __future__ import annotations

import socket
import time

from .._errors import SelfdiscoverError
from .._model._fields import ip_address
from . import _http
from ._timing import Timeout

DEFAULT_URL = "http://169.254.169.254"
# Long enough for a PUT and a GET on a healthy instance; short enough that a
# hop-limit timeout costs little of the discovery deadline.
BUDGET = 1.0
_TTL = "60"
_MAX_BODY = 4096


class IMDSError(SelfdiscoverError):
    """The instance metadata service did not give the host address."""


def local_ipv4(url: str | None, timeout: Timeout, deadline: float) -> str:
    """The instance's private IPv4 (``local-ipv4``) from the service at ``url``
    (``SELFDISCOVER_IMDS_URL``; default the link-local address), within
    ``BUDGET`` seconds of now and never past ``deadline``; raises
    ``IMDSError`` saying why not."""
    url = url or DEFAULT_URL
    try:
        _http.split_base(url)
    except ValueError as e:
        raise IMDSError(f"SELFDISCOVER_IMDS_URL: {e}") from None
    end = min(deadline, time.monotonic() + BUDGET)
    try:
        put = _http.get(
            url,
            "/latest/api/token",
            method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": _TTL},
            timeout=timeout,
            deadline=end,
            body_cap=_MAX_BODY,
        )
        if put.status != 200:
            raise IMDSError(f"{url}: token request answered HTTP {put.status}")
        token = put.body.decode("ascii", "replace").strip()
        if not token or len(token) > 1024 or not token.isprintable():
            raise IMDSError(f"{url}: token request answered no usable token")
        got = _http.get(
            url,
            "/latest/meta-data/local-ipv4",
            headers={"X-aws-ec2-metadata-token": token},
            timeout=timeout,
            deadline=end,
            body_cap=_MAX_BODY,
        )
    except SelfdiscoverError as e:
        if isinstance(e, IMDSError):
            raise
        raise IMDSError(f"{url}: {e}") from None
    if got.status != 200:
        raise IMDSError(f"{url}: local-ipv4 answered HTTP {got.status}")
    try:
        address = ip_address(got.body.decode("ascii").strip(), socket.AF_INET, "local-ipv4", where="IMDS")
    except (UnicodeDecodeError, SelfdiscoverError):
        raise IMDSError(f"{url}: local-ipv4 is not an IPv4 address") from None
    if address is None:
        raise IMDSError(f"{url}: local-ipv4 is a wildcard address")
    return address

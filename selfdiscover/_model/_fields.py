"""Field validators for the documents ECS hands us: pure, bounded, strict.

Every source (introspection, TMDE, the metadata file) speaks a dialect of the
same schema, and all of it is untrusted. Each helper here takes one decoded
JSON value and returns a clean Python value or ``None`` ("the source could
not tell"), or raises ``AgentResponseError`` naming the field. Nothing is
guessed: a host port of 0, a wildcard bind address or an address of the
wrong family is dropped, never reported as ours.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from .._errors import AgentResponseError

# ECS names (task definition families, clusters): 1-255 letters, digits, "_" and "-".
NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,255}")
_REVISION_RE = re.compile(r"[0-9]{1,10}")
_DNS_RE = re.compile(r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.?)*")
_MAX_STR = 2048
# A task definition allows 10,000+ container ports with ranges; Docker labels
# and tags are bounded by ECS (50 tags, labels within the 64 KiB definition).
_MAX_ITEMS = 1024
_NETWORK_MODES = ("awsvpc", "bridge", "host", "none")
_WILDCARDS = ("0.0.0.0", "::")


def _bad_char(ch: str) -> bool:
    o = ord(ch)
    return o < 0x20 or 0x7F <= o <= 0x9F or 0xD800 <= o <= 0xDFFF


def clean_text(value: object, key: str, *, where: str) -> str:
    """A bounded string with no control characters or lone surrogates, so it
    can never break a log line, an env file or a terminal."""
    if not isinstance(value, str):
        raise AgentResponseError(f"{where} {key!r} is {type(value).__name__}, not a string")
    if len(value) > _MAX_STR:
        raise AgentResponseError(f"{where} {key!r} is {len(value)} characters long")
    if any(_bad_char(ch) for ch in value):
        raise AgentResponseError(f"{where} {key!r} contains control characters or lone surrogates")
    return value


def text_field(
    obj: Mapping[str, Any], key: str, *, required: bool = False, where: str = "task"
) -> str | None:
    """A string field from an agent document: optional, bounded, no control characters."""
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise AgentResponseError(f"{where} has no {key!r}")
        return None
    return clean_text(value, key, where=where)


def task_identity(obj: Mapping[str, Any], keys: tuple[str, str, str], *, where: str) -> tuple[str, str, str]:
    """The (ARN, family, revision) every source must provide, checked against
    ECS's own rules, whatever each document calls them."""
    k_arn, k_family, k_revision = keys
    arn = text_field(obj, k_arn, required=True, where=where) or ""
    family = text_field(obj, k_family, required=True, where=where) or ""
    revision = text_field(obj, k_revision, required=True, where=where) or ""
    if not arn.startswith("arn:"):
        raise AgentResponseError(f"{where} {k_arn} {arn[:80]!r} is not an ARN")
    if not NAME_RE.fullmatch(family):
        raise AgentResponseError(f"{where} {k_family} {family[:80]!r} is not a task definition family")
    if not _REVISION_RE.fullmatch(revision):
        raise AgentResponseError(f"{where} {k_revision} {revision[:80]!r} is not a revision number")
    return arn, family, revision


def _number(value: object, key: str, *, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AgentResponseError(f"{where} {key!r} is {type(value).__name__}, not a number")
    if not 0 <= value < 2**31:  # also refuses NaN and infinities
        raise AgentResponseError(f"{where} {key!r} is out of range: {value!r}")
    return float(value)


def _object(value: object, key: str, *, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AgentResponseError(f"{where} {key!r} is {type(value).__name__}, not an object")
    return value


def _list(value: object, key: str, *, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise AgentResponseError(f"{where} {key!r} is {type(value).__name__}, not a list")
    if len(value) > _MAX_ITEMS:
        raise AgentResponseError(f"{where} {key!r} has {len(value)} entries")
    return value


@dataclass(frozen=True, slots=True)
class Limits:
    cpu: int | None  # CPU units, 1024 = one vCPU
    memory: int | None  # MiB


# ECS counts CPU in units (1024 per vCPU) and memory in MiB.
CPU_UNITS_PER_VCPU = 1024
MIB = 1024 * 1024


def limits(obj: Mapping[str, Any], *, vcpu: bool, where: str) -> Limits:
    """``Limits`` of a container (CPU in units) or a TMDE task (CPU in vCPU,
    e.g. 0.5). Zero means "no limit set", so it is reported as unknown."""
    raw = _object(obj.get("Limits"), "Limits", where=where)
    cpu = _number(raw.get("CPU"), "Limits.CPU", where=where)
    memory = _number(raw.get("Memory"), "Limits.Memory", where=where)
    if cpu is not None and vcpu:
        cpu *= CPU_UNITS_PER_VCPU
    return Limits(round(cpu) or None if cpu else None, round(memory) or None if memory else None)


def ip_address(value: object, family: int, key: str, *, where: str) -> str | None:
    """One address of the given family in canonical form, or ``None`` for a
    wildcard; anything else is an error (it would end up in a variable)."""
    text = clean_text(value, key, where=where)
    try:
        canonical = socket.inet_ntop(family, socket.inet_pton(family, text))
    except (OSError, ValueError):
        kind = "IPv4" if family == socket.AF_INET else "IPv6"
        raise AgentResponseError(f"{where} {key!r} {text[:60]!r} is not an {kind} address") from None
    return None if canonical in _WILDCARDS else canonical


def _cidr(value: object, key: str, *, where: str) -> str | None:
    if value is None or value == "":
        return None
    text = clean_text(value, key, where=where)
    addr, _, bits = text.partition("/")
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    limit = 128 if family == socket.AF_INET6 else 32
    if not (bits.isascii() and bits.isdigit() and int(bits) <= limit):
        raise AgentResponseError(f"{where} {key!r} {text[:60]!r} is not a CIDR block")
    ip = ip_address(addr, family, key, where=where) or addr
    return f"{ip}/{int(bits)}"


class Network(NamedTuple):
    mode: str | None = None
    ipv4: tuple[str, ...] = ()
    ipv6: tuple[str, ...] = ()
    private_dns_name: str | None = None
    subnet_cidr: str | None = None


NO_NETWORK = Network()


def networks(obj: Mapping[str, Any], *, where: str) -> Network:
    """This container's ``Networks``, merged in order: the first entry names
    the mode; addresses keep their order, duplicates dropped."""
    mode: str | None = None
    v4: list[str] = []
    v6: list[str] = []
    dns = cidr = None
    for i, raw in enumerate(_list(obj.get("Networks"), "Networks", where=where)):
        w = f"{where} Networks[{i}]"
        net = _object(raw, "Networks", where=w)
        m = text_field(net, "NetworkMode", where=w)
        if mode is None and m in _NETWORK_MODES:
            mode = m
        families = (("IPv4Addresses", socket.AF_INET, v4), ("IPv6Addresses", socket.AF_INET6, v6))
        for key, fam, out in families:
            for addr in _list(net.get(key), key, where=w):
                ip = ip_address(addr, fam, key, where=w)
                if ip and ip not in out:
                    out.append(ip)
        dns = dns or dns_name(net, "PrivateDNSName", where=w)
        cidr = cidr or _cidr(net.get("IPv4SubnetCIDRBlock"), "IPv4SubnetCIDRBlock", where=w)
    return Network(mode, tuple(v4), tuple(v6), dns, cidr)


class PortMapping(NamedTuple):
    """One published port: ``host_port`` is ``None`` until Docker has bound
    it; ``host_ip`` is the bind address, ``None`` when it is a wildcard."""

    container_port: int
    protocol: str  # "tcp" or "udp"
    host_port: int | None
    host_ip: str | None


def _port(value: object, key: str, *, where: str) -> int | None:
    n = _number(value, key, where=where)
    if n is None or n == 0:
        return None
    if n != int(n) or n > 65535:
        raise AgentResponseError(f"{where} {key!r} is not a port number: {value!r}")
    return int(n)


def ports(
    obj: Mapping[str, Any], key: str, *, where: str, host_ip_key: str = "HostIp"
) -> tuple[PortMapping, ...]:
    """Port bindings in source order. Docker on a dual-stack host reports a
    port twice (``0.0.0.0`` and ``::``): the same binding is kept once. A
    range entry (``ContainerPortRange`` with no single port) names no port
    we can report, so it is left out."""
    out: list[PortMapping] = []
    for i, raw in enumerate(_list(obj.get(key), key, where=where)):
        w = f"{where} {key}[{i}]"
        p = _object(raw, key, where=w)
        container_port = _port(p.get("ContainerPort"), "ContainerPort", where=w)
        if container_port is None:
            continue
        proto = (text_field(p, "Protocol", where=w) or "tcp").lower()
        if proto not in ("tcp", "udp"):
            raise AgentResponseError(f"{w} 'Protocol' {proto[:20]!r} is not tcp or udp")
        host_ip = None
        bind = text_field(p, host_ip_key, where=w)
        if bind:
            fam = socket.AF_INET6 if ":" in bind else socket.AF_INET
            host_ip = ip_address(bind, fam, host_ip_key, where=w)
        mapping = PortMapping(container_port, proto, _port(p.get("HostPort"), "HostPort", where=w), host_ip)
        if not any(m[:3] == mapping[:3] and (m.host_ip or "") == (host_ip or "") for m in out):
            out.append(mapping)
    return tuple(out)


def string_map(value: object, key: str, *, where: str) -> dict[str, str]:
    """Docker labels or ECS tags: free-form text, so each key and value goes
    through the same checks as any other string from the agent."""
    raw = _object(value, key, where=where)
    if len(raw) > _MAX_ITEMS:
        raise AgentResponseError(f"{where} {key!r} has {len(raw)} entries")
    out: dict[str, str] = {}
    for k, v in raw.items():
        name = clean_text(k, f"{key} key", where=where)
        out[name] = clean_text(v, f"{key}[{name[:40]!r}]", where=where)
    return out


def dns_name(obj: Mapping[str, Any], key: str, *, where: str) -> str | None:
    name = text_field(obj, key, where=where)
    if name and not _DNS_RE.fullmatch(name):
        raise AgentResponseError(f"{where} {key!r} {name[:60]!r} is not a DNS name")
    return name


def ipv4_field(obj: Mapping[str, Any], key: str, *, where: str) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    return ip_address(value, socket.AF_INET, key, where=where)

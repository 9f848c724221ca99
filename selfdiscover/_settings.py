"""Every ``SELFDISCOVER_*`` setting, read in one place.

A Dockerfile configures the shim with ``ENV`` alone, a command line with
options, a program with arguments: all three meet here. ``read()`` takes what
was given explicitly (an option, an argument; ``None`` means "not given") and
reads the variable only for the rest, so each variable is read once and a
given value always wins.

Values are checked for their type here (seconds, yes/no, lists); whether a
dialect or a policy exists is the shim's to say, since ``discover()`` has no
use for either and must not fail on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

PREFIX = "SELFDISCOVER_"
_YES = ("1", "true", "yes", "on")
_NO = ("0", "false", "no", "off")


def raw(environ: Mapping[str, str], name: str) -> str | None:
    """``SELFDISCOVER_<name>``, stripped; ``None`` when unset or empty."""
    value = environ.get(PREFIX + name, "").strip()
    return value or None


def flag(value: str | None, default: bool) -> bool:
    """A yes/no setting: 1/true/yes/on or 0/false/no/off in any case, spaces
    ignored; anything else, unset and empty included, is ``default``."""
    text = (value or "").strip().lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    return default


def words(value: str | None) -> tuple[str, ...]:
    """A comma-separated list, each item stripped, empty items dropped."""
    return tuple(w.strip() for w in (value or "").split(",") if w.strip())


@dataclass(frozen=True, slots=True)
class Settings:
    """One run's configuration. ``None`` where the library's own default
    applies (``timeout``: ``Timeout``'s; ``sources``: every source in order)."""

    # discovery
    agent_url: str | None = None
    timeout: float | None = None
    docker_id: str | None = None
    sources: tuple[str, ...] | None = None
    tags: bool = False
    verify: bool = False
    retries: bool = True
    imds: bool = False
    imds_url: str | None = None
    # the shim
    prefix: str = "ECS_"
    policy: str = "auto"
    env_file: tuple[str, ...] = ()
    no_env_file: bool = False
    format: str = "docker"
    mode: str = "0644"
    override: bool = False
    set_cpu_count: bool = False
    set_otel_resource: bool = False
    otel_task_only: bool = False
    verbosity: int = 0


# How each field is read from its variable (by default the text as it is).
_READERS: dict[str, Any] = {
    "timeout": lambda text: _seconds(text, PREFIX + "TIMEOUT"),
    "sources": lambda text: words(text) or None,
    "env_file": words,
    "tags": lambda text: flag(text, default=False),
    "verify": lambda text: flag(text, default=False),
    "retries": lambda text: flag(text, default=True),
    "imds": lambda text: flag(text, default=False),
    "no_env_file": lambda text: flag(text, default=False),
    "override": lambda text: flag(text, default=False),
    "set_cpu_count": lambda text: flag(text, default=False),
    "set_otel_resource": lambda text: flag(text, default=False),
    "otel_task_only": lambda text: flag(text, default=False),
}


def _seconds(text: str, what: str) -> float:
    from .sources._timing import parse_seconds

    return parse_seconds(text, what)


def verbosity(environ: Mapping[str, str]) -> int:
    """-1 quiet (``SELFDISCOVER_QUIET=1``), 1 verbose (``SELFDISCOVER_VERBOSE=1``), else 0."""
    if flag(raw(environ, "QUIET"), default=False):
        return -1
    return 1 if flag(raw(environ, "VERBOSE"), default=False) else 0


def read(environ: Mapping[str, str], **given: Any) -> Settings:
    """The settings: each one from ``given`` when it is not ``None``, else from
    its variable (the field's name in capitals: ``timeout`` is
    ``SELFDISCOVER_TIMEOUT``), else the default. A variable that is set but
    malformed (``SELFDISCOVER_TIMEOUT=soon``) is a ``ValueError`` naming it;
    one that a given value replaces is never read."""
    values: dict[str, Any] = {}
    for f in fields(Settings):
        value = given.pop(f.name, None)
        if value is None:
            if f.name == "verbosity":
                value = verbosity(environ)
            else:
                text = raw(environ, f.name.upper())
                if text is None:
                    continue
                value = _READERS.get(f.name, str)(text)
        values[f.name] = value
    if given:
        raise TypeError(f"unknown setting {next(iter(given))!r}")
    return Settings(**values)

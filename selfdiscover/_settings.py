"""Every ``SELFDISCOVER_*`` setting, read in one place.

A Dockerfile configures the shim with ``ENV`` alone, a command line with
options, a program with arguments: all three meet here. ``read()`` takes what
was given explicitly (an option, an argument; ``None`` means "not given") and
reads the variable only for the rest, so each variable is read once and a
given value always wins.

Values are checked for their type here (seconds, yes/no, lists): a malformed
one is a ``ValueError`` naming its variable. Whether a
dialect or a policy exists is the shim's to say, since ``discover()`` has no
use for either and must not fail on them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

PREFIX = "SELFDISCOVER_"
_YES = ("1", "true", "yes", "on")
_NO = ("0", "false", "no", "off")


def raw(environ: Mapping[str, str], name: str) -> str | None:
    """``SELFDISCOVER_<name>``, stripped; ``None`` when unset or empty."""
    value = environ.get(PREFIX + name, "").strip()
    return value or None


def yes_no(text: str, what: str) -> bool:
    """A yes/no setting: 1/true/yes/on or 0/false/no/off in any case, spaces
    ignored; anything else is a ``ValueError`` naming ``what``: a typo such as
    ``ture`` must not quietly mean "off"."""
    word = text.strip().lower()
    if word in _YES:
        return True
    if word in _NO:
        return False
    raise ValueError(f"{what} must be one of {'/'.join(_YES)} or {'/'.join(_NO)}, got {text!r}")


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


# How a field that is neither text nor yes/no is read from its variable.
_READERS: dict[str, Callable[[str], Any]] = {
    "timeout": lambda text: _seconds(text, PREFIX + "TIMEOUT"),
    "sources": lambda text: words(text) or None,
    "env_file": words,
}


def _seconds(text: str, what: str) -> float:
    from .sources._timing import parse_seconds

    return parse_seconds(text, what)


def verbosity(environ: Mapping[str, str]) -> int:
    """-1 quiet (``SELFDISCOVER_QUIET=1``), 1 verbose (``SELFDISCOVER_VERBOSE=1``), else 0."""
    quiet, verbose = raw(environ, "QUIET"), raw(environ, "VERBOSE")
    if quiet is not None and yes_no(quiet, PREFIX + "QUIET"):
        return -1
    return 1 if verbose is not None and yes_no(verbose, PREFIX + "VERBOSE") else 0


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
                if f.type == "bool":
                    value = yes_no(text, PREFIX + f.name.upper())
                else:
                    value = _READERS.get(f.name, str)(text)
        values[f.name] = value
    if given:
        raise TypeError(f"unknown setting {next(iter(given))!r}")
    return Settings(**values)

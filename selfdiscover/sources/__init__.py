"""2. Where the task is learned, and how it is asked.

One module per source behind one small interface (``_ladder``: ``Source``,
``Context``, the ``Ladder`` that tries them in rounds): ``introspection``
(the agent's ``/v1`` API at an explicit URL, localhost or the bridge
gateway), ``tmde`` (task metadata endpoint v4, v3), ``metadata_file``, and
the opt-in ``imds`` (EC2 instance metadata, for the host address).

Their shared transport: ``_http`` (one guarded request: caps, watchdog, no
redirects), ``_timing`` (the ``Timeout`` and ``Retry`` values) and
``_retry`` (one deadline, one backoff formula), and ``_agent`` (the typed
introspection client, ``AgentClient``).

``SOURCES`` is the one registry: a source's name (as ``SELFDISCOVER_SOURCES``
spells it), in the default order, and where its class lives. A new source is
one module and one line here. Only the modules of the sources asked for are
imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._ladder import Source

SOURCES = {
    "agent-url": "introspection:ExplicitURL",
    "tmde-v4": "tmde:V4",
    "tmde-v3": "tmde:V3",
    "metadata-file": "metadata_file:MetadataFile",
    "agent-localhost": "introspection:Localhost",
    "agent-gateway": "introspection:Gateway",
}
SOURCE_NAMES = tuple(SOURCES)


def make_sources(names: Sequence[str] | None = None) -> list[Source]:
    """The sources by name (default: all, in order); an unknown name is a
    ``ValueError`` listing the known ones."""
    names = SOURCE_NAMES if names is None else names
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        raise ValueError(f"unknown source {unknown[0]!r}; choose from {', '.join(SOURCE_NAMES)}")
    made: list[Source] = []
    for name in names:
        module, cls = SOURCES[name].split(":")
        made.append(getattr(import_module(f".{module}", __name__), cls)())
    return made

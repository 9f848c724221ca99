"""Tag every stdlib log record with the task's identity.

``selfdiscover.logging.install()`` attaches one ``EcsFilter`` to the handlers
of the root logger (or the logger you pass), now and whenever a handler is
added to that logger later. Handler level, not logger level, because a
logger's filters never see records propagated from child loggers, which is
where third-party libraries log.

What it covers: every record emitted through a handler of that logger. A
handler attached to a child logger with ``propagate=False`` is not covered:
call ``install(logger=that_logger)`` for it.

The filter never overwrites an attribute the caller set (``extra=`` wins and
never raises), and always sets its keys, empty until the identity is known,
so ``%(ecs_task_family)s`` in a format string never breaks. JSON formatters
such as python-json-logger pick the attributes up unchanged.
"""

from __future__ import annotations

import logging

from . import _tags
from ._tags import STYLES, load, otel_resource_attributes, set_identity

__all__ = ["STYLES", "EcsFilter", "install", "load", "otel_resource_attributes", "set_identity", "uninstall"]


class EcsFilter(logging.Filter):
    """Adds the identity to each record in one key style; never drops a record."""

    def __init__(self, style: str = "flat") -> None:
        super().__init__()
        self.style = style
        self._keys = _tags.Keys(style)  # validates the style now, not at the first record

    def filter(self, record: logging.LogRecord) -> bool:
        d = record.__dict__
        for k, v in self._keys.items():
            if k not in d:
                d[k] = v
        return True


def install(
    style: str = "flat",
    *,
    logger: logging.Logger | None = None,
    discover: bool = False,
    load_identity: bool = True,
) -> EcsFilter:
    """Tag records from ``logger`` (default: root) in ``style``; idempotent per style."""
    target = logger or logging.getLogger()
    existing = getattr(target, "_selfdiscover_filters", {})
    if style in existing:
        flt: EcsFilter = existing[style]
    else:
        flt = EcsFilter(style)
        existing[style] = flt
        target._selfdiscover_filters = existing  # type: ignore[attr-defined]
    if load_identity and not _tags.current():
        load(discover=discover)
    for h in target.handlers:
        if flt not in h.filters:
            h.addFilter(flt)
    if not getattr(target, "_selfdiscover_wrapped", False):
        original = target.addHandler

        def add_handler(hdlr: logging.Handler) -> None:
            for f in getattr(target, "_selfdiscover_filters", {}).values():
                if f not in hdlr.filters:
                    hdlr.addFilter(f)
            original(hdlr)

        target.addHandler = add_handler  # type: ignore[method-assign]
        target._selfdiscover_wrapped = True  # type: ignore[attr-defined]
    return flt


def uninstall(logger: logging.Logger | None = None) -> None:
    """Remove every filter ``install`` added to ``logger`` (default: root)."""
    target = logger or logging.getLogger()
    for f in getattr(target, "_selfdiscover_filters", {}).values():
        for h in target.handlers:
            h.removeFilter(f)
    target._selfdiscover_filters = {}  # type: ignore[attr-defined]

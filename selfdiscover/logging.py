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
import threading
from typing import Any

from . import _tags
from ._tags import STYLES, otel_resource_attributes, set_identity

__all__ = ["STYLES", "EcsFilter", "install", "load", "otel_resource_attributes", "set_identity", "uninstall"]


_started = threading.Event()


class EcsFilter(logging.Filter):
    """Adds the identity to each record in one key style; never drops a record."""

    def __init__(self, style: str = "flat") -> None:
        super().__init__()
        _tags.tags(style, {})  # validate the style now, not at the first record
        self.style = style
        # (identity version, items) published as one tuple, so a thread never
        # pairs a new version with old (or no) keys.
        self._snap: tuple[int, list[tuple[str, Any]]] = (-1, list(_tags.tags(style, {}).items()))

    def filter(self, record: logging.LogRecord) -> bool:
        seen, items = self._snap
        version = _tags.version()
        if seen != version:  # rebuilt only when the identity changes
            items = list(_tags.tags(self.style).items())
            self._snap = (version, items)
        d = record.__dict__
        for k, v in items:
            if k not in d:
                d[k] = v
        return True


def load(
    *, discover: bool = False, prefix: str = "ECS_", env_file: str | None = None, timeout: float | None = None
) -> dict[str, str]:
    """Resolve the identity once for the whole process and return it.

    Order: variables ``selfdiscover exec`` exported, an env file (``env_file``,
    else ``SELFDISCOVER_ENV_FILE``, else the default locations, read only as far
    as the shim could have written them), and, only with ``discover=True``, a
    live ``discover()`` in a background thread (so start-up never waits for it;
    records carry empty values until it lands). When no file is believed but
    some were found, one warning on the ``selfdiscover`` logger says why.
    """
    found, notes = _tags.resolve_explained(prefix=prefix, env_file=env_file)
    if found is not None:
        set_identity(found)
    elif notes:
        why = "; ".join(notes)
        logging.getLogger("selfdiscover").warning("selfdiscover: no task identity from env files: %s", why)
    if found is None and discover and not _started.is_set():
        _started.set()  # one background discovery per process, however often install() runs
        threading.Thread(
            target=_discover_into_tags, args=(timeout,), name="selfdiscover", daemon=True
        ).start()
    return _tags.current()


def _discover_into_tags(timeout: float | None) -> None:
    from ._discover import discover
    from ._errors import DiscoveryError

    try:
        set_identity(discover(timeout=timeout))
    except (DiscoveryError, ValueError) as e:
        logging.getLogger("selfdiscover").warning("selfdiscover: no task identity for log records: %s", e)


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

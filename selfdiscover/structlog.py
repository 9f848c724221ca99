"""structlog integration: one processor, and a helper that puts it in both
chains it must be in.

A processor only in ``structlog.configure(processors=...)`` tags structlog's
own events; records from stdlib ``logging`` (third-party libraries) pass
through ``ProcessorFormatter(foreign_pre_chain=...)`` instead. ``processors()``
returns both lists so neither is forgotten.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any

from . import _tags

__all__ = ["EcsProcessor", "processors"]


class EcsProcessor:
    """``(logger, method_name, event_dict) -> event_dict`` adding the identity
    with ``setdefault``: a key the event already has is left alone."""

    def __init__(self, style: str = "flat", *, load: bool = True, discover: bool = False) -> None:
        self.style = style
        self._keys = _tags.Keys(style)  # validates the style now
        if load and not _tags.current():
            _tags.load(discover=discover)

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
        for k, v in self._keys.items():
            event_dict.setdefault(k, v)
        return event_dict


def processors(
    chain: Sequence[Any],
    foreign_pre_chain: Sequence[Any] = (),
    *,
    style: str = "flat",
    discover: bool = False,
) -> tuple[list[Any], list[Any]]:
    """Return ``(processors, foreign_pre_chain)`` with one ``EcsProcessor`` in each.

    It goes just before the last processor of ``chain`` (the renderer, or
    ``ProcessorFormatter.wrap_for_formatter``) and at the end of
    ``foreign_pre_chain``::

        procs, pre = selfdiscover.structlog.processors(
            [structlog.stdlib.add_log_level, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
            [structlog.stdlib.add_log_level],
        )
        structlog.configure(processors=procs, logger_factory=structlog.stdlib.LoggerFactory())
        formatter = structlog.stdlib.ProcessorFormatter(
            processor=structlog.processors.JSONRenderer(), foreign_pre_chain=pre)
    """
    proc = EcsProcessor(style, discover=discover)
    main = list(chain)
    main.insert(max(len(main) - 1, 0), proc)
    return main, [*foreign_pre_chain, proc]

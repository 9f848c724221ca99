"""An OpenTelemetry resource detector: the ECS task as resource attributes.

Registered under the SDK's entry-point group ``opentelemetry_resource_detector``
as ``selfdiscover``, so ``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS=selfdiscover``
makes ``Resource.create()`` (and so ``opentelemetry-instrument``) include it
with no code change. Needs the SDK (``pip install selfdiscover[otel]``);
``import selfdiscover`` never imports this module.

The identity comes from where the log integration takes it: the variables
``selfdiscover exec`` exported, then its env file, then a live
``discover()`` bounded by a start-up-sized deadline. A detector runs while
the application starts, so it never stops it: outside ECS the resource is
empty at once, and a failure inside ECS is one warning line and an empty
resource (an exception only with ``raise_on_error=True``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from opentelemetry.sdk.resources import Resource, ResourceDetector

from . import _tags
from ._errors import NotInECSError

__all__ = ["SelfdiscoverResourceDetector"]

# The whole discovery, retries included. Short: the SDK waits for detectors
# before the first span (and skips one that takes over 5 s), and an agent
# that needs longer than this at start-up is already broken.
DEFAULT_TIMEOUT = 2.0

_log = logging.getLogger("selfdiscover.otel")


def _timeout_from_env(environ: Mapping[str, str]) -> float:
    """``SELFDISCOVER_OTEL_TIMEOUT``, else ``SELFDISCOVER_TIMEOUT``, else 2 s."""
    from ._settings import PREFIX, raw
    from .sources._timing import parse_seconds

    for name in ("OTEL_TIMEOUT", "TIMEOUT"):
        text = raw(environ, name)
        if text is not None:
            return parse_seconds(text, PREFIX + name)
    return DEFAULT_TIMEOUT


class SelfdiscoverResourceDetector(ResourceDetector):
    """``cloud.*``, ``aws.ecs.*``, ``aws.log.*`` and ``container.*`` for this ECS container.

    ``timeout`` (seconds) overrides the environment; ``prefix`` is the
    variables' prefix ``selfdiscover exec`` was given; ``environ``,
    ``env_file`` and ``proc_root`` are for tests and unusual layouts.
    A discovered identity is kept for the process, so the SDK's several
    ``Resource.create()`` calls (one per provider) discover once.
    """

    def __init__(
        self,
        raise_on_error: bool = False,
        *,
        timeout: float | None = None,
        prefix: str = "ECS_",
        environ: Mapping[str, str] | None = None,
        env_file: str | None = None,
        proc_root: str = "/proc",
    ) -> None:
        super().__init__(raise_on_error)
        self.timeout = timeout
        self.prefix = prefix
        self.environ = environ
        self.env_file = env_file
        self.proc_root = proc_root

    def detect(self) -> Resource:
        try:
            identity = self.identity()
        except NotInECSError:
            return Resource.get_empty()  # not a failure: this is a laptop, CI, plain Docker
        except Exception as e:
            if self.raise_on_error:
                raise
            _log.warning("selfdiscover: no ECS resource attributes: %s", e)
            return Resource.get_empty()
        return Resource(_tags.otel_resource_attributes(identity))

    def identity(self) -> dict[str, str]:
        """The task identity (canonical FIELDS), found in the log integration's order.

        Raises ``NotInECSError`` outside ECS, another ``DiscoveryError`` when
        ECS does not answer within the deadline.
        """
        env = os.environ if self.environ is None else self.environ
        known = _tags.current()
        if known.get("TASK_ARN"):
            return known  # this process resolved it already (log enrichment)
        found = _tags.resolve(prefix=self.prefix, env_file=self.env_file, environ=env)
        if found is not None:
            return found
        from ._discover import discover
        from .sources._timing import Timeout

        total = self.timeout if self.timeout is not None else _timeout_from_env(env)
        found = _tags.from_task(discover(timeout=Timeout(total=total), environ=env, proc_root=self.proc_root))
        if not _tags.current():
            _tags.set_identity(found)  # log records and telemetry then name the same task
        return found

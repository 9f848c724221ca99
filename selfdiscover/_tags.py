"""The task's identity as a process-wide constant, in every key style.

Log enrichment reads from here. The identity is resolved once (exported
variables, then an env file, then an opt-in live ``discover()``) and never
changes afterwards, so threads and asyncio tasks all see the same values
without contextvars. Until it is known every key is present with ``""``.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Mapping

from ._model import TaskInfo, parse_task_arn
from ._model._variables import to_variables
from ._settings import raw, words

# The canonical fields (suffixes of the exported variables) enrichment uses.
FIELDS = (
    "TASK_ARN",
    "TASK_FAMILY",
    "TASK_VERSION",
    "TASK_ID",
    "CLUSTER",
    "CONTAINER_NAME",
    "CONTAINER_ID",
    "REGION",
    "ACCOUNT_ID",
    "AVAILABILITY_ZONE",
    "LAUNCH_TYPE",
    "SERVICE_NAME",
    "CONTAINER_ARN",
    "CONTAINER_IMAGE",
    "NETWORK_MODE",
    "CONTAINER_IPV4",
    "HOST_IPV4",
    "LOG_GROUP",
    "LOG_STREAM",
    "LOG_REGION",
)

_REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")

STYLES = ("flat", "otel", "datadog", "nested")

_lock = threading.Lock()
_identity: dict[str, str] | None = None
_version = 0  # bumped when the identity becomes known, so caches can refresh


def _from_env(environ: Mapping[str, str], prefix: str) -> dict[str, str]:
    return {f: environ[prefix + f] for f in FIELDS if environ.get(prefix + f)}


def _from_text(text: str, prefix: str) -> dict[str, str]:
    """Variables from a json or docker-dialect file written by ``selfdiscover exec``."""
    values: dict[str, str] = {}
    if text.lstrip().startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            return {}
        if isinstance(obj, dict):
            values = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, str)}
    else:
        for line in text.splitlines():
            if line.startswith("#") or "=" not in line:
                continue
            k, _, v = line.partition("=")
            values[k.strip()] = v
    return _from_env(values, prefix)


def from_task(info: TaskInfo) -> dict[str, str]:
    """The canonical FIELDS of a discovered TaskInfo, as the exported variables carry them."""
    return _from_env(to_variables(info, "X_"), "X_")


def set_identity(values: Mapping[str, str] | TaskInfo | None) -> None:
    """Make ``values`` (canonical FIELDS -> str, or a TaskInfo) the process-wide identity."""
    global _identity, _version
    if isinstance(values, TaskInfo):
        values = from_task(values)
    with _lock:
        _identity = dict(values) if values is not None else None
        _version += 1


def resolve(
    *,
    prefix: str = "ECS_",
    env_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    proc_root: str = "/proc",
) -> dict[str, str] | None:
    """Find the identity without network I/O: exported variables, then an env file."""
    return resolve_explained(prefix=prefix, env_file=env_file, environ=environ, proc_root=proc_root)[0]


def resolve_explained(
    *,
    prefix: str = "ECS_",
    env_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    proc_root: str = "/proc",
) -> tuple[dict[str, str] | None, list[str]]:
    """``resolve()``, plus why each location that held something was passed over.

    A named file (``env_file``, else ``SELFDISCOVER_ENV_FILE``) means exactly
    that file, as it does for the writer. Only without one are the default
    locations read, and only as far as a writer could have made them (see
    ``selfdiscover._outputs._paths``).
    """
    env = os.environ if environ is None else environ
    found = _from_env(env, prefix)
    if found.get("TASK_ARN"):
        return found, []
    from ._files import read_bounded  # bounded, non-blocking: a FIFO there cannot hang us
    from ._outputs._paths import read_defaults, split_spec

    notes: list[str] = []
    # Only this variable: a malformed other setting must not cost a log record its identity.
    specs = [env_file] if env_file else list(words(raw(env, "ENV_FILE")))
    if specs:
        texts: list[tuple[str, str | None]] = []
        for spec in specs:
            dialect, path = split_spec(spec.strip())
            if dialect in (None, "docker", "json"):  # quoted dialects: read the variables, not the quotes
                texts.append((path, read_bounded(path, 1024 * 1024)))
            else:
                notes.append(f"ignored {path}: the {dialect} dialect is for its own reader")
    else:
        defaults, notes = read_defaults(env, proc_root)
        texts = [(f.path, f.text) for f in defaults]
    for path, text in texts:
        found = _from_text(text or "", prefix)
        if found.get("TASK_ARN"):
            return found, notes
        if text is not None:
            notes.append(f"ignored {path}: no {prefix}TASK_ARN in it")
    return None, notes


def current() -> dict[str, str]:
    """The identity, or {} while unknown."""
    return _identity or {}


def tags(style: str = "flat", identity: Mapping[str, str] | None = None) -> dict[str, object]:
    """The identity as log keys in one style. Every key is always present."""
    v = dict(current() if identity is None else identity)

    def g(key: str) -> str:
        return v.get(key, "")

    if style == "flat":
        return {"ecs_" + f.lower(): g(f) for f in FIELDS}
    if style == "nested":
        return {"ecs": {f.lower(): g(f) for f in FIELDS}}
    if style == "datadog":
        return {
            "task_family": g("TASK_FAMILY"),
            "task_version": g("TASK_VERSION"),
            "task_arn": g("TASK_ARN"),
            "ecs_cluster_name": g("CLUSTER"),
            "ecs_container_name": g("CONTAINER_NAME"),
            "ecs_service": g("SERVICE_NAME"),
            "docker_image": g("CONTAINER_IMAGE"),
        }
    if style == "otel":
        return dict(otel_resource_attributes(v, all_keys=True))
    raise ValueError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")


def otel_resource_attributes(
    identity: Mapping[str, str] | None = None, *, all_keys: bool = False
) -> dict[str, str | tuple[str, ...]]:
    """OpenTelemetry resource attributes (semantic conventions for AWS ECS,
    cloud and container): what the Python ECS detector sets, with the right
    ``container.name`` (the task definition's) and ``container.id``, plus
    what it leaves out (task ID, region, account, availability zone, the
    container ARN as ``cloud.resource_id``, the image).

    The one mapping for both the resource detector and the ``otel`` log
    style. Unknown values are left out, or with ``all_keys`` present as
    ``""`` (``()`` for the list-valued keys) so log records keep one shape.
    Lists are tuples: the same value is shared by every log record.
    """
    v = dict(current() if identity is None else identity)
    arn = v.get("TASK_ARN", "")
    parsed = parse_task_arn(arn) if arn else None
    cluster_arn = ""
    if parsed and v.get("CLUSTER"):
        cluster = v["CLUSTER"]
        cluster_arn = (
            cluster
            if cluster.startswith("arn:")
            else (f"arn:{parsed.partition}:ecs:{parsed.region}:{parsed.account}:cluster/{cluster}")
        )
    image_name, image_tags = split_image(v.get("CONTAINER_IMAGE", ""))
    group, stream = v.get("LOG_GROUP", ""), v.get("LOG_STREAM", "")
    group_arn = stream_arn = ""
    if parsed and group:
        # CloudWatch Logs ARNs, in the task's partition and the awslogs
        # driver's region (a task may log to another region), else the task's.
        region = v.get("LOG_REGION", "")
        if not _REGION_RE.fullmatch(region):
            region = parsed.region
        group_arn = f"arn:{parsed.partition}:logs:{region}:{parsed.account}:log-group:{group}"
        stream_arn = f"{group_arn}:log-stream:{stream}" if stream else ""
    attrs: dict[str, str | tuple[str, ...]] = {
        "cloud.provider": "aws" if arn else "",
        "cloud.platform": "aws_ecs" if arn else "",
        "cloud.region": v.get("REGION") or (parsed.region if parsed else ""),
        "cloud.account.id": v.get("ACCOUNT_ID") or (parsed.account if parsed else ""),
        "cloud.availability_zone": v.get("AVAILABILITY_ZONE", ""),
        "cloud.resource_id": v.get("CONTAINER_ARN", ""),
        "aws.ecs.task.arn": arn,
        "aws.ecs.task.family": v.get("TASK_FAMILY", ""),
        "aws.ecs.task.revision": v.get("TASK_VERSION", ""),
        "aws.ecs.task.id": v.get("TASK_ID") or (parsed.task_id if parsed else ""),
        "aws.ecs.cluster.arn": cluster_arn,
        "aws.ecs.launchtype": v.get("LAUNCH_TYPE", "").lower(),
        "aws.ecs.container.arn": v.get("CONTAINER_ARN", ""),
        "aws.log.group.names": (group,) if group else (),
        "aws.log.group.arns": (group_arn,) if group_arn else (),
        "aws.log.stream.names": (stream,) if stream else (),
        "aws.log.stream.arns": (stream_arn,) if stream_arn else (),
        "container.id": v.get("CONTAINER_ID", ""),
        "container.name": v.get("CONTAINER_NAME", ""),
        "container.image.name": image_name,
        "container.image.tags": image_tags,
    }
    return attrs if all_keys else {k: x for k, x in attrs.items() if x}


# The keys of otel_resource_attributes() that describe the one container the
# identity was discovered from, not its task: its name, ID, ARN (twice: as
# cloud.resource_id too), image and awslogs configuration (each container
# definition has its own). Written by an init container for the app beside
# it, these would describe the init container.
OTEL_CONTAINER_ATTRIBUTES = frozenset(
    {
        "container.id",
        "container.name",
        "container.image.name",
        "container.image.tags",
        "aws.ecs.container.arn",
        "cloud.resource_id",
        "aws.log.group.names",
        "aws.log.group.arns",
        "aws.log.stream.names",
        "aws.log.stream.arns",
    }
)


def split_image(ref: str) -> tuple[str, tuple[str, ...]]:
    """``registry:5000/org/app:1.8@sha256:...`` -> (``registry:5000/org/app``, [``1.8``]).

    The tag is what follows the last ``:`` after the last ``/`` (a colon
    before a slash is a registry port); a digest is not a tag. With neither,
    Docker pulled ``latest``, so that is the tag.
    """
    name, _, digest = ref.strip().partition("@")
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1 :]
        return name, (tag,) if tag else ()
    return name, () if (digest or not name) else ("latest",)


class Keys:
    """The identity's keys in one style, rebuilt only when the identity
    changes: the per-record cost is one version check. ``(version, items)``
    is published as one tuple, so a thread never pairs a new version with
    old (or no) keys. Shared by the stdlib filter and the structlog processor."""

    def __init__(self, style: str) -> None:
        self.style = style
        self._snap: tuple[int, list[tuple[str, object]]] = (-1, list(tags(style, {}).items()))

    def items(self) -> list[tuple[str, object]]:
        seen, items = self._snap
        now = _version
        if seen != now:
            items = list(tags(self.style).items())
            self._snap = (now, items)
        return items


_started = threading.Event()


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
    import logging

    found, notes = resolve_explained(prefix=prefix, env_file=env_file)
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
    return current()


def _discover_into_tags(timeout: float | None) -> None:
    import logging

    from ._discover import discover
    from ._errors import DiscoveryError

    try:
        set_identity(discover(timeout=timeout))
    except (DiscoveryError, ValueError) as e:
        logging.getLogger("selfdiscover").warning("selfdiscover: no task identity for log records: %s", e)

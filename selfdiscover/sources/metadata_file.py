"""The container metadata file (``ECS_CONTAINER_METADATA_FILE``, opt-in on the
agent with ``ECS_ENABLE_CONTAINER_METADATA``). The agent writes it before the
container starts and rewrites it with ``"MetadataFileStatus": "READY"`` just
after; until then it is retried like any other start-up race."""

from __future__ import annotations

import json

from .._errors import AgentResponseError, RetryableError
from .._files import read_bounded
from .._model import SourceLabel, TaskInfo, _fields
from .._model._fields import task_identity, text_field
from ._ladder import Context

_MAX_FILE = 1024 * 1024


def parse_metadata_file(text: str, *, source: str) -> TaskInfo:
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise RetryableError("metadata file is not (yet) valid JSON") from None
    if not isinstance(obj, dict):
        raise AgentResponseError("metadata file is not a JSON object")
    if obj.get("MetadataFileStatus") != "READY":
        raise RetryableError("metadata file is not READY yet")
    where = "metadata file"
    arn, family, revision = task_identity(
        obj, ("TaskARN", "TaskDefinitionFamily", "TaskDefinitionRevision"), where=where
    )
    net = _fields.networks(obj, where=where)
    return TaskInfo(
        arn=arn,
        family=family,
        version=revision,
        docker_id=text_field(obj, "ContainerID", where=where),
        container_name=text_field(obj, "ContainerName", where=where),
        cluster=text_field(obj, "Cluster", where=where),
        container_instance_arn=text_field(obj, "ContainerInstanceARN", where=where),
        availability_zone=text_field(obj, "AvailabilityZone", where=where),
        image=text_field(obj, "ImageName", where=where),
        image_id=text_field(obj, "ImageID", where=where),
        ports=_fields.ports(obj, "PortMappings", where=where, host_ip_key="BindIp"),
        network_mode=net.mode,
        ipv4_addresses=net.ipv4,
        ipv6_addresses=net.ipv6,
        host_ipv4=_fields.ipv4_field(obj, "HostPrivateIPv4Address", where=where),
        source=source,
    )


class MetadataFile:
    name = "metadata-file"
    skipped = "ECS_CONTAINER_METADATA_FILE is not set (ECS_ENABLE_CONTAINER_METADATA is off)"

    def hint(self, detail: str, ctx: Context) -> str | None:
        if "not ready" in detail:
            return "the agent has not marked the metadata file READY yet (usually within a second of start)"
        return None

    def targets(self, ctx: Context) -> list[str]:
        path = (ctx.environ.get("ECS_CONTAINER_METADATA_FILE") or "").strip()
        return [path] if path else []

    def fetch(self, ctx: Context, target: str, deadline: float) -> TaskInfo:
        text = read_bounded(target, _MAX_FILE)
        if text is None:
            raise RetryableError("metadata file cannot be read (yet)")
        return parse_metadata_file(text, source=SourceLabel(self.name, target))

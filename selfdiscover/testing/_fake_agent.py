"""A fake ECS agent: the introspection API served over a real socket.

It follows the agent's source as ``ecs-agent-contract.md`` describes it
(routes, the 12-character prefix rule, 400 on ambiguity and on both
parameters, the empty-task 404 body, the catch-all document, Go's compact JSON)
and it can misbehave on a schedule, so tests exercise the same code paths a
real start-up race or outage would.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

__all__ = ["Behaviour", "FakeAgent", "FakeContainer", "FakeTask", "RequestRecord"]

ERROR_TASK = {"Arn": "", "KnownStatus": "", "Family": "", "Version": "", "Containers": None}
CATCH_ALL = {"AvailableCommands": ["/v1/metadata", "/v1/tasks", "/license"]}
THROTTLED = b"You have reached maximum request limit."


def go_json(obj: Any) -> bytes:
    """Encode as Go's encoding/json does: compact, no trailing newline, <>& escaped."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode("utf-8")


def random_docker_id() -> str:
    return secrets.token_hex(32)


@dataclass
class FakeContainer:
    name: str
    docker_id: str = field(default_factory=random_docker_id)
    image: str = "public.example/app:latest"
    internal: bool = False  # pause containers: a lookup key, never listed
    endpoint_id: str = field(default_factory=lambda: str(uuid.uuid4()))  # the TMDE id: not the Docker ID

    def to_v4(self, task: FakeTask, cluster: str, *, v3: bool = False) -> dict[str, Any]:
        labels = {
            "com.amazonaws.ecs.cluster": cluster,
            "com.amazonaws.ecs.container-name": self.name,
            "com.amazonaws.ecs.task-arn": task.arn,
            "com.amazonaws.ecs.task-definition-family": task.family,
            "com.amazonaws.ecs.task-definition-version": task.version,
        }
        obj: dict[str, Any] = {
            "DockerId": self.docker_id,
            "Name": self.name,
            "DockerName": f"ecs-{task.family}-{task.version}-{self.name}-{self.docker_id[:20]}",
            "Image": self.image,
            "ImageID": "sha256:" + "0" * 64,
            "Labels": labels,
            "DesiredStatus": "RESOURCES_PROVISIONED" if self.internal else "RUNNING",
            "KnownStatus": "RESOURCES_PROVISIONED" if self.internal else "RUNNING",
            "Limits": {"CPU": 2, "Memory": 0},
            "Type": "CNI_PAUSE" if self.internal else "NORMAL",
        }
        if not v3:
            obj["ContainerARN"] = f"{task.arn.replace(':task/', ':container/')}/{self.endpoint_id}"
        obj["Networks"] = [{"NetworkMode": "awsvpc", "IPv4Addresses": ["10.0.12.34"]}]
        return obj

    def to_v1(self, *, old_agent: bool) -> dict[str, Any]:
        return {
            ("DockerID" if old_agent else "DockerId"): self.docker_id,
            "DockerName": f"ecs-{self.name}-{self.docker_id[:20]}",
            "Name": self.name,
            "Image": self.image,
            "ImageID": "sha256:" + "0" * 64,
        }


@dataclass
class FakeTask:
    arn: str
    family: str
    version: str
    containers: list[FakeContainer] = field(default_factory=list)
    known_status: str = "RUNNING"
    desired_status: str = "RUNNING"
    availability_zone: str = "us-west-2a"
    launch_type: str = "EC2"

    def to_task_metadata(self, cluster: str, *, v3: bool = False) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "Cluster": cluster,
            "TaskARN": self.arn,
            "Family": self.family,
            "Revision": self.version,
            "DesiredStatus": self.desired_status,
            "KnownStatus": self.known_status,
            "Limits": {"CPU": 0.5, "Memory": 1024},
            "AvailabilityZone": self.availability_zone,
        }
        if not v3:
            obj["LaunchType"] = self.launch_type
        obj["Containers"] = [c.to_v4(self, cluster, v3=v3) for c in self.containers]
        if not v3:
            obj["FaultInjectionEnabled"] = False
        return obj

    def to_v1(self, *, old_agent: bool) -> dict[str, Any]:
        return {
            "Arn": self.arn,
            "DesiredStatus": self.desired_status,
            "KnownStatus": self.known_status,
            "Family": self.family,
            "Version": self.version,
            "Containers": [c.to_v1(old_agent=old_agent) for c in self.containers if not c.internal],
        }


@dataclass
class Behaviour:
    """How the agent misbehaves. Durations count from ``FakeAgent.start()``.

    ``down_for``: the port is bound but not listening, so connects are refused
    (the agent is starting or re-registering). ``not_found_for``: container and
    task lookups answer 404 (the Docker-create race). ``error_for`` /
    ``error_status``: every request gets a 5xx with an empty body, as a handler
    panic does. ``throttle_for``: 429 as TMDS's limiter sends it. ``delay``:
    every answer waits this long. ``hang``: accept and never answer.
    ``old_agent``: agent 1.19.0 quirks (``DockerID``, empty 400 bodies, no
    Content-Type on ``/v1/tasks``). ``override``: a hook that may return a raw
    ``(status, headers, body)`` for hostile-server tests.
    """

    down_for: float = 0.0
    not_found_for: float = 0.0
    error_for: float = 0.0
    error_status: int = 500
    throttle_for: float = 0.0
    delay: float = 0.0
    hang: bool = False
    old_agent: bool = False
    override: Callable[[str, str], tuple[int, dict[str, str], bytes] | None] | None = None


@dataclass(frozen=True)
class RequestRecord:
    at: float  # seconds since start()
    method: str
    path: str
    query: str
    status: int


class FakeAgent:
    """An introspection API on ``host:port`` (port 0 picks a free one).

    Use as a context manager, or ``start()``/``stop()``. ``url`` is the base URL
    to give ``SELFDISCOVER_AGENT_URL``; ``requests`` records every request.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        cluster: str = "default",
        behaviour: Behaviour | None = None,
        agent_version: str = "Amazon ECS Agent - v1.105.1 (8dfceca6)",
        region: str = "us-west-2",
        account: str = "111122223333",
    ) -> None:
        self.host = host
        self.cluster = cluster
        self.region = region
        self.account = account
        self.behaviour = behaviour or Behaviour()
        self.agent_version = agent_version
        self.container_instance_arn = (
            f"arn:aws:ecs:{region}:{account}:container-instance/{cluster}/{secrets.token_hex(16)}"
        )
        self.tasks: list[FakeTask] = []
        self.requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._started = 0.0
        self._stopping = threading.Event()
        self._serving = False
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self.tmde_rate = 40.0
        self.tmde_burst = 60
        self._server = _Server((host, port), _Handler, bind_and_activate=False)
        self._server.agent = self
        self._server.server_bind()  # reserve the port now; listen later
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    # -- state ---------------------------------------------------------------

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def add_task(
        self,
        family: str,
        version: str | int,
        containers: list[FakeContainer] | None = None,
        *,
        task_id: str | None = None,
        arn: str | None = None,
        known_status: str = "RUNNING",
    ) -> FakeTask:
        task_id = task_id or secrets.token_hex(16)
        arn = arn or f"arn:aws:ecs:{self.region}:{self.account}:task/{self.cluster}/{task_id}"
        task = FakeTask(arn, family, str(version), containers or [], known_status=known_status)
        with self._lock:
            self.tasks.append(task)
        return task

    def add_container_task(
        self, docker_id: str, family: str = "demo", version: str | int = 1, name: str = "app"
    ) -> FakeTask:
        """The common case: one task whose one container has ``docker_id``."""
        return self.add_task(family, version, [FakeContainer(name, docker_id)])

    def load_samples(self) -> None:
        """Load the three tasks of the bundled ``introspection-v1-tasks.json``."""
        from importlib import resources

        text = (
            resources.files("selfdiscover.testing") / "samples" / "introspection-v1-tasks.json"
        ).read_text()
        for t in json.loads(text)["Tasks"]:
            cs = [FakeContainer(c["Name"], c["DockerId"], c.get("Image", "")) for c in t["Containers"]]
            task = FakeTask(
                t["Arn"], t["Family"], t["Version"], cs, t["KnownStatus"], t.get("DesiredStatus", "")
            )
            with self._lock:
                self.tasks.append(task)

    def request_count(self, path_prefix: str = "/") -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path.startswith(path_prefix))

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> FakeAgent:
        self._started = time.monotonic()
        if self.behaviour.down_for <= 0:
            self._server.server_activate()  # listening before start() returns: no race
        self._thread = threading.Thread(target=self._run, name="fake-agent", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        if self.behaviour.down_for > 0:
            if self._stopping.wait(self.behaviour.down_for):
                return
            self._server.server_activate()
        with self._lock:
            if self._stopping.is_set():
                return
            self._serving = True
        self._server.serve_forever(poll_interval=0.05)

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            serving = self._serving
        if serving:
            self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeAgent:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the API -------------------------------------------------------------

    def _lookup_keys(self) -> list[tuple[str, FakeTask]]:
        return [(c.docker_id, t) for t in self.tasks for c in t.containers]

    def metadata_uri(self, container: FakeContainer, version: int = 4) -> str:
        """What the agent injects as ``ECS_CONTAINER_METADATA_URI[_V4]`` for ``container``."""
        return f"{self.url}/v{version}/{container.endpoint_id}"

    def write_metadata_file(
        self, path: str, task: FakeTask, container: FakeContainer, ready_after: float = 0.0
    ) -> None:
        """Write the container metadata file as the agent does: first without
        ``MetadataFileStatus`` (INITIAL), then READY after ``ready_after`` s,
        each time atomically (temp file + rename)."""
        base: dict[str, Any] = {
            "Cluster": self.cluster,
            "ContainerInstanceARN": self.container_instance_arn,
            "TaskARN": task.arn,
            "TaskDefinitionFamily": task.family,
            "TaskDefinitionRevision": task.version,
            "ContainerName": container.name,
        }

        def write(obj: dict[str, Any]) -> None:
            tmp = f"{path}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(obj, f, indent="\t")
            os.replace(tmp, path)

        write(base)
        ready = {
            **base,
            "ContainerID": container.docker_id,
            "DockerContainerName": f"/ecs-{task.family}-{task.version}-{container.name}",
            "MetadataFileStatus": "READY",
            "AvailabilityZone": task.availability_zone,
        }
        if ready_after <= 0:
            write(ready)
            return
        timer = threading.Timer(ready_after, write, args=(ready,))
        timer.daemon = True
        timer.start()

    def _throttled(self, client: str, path: str) -> bool:
        """TMDS's token bucket per (client IP, path): 40/s steady, burst 60."""
        now = time.monotonic()
        key = (client, path)
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.tmde_burst), now))
            tokens = min(float(self.tmde_burst), tokens + (now - last) * self.tmde_rate)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                return True
            self._buckets[key] = (tokens - 1, now)
            return False

    def respond(
        self, method: str, target: str, client: str = "127.0.0.1"
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one request the way the agent's source does."""
        b = self.behaviour
        now = self.elapsed()
        parts = urlsplit(target)
        path = parts.path
        if b.override is not None:
            out = b.override(method, target)
            if out is not None:
                return out
        if now < b.error_for:
            return b.error_status, {"Connection": "close"}, b""
        if now < b.throttle_for:
            return 429, {"Content-Type": "text/plain; charset=utf-8"}, THROTTLED
        cleaned = _clean_path(path)
        if cleaned != path:
            return 301, {"Location": cleaned + (f"?{parts.query}" if parts.query else "")}, b""
        if path.startswith(("/v3/", "/v4/")) or path in ("/v3", "/v4"):
            if self._throttled(client, path):
                return 429, {"Content-Type": "text/plain; charset=utf-8"}, THROTTLED
            return self._tmde(path, now)
        json_ct = {"Content-Type": "application/json"}
        if path == "/v1/metadata":
            meta = {
                "Cluster": self.cluster,
                "ContainerInstanceArn": self.container_instance_arn,
                "Version": self.agent_version,
            }
            return 200, json_ct, go_json(meta)
        if path == "/license":
            return 200, {"Content-Type": "text/plain; charset=utf-8"}, b"Apache License 2.0 (fake)\n"
        if path != "/v1/tasks":
            return 200, {"Content-Type": "text/plain; charset=utf-8"}, go_json(CATCH_ALL)
        return self._tasks(parse_qs(parts.query, keep_blank_values=True), now)

    def _tmde(self, path: str, now: float) -> tuple[int, dict[str, str], bytes]:
        version, _, rest = path[1:].partition("/")
        endpoint_id, _, sub = rest.partition("/")
        v3 = version == "v3"
        if rest.endswith("/"):  # gorilla/mux: a trailing slash is another route
            return 404, {"Content-Type": "text/plain; charset=utf-8"}, b"404 page not found\n"
        found = None
        with self._lock:
            for t in self.tasks:
                for c in t.containers:
                    if c.endpoint_id == endpoint_id and endpoint_id:
                        found = (t, c)
        ct = {"Content-Type": "application/json"}
        label = "V3" if v3 else "V4"
        # v3 (and v4 before agent 1.71) answer an unknown id with 500; v4 with 404.
        missing = 500 if v3 else 404
        if sub in ("", "task", "taskWithTags") and (found is None or now < self.behaviour.not_found_for):
            what = "container" if sub == "" else "task"
            msg = (
                (
                    f"{label} container metadata handler: unable to get container ID from request: "
                    f"unable to get docker ID from v3 endpoint ID: {endpoint_id}"
                )
                if what == "container"
                else (
                    f"{label} task metadata handler: unable to get task arn from request: "
                    f"unable to get task Arn from v3 endpoint ID: {endpoint_id}"
                )
            )
            return missing, ct, go_json(msg)
        assert found is not None or sub not in ("", "task", "taskWithTags")
        if found is not None and sub == "":
            return 200, ct, go_json(found[1].to_v4(found[0], self.cluster, v3=v3))
        if found is not None and sub in ("task", "taskWithTags"):
            return 200, ct, go_json(found[0].to_task_metadata(self.cluster, v3=v3))
        return 404, {"Content-Type": "text/plain; charset=utf-8"}, b"404 page not found\n"

    def _tasks(self, q: dict[str, list[str]], now: float) -> tuple[int, dict[str, str], bytes]:
        b = self.behaviour
        ct = {} if b.old_agent else {"Content-Type": "application/json"}
        error = (ct, b"" if b.old_agent else go_json(ERROR_TASK))
        with self._lock:
            if "dockerid" in q and "taskarn" in q:
                return 400, *error
            if "taskarn" in q or "dockerid" in q:
                if now < b.not_found_for:
                    return 404, ct, go_json(ERROR_TASK)
                if "taskarn" in q:
                    found = [t for t in self.tasks if t.arn == q["taskarn"][0]]
                    if not found:
                        return 404, ct, go_json(ERROR_TASK)
                    return 200, ct, go_json(found[0].to_v1(old_agent=b.old_agent))
                wanted = q["dockerid"][0]
                keys = self._lookup_keys()
                if len(wanted) > 12:
                    matches = [t for k, t in keys if k == wanted]
                else:
                    matches = [t for k, t in keys if k.startswith(wanted)]  # duplicates kept, as Go does
                if not matches:
                    return 404, ct, go_json(ERROR_TASK)
                if len(matches) > 1:
                    return 400, *error
                return 200, ct, go_json(matches[0].to_v1(old_agent=b.old_agent))
            tasks = [t.to_v1(old_agent=b.old_agent) for t in self.tasks]
        return 200, ct, go_json({"Tasks": tasks})


def _clean_path(path: str) -> str:
    """Go's ServeMux redirects non-canonical paths (``//v1/tasks``) with 301."""
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out:
                out.pop()
            continue
        out.append(part)
    cleaned = "/" + "/".join(out)
    if path.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the agent (Go) listens with SOMAXCONN, not socketserver's 5
    agent: FakeAgent

    def server_bind(self) -> None:
        if ":" in self.server_address[0]:
            self.address_family = socket.AF_INET6
            self.socket.close()
            self.socket = socket.socket(self.address_family, self.socket_type)
        super().server_bind()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Go's net/http sets TCP_NODELAY. With Nagle on, the body (a second send()
    # after the headers) waits for the client's delayed ACK: +40 ms on every
    # keep-alive request after the first, i.e. on every discovery's /v1/metadata.
    disable_nagle_algorithm = True
    server_version = "fake-ecs-agent"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _any(self) -> None:
        agent = self.server.agent
        b = agent.behaviour
        if b.hang:
            agent._stopping.wait(3600)
            self.close_connection = True
            return
        if b.delay > 0:
            agent._stopping.wait(b.delay)
        status, headers, body = agent.respond(self.command, self.path, self.client_address[0])
        parts = urlsplit(self.path)
        with agent._lock:
            agent.requests.append(
                RequestRecord(agent.elapsed(), self.command, parts.path, parts.query, status)
            )
        self.send_response_only(status)
        self.send_header("Date", self.date_time_string())
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        if headers.get("Connection") == "close":
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _any

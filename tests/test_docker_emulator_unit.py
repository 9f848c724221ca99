"""DockerAgent without a Docker engine: a stand-in client returns what
``client.containers.list(sparse=True, ...)`` would."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from selfdiscover.testing._docker_emulator import DockerAgent, tasks_from_containers

ARN = "arn:aws:ecs:us-west-2:111122223333:task/demo/0123456789abcdef0123456789abcdef"
APP_ID = "a" * 64
SIDE_ID = "b" * 64
PAUSE_ID = "c" * 64


def labels(
    arn: str, name: str, family: str = "web", version: str = "7", cluster: str | None = "demo"
) -> dict[str, str]:
    d = {
        "com.amazonaws.ecs.task-arn": arn,
        "com.amazonaws.ecs.task-definition-family": family,
        "com.amazonaws.ecs.task-definition-version": version,
        "com.amazonaws.ecs.container-name": name,
    }
    if cluster is not None:
        d["com.amazonaws.ecs.cluster"] = cluster
    return d


@dataclass
class _Container:
    id: str
    attrs: dict[str, Any]


@dataclass
class _Containers:
    items: list[_Container]
    calls: list[dict[str, Any]] = field(default_factory=list)
    fail: Exception | None = None

    def list(self, **kw: Any) -> list[_Container]:
        self.calls.append(kw)
        if self.fail is not None:
            raise self.fail
        wanted = kw.get("filters", {}).get("label")
        return [c for c in self.items if wanted is None or wanted in c.attrs["Labels"]]


@dataclass
class _API:
    """``client.api.inspect_container``: what ``docker inspect`` says of a listed
    container (its ``inspect`` attribute, else just its labels and image)."""

    containers: _Containers
    calls: list[str] = field(default_factory=list)

    def inspect_container(self, cid: str) -> dict[str, Any]:
        self.calls.append(cid)
        c = next(c for c in self.containers.items if c.id == cid)
        return c.attrs.get("inspect") or {
            "Id": cid,
            "Config": {"Labels": c.attrs["Labels"], "Image": c.attrs["Image"]},
        }


@dataclass
class _Client:
    containers: _Containers
    api: _API = field(init=False)

    def __post_init__(self) -> None:
        self.api = _API(self.containers)


def client(*specs: tuple[str, dict[str, str]]) -> _Client:
    return _Client(_Containers([_Container(i, {"Labels": lab, "Image": "app:1"}) for i, lab in specs]))


def body(agent: DockerAgent, target: str) -> tuple[int, Any]:
    status, _, raw = agent.respond("GET", target)
    return status, json.loads(raw) if raw else None


def test_grouping_by_task_arn() -> None:
    other = ARN.replace("0123", "4567")
    tasks, clusters = tasks_from_containers(
        [
            (APP_ID, labels(ARN, "app"), "app:1"),
            (SIDE_ID, labels(ARN, "sidecar"), "side:1"),
            (PAUSE_ID, labels(ARN, "~internal~ecs~pause"), "pause"),
            ("d" * 64, labels(other, "solo", "batch", "2", cluster=None), "b:1"),
            ("e" * 64, {"unrelated": "1"}, "x"),
        ]
    )
    assert [(t.arn, t.family, t.version) for t in tasks] == [(ARN, "web", "7"), (other, "batch", "2")]
    assert [(c.name, c.internal) for c in tasks[0].containers] == [
        ("app", False),
        ("sidecar", False),
        ("~internal~ecs~pause", True),
    ]
    assert clusters == {"demo"}


def test_answers_from_labels_and_hides_the_pause_container() -> None:
    c = client((APP_ID, labels(ARN, "app")), (PAUSE_ID, labels(ARN, "~internal~ecs~pause")))
    agent = DockerAgent(client=c, cluster="fallback")
    try:
        status, task = body(agent, f"/v1/tasks?dockerid={APP_ID}")
        assert status == 200
        assert (task["Arn"], task["Family"], task["Version"]) == (ARN, "web", "7")
        assert [x["Name"] for x in task["Containers"]] == ["app"]
        assert body(agent, f"/v1/tasks?dockerid={PAUSE_ID[:12]}")[0] == 200  # a lookup key
        assert body(agent, "/v1/tasks?dockerid=" + "f" * 64)[0] == 404
        status, meta = body(agent, "/v1/metadata")
        assert meta["Cluster"] == "demo"
        assert "/demo/" in meta["ContainerInstanceArn"]
        assert c.containers.calls[0] == {"sparse": True, "filters": {"label": "com.amazonaws.ecs.task-arn"}}
    finally:
        agent.stop()


def test_cluster_falls_back_when_labels_disagree_or_are_missing() -> None:
    other = ARN.replace("0123", "4567")
    c = client((APP_ID, labels(ARN, "app", cluster="a")), (SIDE_ID, labels(other, "app", cluster="b")))
    agent = DockerAgent(client=c, cluster="fallback", ttl=0)
    try:
        assert body(agent, "/v1/metadata")[1]["Cluster"] == "fallback"
        c.containers.items[:] = []
        assert body(agent, "/v1/metadata")[1]["Cluster"] == "fallback"
        assert body(agent, "/v1/tasks")[1] == {"Tasks": []}
    finally:
        agent.stop()


def test_ttl_caches_and_new_containers_appear_after_it() -> None:
    c = client()
    agent = DockerAgent(client=c, ttl=3600)
    try:
        assert body(agent, "/v1/tasks")[1] == {"Tasks": []}
        c.containers.items.append(_Container(APP_ID, {"Labels": labels(ARN, "app"), "Image": "app:1"}))
        assert body(agent, f"/v1/tasks?dockerid={APP_ID}")[0] == 404  # cached
        assert len(c.containers.calls) == 1
        agent.refresh(force=True)
        assert body(agent, f"/v1/tasks?dockerid={APP_ID}")[0] == 200
    finally:
        agent.stop()


def test_docker_failure_is_an_empty_500(capsys: Any) -> None:
    c = client()
    c.containers.fail = ConnectionError("no socket")
    agent = DockerAgent(client=c)
    try:
        assert agent.respond("GET", "/v1/tasks") == (500, {"Connection": "close"}, b"")
        assert "no socket" in capsys.readouterr().err
    finally:
        agent.stop()


def test_served_over_a_socket() -> None:
    from selfdiscover import AgentClient

    c = client((APP_ID, labels(ARN, "app")))
    with DockerAgent(client=c) as agent:
        task = AgentClient(agent.url).task_by_docker_id(APP_ID)
    assert (task.arn, task.family, task.version) == (ARN, "web", "7")

"""Log enrichment, captured from real handlers and formatters."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from selfdiscover import _tags
from selfdiscover import logging as sdlog
from selfdiscover._model import TaskInfo

ARN = "arn:aws:ecs:eu-west-1:123456789012:task/prod/0123456789abcdef0123456789abcdef"
INFO = TaskInfo(
    arn=ARN, family="web", version="42", docker_id="ab" * 32, container_name="app", cluster="prod"
)


@pytest.fixture
def root() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    """A root logger with one fresh stream handler, restored afterwards."""
    r = logging.getLogger()
    saved = (r.handlers[:], r.level, r.__dict__.copy())
    r.handlers = []
    stream = io.StringIO()
    h = logging.StreamHandler(stream)
    r.addHandler(h)
    r.setLevel(logging.INFO)
    _tags.set_identity(None)
    yield r, stream, h
    sdlog.uninstall(r)
    r.handlers, r.level = saved[0], saved[1]
    for k in ("_selfdiscover_filters", "_selfdiscover_wrapped", "addHandler"):
        r.__dict__.pop(k, None)
        if k in saved[2]:
            r.__dict__[k] = saved[2][k]
    _tags.set_identity(None)


def test_text_format_child_logger_and_before_discovery(
    root: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    r, stream, h = root
    h.setFormatter(logging.Formatter("%(name)s %(ecs_task_family)s:%(ecs_task_version)s %(message)s"))
    sdlog.install(load_identity=False)
    third_party = logging.getLogger("thirdparty.db.pool")  # propagates to root: only a handler filter sees it
    third_party.warning("before")
    _tags.set_identity(INFO)
    third_party.warning("after")
    lines = stream.getvalue().splitlines()
    assert lines == ["thirdparty.db.pool : before", "thirdparty.db.pool web:42 after"]


def test_extra_clash_never_raises_and_caller_wins(
    root: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    r, stream, h = root
    h.setFormatter(logging.Formatter("%(ecs_task_family)s %(ecs_task_arn)s"))
    _tags.set_identity(INFO)
    sdlog.install(load_identity=False)
    logging.getLogger("x").info("m", extra={"ecs_task_family": "mine"})
    assert stream.getvalue().strip() == f"mine {ARN}"


def test_handler_added_later_is_covered(root: tuple[logging.Logger, io.StringIO, logging.Handler]) -> None:
    r, _, _ = root
    _tags.set_identity(INFO)
    sdlog.install(load_identity=False)
    late = io.StringIO()
    h2 = logging.StreamHandler(late)
    h2.setFormatter(logging.Formatter("%(ecs_task_id)s"))
    r.addHandler(h2)
    logging.getLogger("lib").error("x")
    assert late.getvalue().strip() == "0123456789abcdef0123456789abcdef"
    sdlog.install(load_identity=False)  # idempotent: still one filter
    assert sum(isinstance(f, sdlog.EcsFilter) for f in h2.filters) == 1


def test_json_logger_threads_and_asyncio(root: tuple[logging.Logger, io.StringIO, logging.Handler]) -> None:
    from pythonjsonlogger.json import JsonFormatter

    r, stream, h = root
    h.setFormatter(JsonFormatter("%(message)s %(name)s"))
    _tags.set_identity(INFO)
    sdlog.install(load_identity=False)
    workers = [threading.Thread(target=logging.getLogger("worker").info, args=(f"t{i}",)) for i in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()

    async def job(i: int) -> None:
        await asyncio.sleep(0)
        logging.getLogger("aio").info(f"a{i}")

    async def main() -> None:
        await asyncio.gather(*(job(i) for i in range(3)))

    asyncio.run(main())
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(records) == 7
    for rec in records:
        assert rec["ecs_task_family"] == "web" and rec["ecs_task_arn"] == ARN and rec["ecs_cluster"] == "prod"


@pytest.mark.parametrize(
    ("style", "key", "value"),
    [
        ("otel", "aws.ecs.task.family", "web"),
        ("otel", "aws.ecs.cluster.arn", "arn:aws:ecs:eu-west-1:123456789012:cluster/prod"),
        ("otel", "cloud.region", "eu-west-1"),
        ("datadog", "task_version", "42"),
        ("datadog", "ecs_cluster_name", "prod"),
    ],
)
def test_key_styles(
    root: tuple[logging.Logger, io.StringIO, logging.Handler], style: str, key: str, value: str
) -> None:
    from pythonjsonlogger.json import JsonFormatter

    r, stream, h = root
    h.setFormatter(JsonFormatter("%(message)s"))
    _tags.set_identity(INFO)
    sdlog.install(style, load_identity=False)
    logging.getLogger("s").info("m")
    assert json.loads(stream.getvalue())[key] == value


def test_nested_style_and_unknown_style(root: tuple[logging.Logger, io.StringIO, logging.Handler]) -> None:
    from pythonjsonlogger.json import JsonFormatter

    r, stream, h = root
    h.setFormatter(JsonFormatter("%(message)s"))
    _tags.set_identity(INFO)
    sdlog.install("nested", load_identity=False)
    logging.getLogger("s").info("m")
    assert json.loads(stream.getvalue())["ecs"]["task_family"] == "web"
    with pytest.raises(ValueError, match="unknown style"):
        sdlog.install("bogus", load_identity=False)


def test_identity_from_exported_variables_and_env_file(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECS_TASK_ARN", ARN)
    monkeypatch.setenv("ECS_TASK_FAMILY", "fromenv")
    _tags.set_identity(None)
    assert sdlog.load()["TASK_FAMILY"] == "fromenv"
    monkeypatch.delenv("ECS_TASK_ARN")
    monkeypatch.delenv("ECS_TASK_FAMILY")
    from pathlib import Path

    f = Path(str(tmp_path)) / "ecs.env"
    f.write_text(f"# header\nECS_TASK_ARN={ARN}\nECS_TASK_FAMILY=fromfile\n")
    _tags.set_identity(None)
    assert sdlog.load(env_file=str(f))["TASK_FAMILY"] == "fromfile"
    _tags.set_identity(None)


def test_logging_identity_from_a_fifo_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "ecs.env"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    assert _tags.resolve(env_file=str(fifo), environ={}) is None
    assert time.monotonic() - t0 < 1.0


def test_logging_skips_quoted_dialect_files(tmp_path: Path) -> None:
    f = tmp_path / "ecs.sh"
    f.write_text(
        "ECS_TASK_ARN='arn:aws:ecs:us-west-2:111122223333:task/c/0123456789abcdef0123456789abcdef'\n"
    )
    assert _tags.resolve(env_file=f"shell:{f}", environ={"TMPDIR": str(tmp_path)}) is None


def test_otel_resource_fills_what_the_python_detector_leaves_out() -> None:
    attrs = sdlog.otel_resource_attributes(_tags_of(INFO))
    for key in ("aws.ecs.task.id", "cloud.region", "cloud.account.id", "container.name", "container.id"):
        assert attrs[key]
    assert attrs["cloud.platform"] == "aws_ecs"


def _tags_of(info: TaskInfo) -> dict[str, str]:
    _tags.set_identity(info)
    out = _tags.current()
    _tags.set_identity(None)
    return out


def test_structlog_processor_in_both_chains(
    root: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    import structlog

    from selfdiscover import structlog as sdstructlog

    r, stream, h = root
    _tags.set_identity(INFO)
    procs, pre = sdstructlog.processors(
        [structlog.stdlib.add_log_level, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        [structlog.stdlib.add_log_level],
    )
    h.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=structlog.processors.JSONRenderer(), foreign_pre_chain=pre
        )
    )
    structlog.configure(
        processors=procs, logger_factory=structlog.stdlib.LoggerFactory(), cache_logger_on_first_use=False
    )
    try:
        structlog.get_logger("app").info("from structlog", ecs_task_family="override")
        logging.getLogger("thirdparty").warning("from stdlib")
    finally:
        structlog.reset_defaults()
    a, b = (json.loads(x) for x in stream.getvalue().splitlines())
    assert a["event"] == "from structlog" and a["ecs_task_family"] == "override" and a["ecs_task_arn"] == ARN
    assert b["event"] == "from stdlib" and b["ecs_task_family"] == "web"

"""An application that uses selfdiscover as a library: it discovers its task at
start-up and every log record it writes carries the task's tags."""

from __future__ import annotations

import logging
import sys

import selfdiscover
import selfdiscover.logging

FORMAT = (
    "%(levelname)s [%(ecs_task_family)s:%(ecs_task_version)s task=%(ecs_task_id)s "
    "container=%(ecs_container_name)s cluster=%(ecs_cluster)s] %(name)s: %(message)s"
)


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format=FORMAT)
    # Tags every record that reaches a root handler, third-party loggers included.
    selfdiscover.logging.install()
    log = logging.getLogger("example")
    try:
        info = selfdiscover.discover()
    except selfdiscover.NotInECSError as e:
        log.warning("not in ECS, logging without task tags: %s", e)
    except selfdiscover.DiscoveryError as e:
        log.error("in ECS, but the task is unknown: %s", e)
        return 69
    else:
        selfdiscover.logging.set_identity(info)
        log.info("started as %s (%s)", info.task_definition, info.arn)
    logging.getLogger("example.worker").info("doing some work")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

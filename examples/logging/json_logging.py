"""JSON logs with python-json-logger: the filter's attributes become keys."""

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

import selfdiscover.logging

handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(JsonFormatter("%(levelname)s %(name)s %(message)s"))
logging.basicConfig(level=logging.INFO, handlers=[handler])
selfdiscover.logging.install(style="otel")  # keys such as aws.ecs.task.family, cloud.region

logging.getLogger("app").info("started", extra={"order_id": 42})

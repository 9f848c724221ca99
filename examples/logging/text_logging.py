"""stdlib text logging: every record, including third-party ones, tagged.

Run under the shim (`selfdiscover exec -- python text_logging.py`) or after it
wrote its env file; outside ECS the fields are empty and nothing breaks.
"""

import logging

import selfdiscover.logging

logging.basicConfig(
    level=logging.INFO,
    format="%(levelname)s %(name)s [%(ecs_task_family)s:%(ecs_task_version)s %(ecs_task_id)s] %(message)s",
)
selfdiscover.logging.install()

logging.getLogger("app").info("started")
logging.getLogger("urllib3.connectionpool").warning("a third-party record")

"""structlog for the app's own events, stdlib for libraries: both tagged."""

import logging
import sys

import structlog

import selfdiscover.structlog

procs, pre = selfdiscover.structlog.processors(
    [structlog.stdlib.add_log_level, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
    [structlog.stdlib.add_log_level],
)
structlog.configure(processors=procs, logger_factory=structlog.stdlib.LoggerFactory())
handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(
    structlog.stdlib.ProcessorFormatter(processor=structlog.processors.JSONRenderer(), foreign_pre_chain=pre)
)
logging.basicConfig(level=logging.INFO, handlers=[handler])

structlog.get_logger("app").info("started", user="ada")
logging.getLogger("thirdparty").warning("from the standard library")

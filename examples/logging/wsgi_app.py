"""A plain WSGI app whose request logs carry the task's identity.

`python wsgi_app.py` serves one request to itself on 127.0.0.1 and exits, so
the example can be run (and tested) without leaving the machine.
"""

import logging
import threading
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, make_server

import selfdiscover.logging

logging.basicConfig(
    level=logging.INFO, format="%(ecs_task_family)s:%(ecs_task_version)s %(name)s %(message)s"
)
selfdiscover.logging.install()
log = logging.getLogger("web")


def app(environ, start_response):  # type: ignore[no-untyped-def]
    log.info("GET %s", environ.get("PATH_INFO"))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # type: ignore[no-untyped-def]
        logging.getLogger("wsgi.access").info(format, *args)


if __name__ == "__main__":
    with make_server("127.0.0.1", 0, app, handler_class=QuietHandler) as server:
        t = threading.Thread(target=server.handle_request, daemon=True)
        t.start()
        urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/hello", timeout=5).read()
        t.join(5)

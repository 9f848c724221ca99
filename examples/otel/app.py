"""A traced app whose spans name the ECS task they ran in.

``Resource.create()`` runs the detectors named in
``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS``; with ``selfdiscover`` among them the
resource carries the task, container, cluster, region, account, log group
and image. Nothing in the code names selfdiscover: the variable is the switch.

    OTEL_EXPERIMENTAL_RESOURCE_DETECTORS=selfdiscover python examples/otel/app.py

Each finished span is printed as one line of JSON (the console exporter).
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor


def one_line(span: ReadableSpan) -> str:
    return str(span.to_json(indent=None)) + "\n"


def main() -> None:
    provider = TracerProvider(resource=Resource.create())
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(formatter=one_line)))
    trace.set_tracer_provider(provider)
    tracer = trace.get_tracer("examples.otel")
    with tracer.start_as_current_span("handle-order") as span:
        span.set_attribute("order.id", 42)
    provider.shutdown()


if __name__ == "__main__":
    main()

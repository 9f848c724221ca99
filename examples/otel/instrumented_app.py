"""The same, with no SDK code at all: ``opentelemetry-instrument`` builds the
tracer provider (and its resource) before the app starts.

    OTEL_EXPERIMENTAL_RESOURCE_DETECTORS=selfdiscover \\
        opentelemetry-instrument --traces_exporter console --metrics_exporter none \\
        --logs_exporter none python examples/otel/instrumented_app.py
"""

from __future__ import annotations

from opentelemetry import trace

tracer = trace.get_tracer("examples.otel")
with tracer.start_as_current_span("startup"):
    print("app: started")

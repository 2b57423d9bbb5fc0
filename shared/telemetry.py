"""OpenTelemetry wiring: W3C trace context travels in Kafka headers, so one trace spans the path
station -> gateway -> Kafka -> service -> Kafka -> gateway -> station.

Exporters are chosen by the process (OTLP in production via the standard OTEL_* variables, an
in-memory exporter in tests); library code only asks for a tracer and moves context in headers.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import context, propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

Headers = list[tuple[str, bytes]]


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def install_provider(service_name: str, exporters: Sequence[SpanExporter] = ()) -> TracerProvider:
    """Install a global provider once per process; later calls return the existing one."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        for exporter in exporters:
            current.add_span_processor(SimpleSpanProcessor(exporter))
        return current
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    for exporter in exporters:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


def inject_headers(ctx: Context | None = None) -> Headers:
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=ctx)
    return [(k, v.encode()) for k, v in carrier.items()]


def extract_headers(headers: Sequence[tuple[str, bytes]] | None) -> Context:
    carrier = {k: v.decode("latin-1") for k, v in headers or ()}
    return propagate.extract(carrier, context=context.Context())

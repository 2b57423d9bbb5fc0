"""OpenTelemetry metrics of the system, exported with the traces' pipeline (``shared/telemetry.py``):
OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, an in-memory reader in the tests. Without a meter
provider the instruments are OpenTelemetry's no-ops (nothing is kept, nothing costs).

Today: security events (security whitepaper section 8, issue 14), so critical ones can be alerted
on. The Prometheus exposition and the rest of the system's metrics come with issue 16.
"""

from __future__ import annotations

from opentelemetry import metrics

from shared.ocpp.v16.security_events import is_critical

_meter = metrics.get_meter("csms")

SECURITY_EVENTS = _meter.create_counter(
    "csms.security_events",
    unit="{event}",
    description="security events: reported by stations (source station) or found by the CSMS (source csms)",
)


def security_event(kind: str, source: str) -> None:
    """Count one security event; ``critical`` per the whitepaper's table (vendor types: false)."""
    SECURITY_EVENTS.add(1, {"type": kind, "critical": is_critical(kind), "source": source})

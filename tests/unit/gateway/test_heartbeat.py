"""Heartbeat (OCPP 1.6 4.6, 6.25): the answer carries the Central System's time; nothing is decided."""

from __future__ import annotations

from datetime import UTC, datetime

from services.gateway.context import LocalContext
from services.gateway.routes import ROUTES
from shared.ocpp.v16.messages import HeartbeatRequest, HeartbeatResponse


def test_heartbeat_answers_the_current_time_and_decides_nothing() -> None:
    now = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    reply, events = ROUTES["Heartbeat"].decide(None, HeartbeatRequest(), LocalContext(now=now))
    assert reply == HeartbeatResponse(current_time=now) and list(events) == []

"""Heartbeat (OCPP 1.6 4.6, 6.25): the answer carries the Central System's time; nothing is decided."""

from __future__ import annotations

from shared.ocpp.v16.messages import HeartbeatRequest, HeartbeatResponse
from tests.unit.stations.builders import NOW, call


def test_heartbeat_answers_the_current_time_and_decides_nothing() -> None:
    assert call("Heartbeat", HeartbeatRequest()) == (HeartbeatResponse(current_time=NOW), [])

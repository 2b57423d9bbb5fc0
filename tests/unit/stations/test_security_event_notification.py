"""SecurityEventNotification (security whitepaper chapter 5): the Central System answers with the empty .conf and
decides nothing (what the station reported stays in the frame log and its read models)."""

from __future__ import annotations

from shared.ocpp.v16.messages import SecurityEventNotificationRequest, SecurityEventNotificationResponse
from tests.unit.stations.builders import NOW, call


def test_security_event_notification_is_acknowledged_empty() -> None:
    request = SecurityEventNotificationRequest(
        type="TamperDetectionActivated", timestamp=NOW, tech_info="lid opened"
    )
    assert call("SecurityEventNotification", request) == (SecurityEventNotificationResponse(), [])

"""LogStatusNotification (security whitepaper chapter 5): the Central System answers with the empty .conf and
decides nothing (what the station reported stays in the frame log and its read models)."""

from __future__ import annotations

from shared.ocpp.v16.messages import LogStatusNotificationRequest, LogStatusNotificationResponse
from tests.unit.stations.builders import call


def test_log_status_notification_is_acknowledged_empty() -> None:
    request = LogStatusNotificationRequest(status="Uploaded", request_id=7)
    assert call("LogStatusNotification", request) == (LogStatusNotificationResponse(), [])

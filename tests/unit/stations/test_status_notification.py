"""StatusNotification (OCPP 1.6 4.9, 6.47): the .conf is empty; the connector status is projected
from the frame (services/stations/projection.py), not decided here."""

from __future__ import annotations

from shared.ocpp.v16.messages import StatusNotificationRequest, StatusNotificationResponse
from tests.unit.stations.builders import call


def test_status_notification_is_acknowledged_empty() -> None:
    request = StatusNotificationRequest(connector_id=1, error_code="NoError", status="Charging")
    assert call("StatusNotification", request) == (StatusNotificationResponse(), [])

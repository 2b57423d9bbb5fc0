"""DiagnosticsStatusNotification (OCPP 1.6 6.2.1, 6.19): acknowledged empty; the firmware service
follows the frame itself (services/firmware)."""

from __future__ import annotations

from shared.ocpp.v16.messages import (
    DiagnosticsStatusNotificationRequest,
    DiagnosticsStatusNotificationResponse,
)
from tests.unit.stations.builders import call


def test_diagnostics_status_notification_is_acknowledged_empty() -> None:
    request = DiagnosticsStatusNotificationRequest(status="Uploaded")
    assert call("DiagnosticsStatusNotification", request) == (DiagnosticsStatusNotificationResponse(), [])

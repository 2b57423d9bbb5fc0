"""FirmwareStatusNotification (OCPP 1.6 6.2.2, 6.25): acknowledged empty; the firmware service
follows the frame itself (services/firmware)."""

from __future__ import annotations

from shared.ocpp.v16.messages import FirmwareStatusNotificationRequest, FirmwareStatusNotificationResponse
from tests.unit.stations.builders import call


def test_firmware_status_notification_is_acknowledged_empty() -> None:
    request = FirmwareStatusNotificationRequest(status="Downloading")
    assert call("FirmwareStatusNotification", request) == (FirmwareStatusNotificationResponse(), [])

"""SignedFirmwareStatusNotification (security whitepaper chapter 5): the Central System answers with the empty .conf and
decides nothing (what the station reported stays in the frame log and its read models)."""

from __future__ import annotations

from shared.ocpp.v16.messages import (
    SignedFirmwareStatusNotificationRequest,
    SignedFirmwareStatusNotificationResponse,
)
from tests.unit.stations.builders import call


def test_signed_firmware_status_notification_is_acknowledged_empty() -> None:
    request = SignedFirmwareStatusNotificationRequest(status="SignatureVerified", request_id=3)
    assert call("SignedFirmwareStatusNotification", request) == (
        SignedFirmwareStatusNotificationResponse(),
        [],
    )

"""SignedFirmwareStatusNotification (security whitepaper 5.19, use case L01): acknowledged with the
empty .conf, as FirmwareStatusNotification is (OCPP 1.6 6.25)."""

from __future__ import annotations

from typing import Never

from services.stations.context import Context
from services.stations.state import State
from shared.decision import Decision
from shared.ocpp.v16.messages import (
    SignedFirmwareStatusNotificationRequest,
    SignedFirmwareStatusNotificationResponse,
)


def handle(
    state: State, request: SignedFirmwareStatusNotificationRequest, ctx: Context
) -> Decision[SignedFirmwareStatusNotificationResponse, Never]:
    return SignedFirmwareStatusNotificationResponse(), []

"""FirmwareStatusNotification: confirmed (the empty .conf); tracking comes with the firmware service."""

from __future__ import annotations

from typing import Never

from services.stations.context import Context
from services.stations.state import State
from shared.decision import Decision
from shared.ocpp.v16.messages import FirmwareStatusNotificationRequest, FirmwareStatusNotificationResponse


def handle(
    state: State, request: FirmwareStatusNotificationRequest, ctx: Context
) -> Decision[FirmwareStatusNotificationResponse, Never]:
    return FirmwareStatusNotificationResponse(), []

"""DiagnosticsStatusNotification: confirmed (the empty .conf); tracking comes with the firmware service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.ocpp.v16.messages import (
    DiagnosticsStatusNotificationRequest,
    DiagnosticsStatusNotificationResponse,
)

if TYPE_CHECKING:
    from services.stations.context import Context


def handle(
    request: DiagnosticsStatusNotificationRequest, ctx: Context
) -> DiagnosticsStatusNotificationResponse:
    return DiagnosticsStatusNotificationResponse()

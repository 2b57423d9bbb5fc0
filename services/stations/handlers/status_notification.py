"""StatusNotification: always confirmed; the content lives on in ``ocpp.frames`` (OCPP 1.6 4.9)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.ocpp.v16.messages import StatusNotificationRequest, StatusNotificationResponse

if TYPE_CHECKING:
    from services.stations.context import Context


def handle(request: StatusNotificationRequest, ctx: Context) -> StatusNotificationResponse:
    return StatusNotificationResponse()

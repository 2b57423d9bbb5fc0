"""BootNotification: accept, tell the station its heartbeat interval and the time (OCPP 1.6 4.2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.ocpp.v16.messages import BootNotificationRequest, BootNotificationResponse

if TYPE_CHECKING:
    from services.stations.routes import Context


def handle(request: BootNotificationRequest, ctx: Context) -> BootNotificationResponse:
    return BootNotificationResponse(status="Accepted", current_time=ctx.now, interval=ctx.heartbeat_interval)

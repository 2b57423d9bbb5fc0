"""Heartbeat: the station's clock synchronisation (OCPP 1.6 4.6)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.ocpp.v16.messages import HeartbeatRequest, HeartbeatResponse

if TYPE_CHECKING:
    from services.stations.context import Context


def handle(request: HeartbeatRequest, ctx: Context) -> HeartbeatResponse:
    return HeartbeatResponse(current_time=ctx.now)

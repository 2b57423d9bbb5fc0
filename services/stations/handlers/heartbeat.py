"""Heartbeat: the station's clock synchronisation (OCPP 1.6 4.6)."""

from __future__ import annotations

from typing import Never

from services.stations.context import Context
from services.stations.state import State
from shared.decision import Decision
from shared.ocpp.v16.messages import HeartbeatRequest, HeartbeatResponse


def handle(state: State, request: HeartbeatRequest, ctx: Context) -> Decision[HeartbeatResponse, Never]:
    return HeartbeatResponse(current_time=ctx.now), []

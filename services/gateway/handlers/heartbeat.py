"""Heartbeat: the station's clock synchronisation (OCPP 1.6 4.6, 6.25). The answer is the Central
System's time and nothing is decided, so the gateway answers it (ADR 0044)."""

from __future__ import annotations

from typing import Never

from services.gateway.context import LocalContext
from shared.decision import Decision
from shared.ocpp.v16.messages import HeartbeatRequest, HeartbeatResponse


def handle(state: None, request: HeartbeatRequest, ctx: LocalContext) -> Decision[HeartbeatResponse, Never]:
    return HeartbeatResponse(current_time=ctx.now), []

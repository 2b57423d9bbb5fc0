"""The station CALLs the gateway answers itself: those whose answer needs no state and decides no
event (ADR 0044). Their CALL and answer are still both logged, in one append, before the answer is
sent; the action table (shared/ocpp/v16/actions.py) names "gateway" as their owner."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Never

from services.gateway.context import LocalContext
from services.gateway.handlers import heartbeat
from shared.ocpp.v16.messages import HeartbeatRequest, HeartbeatResponse
from shared.routes import ActionRoute, route

ROUTES: Mapping[str, ActionRoute[None, LocalContext, Never]] = {
    "Heartbeat": route(HeartbeatRequest, HeartbeatResponse, heartbeat.handle),
}

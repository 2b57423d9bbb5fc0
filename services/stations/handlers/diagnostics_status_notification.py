"""DiagnosticsStatusNotification: confirmed (the empty .conf); tracking comes with the firmware service."""

from __future__ import annotations

from typing import Never

from services.stations.context import Context
from services.stations.state import State
from shared.decision import Decision
from shared.ocpp.v16.messages import (
    DiagnosticsStatusNotificationRequest,
    DiagnosticsStatusNotificationResponse,
)


def handle(
    state: State, request: DiagnosticsStatusNotificationRequest, ctx: Context
) -> Decision[DiagnosticsStatusNotificationResponse, Never]:
    return DiagnosticsStatusNotificationResponse(), []

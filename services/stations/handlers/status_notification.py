"""StatusNotification: always confirmed; the content lives on in ``ocpp.frames`` (OCPP 1.6 4.9)."""

from __future__ import annotations

from typing import Never

from services.stations.context import Context
from services.stations.state import State
from shared.decision import Decision
from shared.ocpp.v16.messages import StatusNotificationRequest, StatusNotificationResponse


def handle(
    state: State, request: StatusNotificationRequest, ctx: Context
) -> Decision[StatusNotificationResponse, Never]:
    return StatusNotificationResponse(), []

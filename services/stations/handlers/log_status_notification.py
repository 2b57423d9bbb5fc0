"""LogStatusNotification (security whitepaper 5.13, use case N01): acknowledged with the empty
.conf; the upload's progress stays in the frame log and the station's calls."""

from __future__ import annotations

from typing import Never

from services.stations.context import Context
from services.stations.state import State
from shared.decision import Decision
from shared.ocpp.v16.messages import LogStatusNotificationRequest, LogStatusNotificationResponse


def handle(
    state: State, request: LogStatusNotificationRequest, ctx: Context
) -> Decision[LogStatusNotificationResponse, Never]:
    return LogStatusNotificationResponse(), []

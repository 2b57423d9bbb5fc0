"""SecurityEventNotification (security whitepaper 5.15, use case A04): the Central System confirms
the receipt with the empty .conf (A04.FR.03). The event is stored per station, critical or not, by
the security-events read model (services/stations/security_projection.py), which follows the frame."""

from __future__ import annotations

from typing import Never

from services.stations.context import Context
from services.stations.state import State
from shared.decision import Decision
from shared.ocpp.v16.messages import SecurityEventNotificationRequest, SecurityEventNotificationResponse


def handle(
    state: State, request: SecurityEventNotificationRequest, ctx: Context
) -> Decision[SecurityEventNotificationResponse, Never]:
    return SecurityEventNotificationResponse(), []

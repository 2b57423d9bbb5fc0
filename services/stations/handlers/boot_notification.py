"""BootNotification (OCPP 1.6 4.2): the operator's registry decides Accepted, Pending or Rejected.

Accepted tells the station its heartbeat interval; Pending and Rejected tell it when to try again
(the boot retry interval). A station unknown to the registry is Accepted when auto-registration is
on (the stations service registers it on connect) and Rejected when it is off. The answer is also
the station's registration status: its presence carries it (the event), for whoever sends the
station CALLs; it is recorded before the answer goes out (shared/service.py ``apply_decision``), so
by the time the station reads its BootNotification.conf a command sender that reads presence to the
end sees it.
"""

from __future__ import annotations

from services.stations import presence
from services.stations.context import Context
from services.stations.state import State
from shared.decision import Decision
from shared.events.envelope import Presence
from shared.ocpp.v16.messages import BootNotificationRequest, BootNotificationResponse


def handle(
    state: State, request: BootNotificationRequest, ctx: Context
) -> Decision[BootNotificationResponse, Presence]:
    if ctx.registration is None:
        status = "Accepted" if ctx.auto_register else "Rejected"
    else:
        status = ctx.registration.boot_status
    if status == "Accepted":
        response = BootNotificationResponse(
            status="Accepted", current_time=ctx.now, interval=ctx.heartbeat_interval
        )
    else:
        response = BootNotificationResponse(
            status="Pending" if status == "Pending" else "Rejected",
            current_time=ctx.now,
            interval=ctx.boot_retry_interval,
        )
    booted = presence.booted(state.presence.get(ctx.station_id), ctx.epoch, response.status)
    return response, [booted] if booted is not None else []

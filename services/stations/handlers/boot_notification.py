"""BootNotification (OCPP 1.6 4.2): the operator's registry decides Accepted, Pending or Rejected.

Accepted tells the station its heartbeat interval; Pending and Rejected tell it when to try again
(the boot retry interval). A station unknown to the registry is Accepted when auto-registration is
on (the stations service registers it on connect) and Rejected when it is off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.ocpp.v16.messages import BootNotificationRequest, BootNotificationResponse

if TYPE_CHECKING:
    from services.stations.context import Context


def handle(request: BootNotificationRequest, ctx: Context) -> BootNotificationResponse:
    if ctx.registration is None:
        status = "Accepted" if ctx.auto_register else "Rejected"
    else:
        status = ctx.registration.boot_status
    if status == "Accepted":
        return BootNotificationResponse(
            status="Accepted", current_time=ctx.now, interval=ctx.heartbeat_interval
        )
    return BootNotificationResponse(
        status="Pending" if status == "Pending" else "Rejected",
        current_time=ctx.now,
        interval=ctx.boot_retry_interval,
    )

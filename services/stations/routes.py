"""The stations service's route table: which station CALLs it answers, and with which module.

One module per action under ``handlers/``; each exposes ``handle(request, ctx) -> response``, a pure
function of the request and the context (clock and settings injected through ``Context``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from services.stations.context import Context
from services.stations.handlers import (
    boot_notification,
    data_transfer,
    diagnostics_status_notification,
    firmware_status_notification,
    heartbeat,
    status_notification,
)

Handler = Callable[[Any, Context], msgspec.Struct]

ROUTES: Mapping[str, Handler] = {
    "BootNotification": boot_notification.handle,
    "Heartbeat": heartbeat.handle,
    "StatusNotification": status_notification.handle,
    "DataTransfer": data_transfer.handle,
    # Answered here until the firmware service owns them (issue 7): the .conf is empty either way.
    "FirmwareStatusNotification": firmware_status_notification.handle,
    "DiagnosticsStatusNotification": diagnostics_status_notification.handle,
}

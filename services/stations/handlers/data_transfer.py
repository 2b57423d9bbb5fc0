"""DataTransfer from a station (OCPP 1.6 4.3): one handler per vendor id, UnknownVendorId otherwise.

A vendor extension is a function ``(messageId, data, ctx) -> DataTransferResponse`` in ``VENDORS``.
The built-in ``org.openchargealliance.csms`` vendor answers ``ping`` (a liveness probe some
integrators use) and reports UnknownMessageId for anything else, as a vendor must.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Never

from msgspec import UNSET

from services.stations.context import Context
from services.stations.state import State
from shared.decision import Decision
from shared.ocpp.v16.messages import DataTransferRequest, DataTransferResponse

CSMS_VENDOR = "org.openchargealliance.csms"

VendorHandler = Callable[[str | None, str | None, Context], DataTransferResponse]


def _csms_vendor(message_id: str | None, data: str | None, ctx: Context) -> DataTransferResponse:
    if message_id == "ping":
        return DataTransferResponse(status="Accepted", data=data if data is not None else "pong")
    return DataTransferResponse(status="UnknownMessageId")


VENDORS: Mapping[str, VendorHandler] = {CSMS_VENDOR: _csms_vendor}


def handle(state: State, request: DataTransferRequest, ctx: Context) -> Decision[DataTransferResponse, Never]:
    vendor = VENDORS.get(request.vendor_id)
    if vendor is None:
        return DataTransferResponse(status="UnknownVendorId"), []
    message_id = request.message_id if request.message_id is not UNSET else None
    data = request.data if request.data is not UNSET else None
    return vendor(message_id, data, ctx), []

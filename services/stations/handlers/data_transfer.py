"""DataTransfer from a station: no vendor extension is registered, so UnknownVendorId (OCPP 1.6 4.3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.ocpp.v16.messages import DataTransferRequest, DataTransferResponse

if TYPE_CHECKING:
    from services.stations.routes import Context


def handle(request: DataTransferRequest, ctx: Context) -> DataTransferResponse:
    return DataTransferResponse(status="UnknownVendorId")

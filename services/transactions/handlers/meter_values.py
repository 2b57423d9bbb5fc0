"""MeterValues (OCPP 1.6 4.7): always an empty answer, whatever the transaction id.

The values themselves are durable in ``ocpp.frames`` and projected from there (every measurand,
phase, unit, context and location); nothing here needs deciding, so no domain event is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.transactions.events import TransactionEvent
from shared.ocpp.v16.messages import MeterValuesRequest, MeterValuesResponse

if TYPE_CHECKING:
    from services.transactions.context import Context


def handle(request: MeterValuesRequest, ctx: Context) -> tuple[MeterValuesResponse, list[TransactionEvent]]:
    return MeterValuesResponse(), []

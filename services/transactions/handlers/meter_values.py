"""MeterValues (OCPP 1.6 4.7): always an empty answer, whatever the transaction id.

The values themselves are durable in ``ocpp.frames`` and projected from there (every measurand,
phase, unit, context and location); nothing here needs deciding, so no domain event is written.
"""

from __future__ import annotations

from typing import Never

from services.transactions.context import Context
from services.transactions.state import State
from shared.decision import Decision
from shared.ocpp.v16.messages import MeterValuesRequest, MeterValuesResponse


def handle(state: State, request: MeterValuesRequest, ctx: Context) -> Decision[MeterValuesResponse, Never]:
    return MeterValuesResponse(), []

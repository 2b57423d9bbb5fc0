"""The transactions service's route table: the station CALLs it answers, one module per action.

Each handler is ``handle(request, ctx) -> (response, events)``: pure with respect to the request and
the context (state, id tags, clock and the frame's position injected through ``Context``). The
service applies the events to the state and appends them to ``transactions.events``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from services.transactions.context import Context
from services.transactions.events import TransactionEvent
from services.transactions.handlers import authorize, meter_values, start_transaction, stop_transaction

Handler = Callable[[Any, Context], tuple[msgspec.Struct, list[TransactionEvent]]]

ROUTES: Mapping[str, Handler] = {
    "Authorize": authorize.handle,
    "StartTransaction": start_transaction.handle,
    "StopTransaction": stop_transaction.handle,
    "MeterValues": meter_values.handle,
}

"""The transactions service's route table: the station CALLs it answers, one module per action.

Each handler is ``handle(request, ctx) -> (response, events)``: pure with respect to the request and
the context (state, id tags, clock and the frame's position injected through ``Context``). The
service applies the events to the state and appends them to ``transactions.events``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from services.transactions.events import TransactionEvent
from services.transactions.handlers import authorize, meter_values, start_transaction, stop_transaction
from services.transactions.state import State
from shared.events.idtags import IdTagRecord
from shared.reservations.state import State as Reservations


@dataclass(frozen=True)
class Context:
    now: datetime
    station_id: str
    # Position of the CALL in ocpp.frames: the partition picks the id stripe, the offset dedupes.
    partition: int
    offset: int
    state: State
    id_tag: Callable[[str], IdTagRecord | None]
    # Reservations as followed from reservations.events: a reserved connector is for its tag only.
    reservations: Reservations = field(default_factory=Reservations)


Handler = Callable[[Any, Context], tuple[msgspec.Struct, list[TransactionEvent]]]

ROUTES: Mapping[str, Handler] = {
    "Authorize": authorize.handle,
    "StartTransaction": start_transaction.handle,
    "StopTransaction": stop_transaction.handle,
    "MeterValues": meter_values.handle,
}

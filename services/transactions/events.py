"""Domain events of the transactions service, on ``transactions.events`` (key = station id).

The station's own data (meter values, transactionData) stays in ``ocpp.frames``, where it is already
durable; these events record what the service *decided*: which transaction id it allocated, for
which start, with which authorization verdict, and how a transaction ended. Versioned by ``v``.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from shared.events.families import TRANSACTIONS
from shared.events.versioned import VersionedDecoder


class TransactionStarted(msgspec.Struct, tag="started", tag_field="type", kw_only=True, omit_defaults=True):
    v: int = 1
    transaction_id: int
    # The ocpp.frames partition the id was allocated for (ids are striped by partition).
    partition: int
    station_id: str
    connector_id: int
    id_tag: str
    meter_start: int
    started_at: datetime
    reservation_id: int | None = None
    # The idTagInfo.status the station was told (a transaction exists even when it is not Accepted).
    id_tag_status: str
    parent_id_tag: str | None = None
    # Position of the StartTransaction frame in ocpp.frames (partition, offset): orders and dedupes.
    frame_offset: int


class TransactionStopped(msgspec.Struct, tag="stopped", tag_field="type", kw_only=True, omit_defaults=True):
    v: int = 1
    transaction_id: int
    partition: int
    station_id: str
    # False: the id was never allocated by us (0, -1, another system's, lost): data kept, not matched.
    known: bool
    meter_stop: int
    stopped_at: datetime
    id_tag: str | None = None
    reason: str | None = None
    # Set when meterStop < meterStart: the energy is not billed, an operator has to look.
    anomaly: str | None = None
    frame_offset: int


TransactionEvent = TransactionStarted | TransactionStopped
event_decoder: VersionedDecoder[TransactionEvent] = VersionedDecoder(TRANSACTIONS, TransactionEvent)

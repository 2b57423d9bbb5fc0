"""The transactions service's loop without Kafka, for its pure tests: one state, frame offsets per
partition, the event log; a fixed clock and id-tag registry. Each action's test module uses it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgspec
from msgspec import UNSET

from services.transactions.context import Context
from services.transactions.events import TransactionEvent, TransactionStarted, TransactionStopped
from services.transactions.routes import ROUTES
from services.transactions.state import State, evolve
from shared.events.idtags import IdTagRecord
from shared.ocpp.v16.messages import (
    AuthorizeRequest,
    AuthorizeResponse,
    StartTransactionRequest,
    StartTransactionResponse,
    StopTransactionRequest,
    StopTransactionResponse,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PARTITIONS = 4

TAGS: dict[str, IdTagRecord] = {
    "GOOD": IdTagRecord(id_tag="GOOD", status="Accepted"),
    "OTHER": IdTagRecord(id_tag="OTHER", status="Accepted"),
    "CHILD": IdTagRecord(
        id_tag="CHILD", status="Accepted", expiry_date=NOW + timedelta(days=30), parent_id_tag="PARENT"
    ),
    "OLD": IdTagRecord(id_tag="OLD", status="Accepted", expiry_date=NOW - timedelta(seconds=1)),
    "BLOCKED": IdTagRecord(id_tag="BLOCKED", status="Blocked"),
}


@dataclass
class System:
    """The service's loop without Kafka: one state, frame offsets per partition, the event log."""

    partitions: int = PARTITIONS
    tags: dict[str, IdTagRecord] = field(default_factory=lambda: dict(TAGS))
    state: State = field(init=False)
    offsets: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    log: list[TransactionEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = State(partitions=self.partitions)

    def call(
        self, action: str, request: msgspec.Struct, *, station: str = "CP1", partition: int = 0
    ) -> tuple[msgspec.Struct, list[TransactionEvent]]:
        offset = self.offsets[partition]
        self.offsets[partition] += 1
        ctx = Context(
            now=NOW,
            station_id=station,
            partition=partition,
            offset=offset,
            id_tag=self.tags.get,
        )
        response, decided = ROUTES[action].decide(self.state, request, ctx)
        events = list(decided)
        for event in events:
            evolve(self.state, event)
        self.log.extend(events)
        return response, events

    def start(
        self,
        id_tag: str = "GOOD",
        *,
        connector: int = 1,
        meter_start: int = 1000,
        timestamp: datetime = NOW,
        station: str = "CP1",
        partition: int = 0,
    ) -> tuple[StartTransactionResponse, list[TransactionEvent]]:
        request = StartTransactionRequest(
            connector_id=connector, id_tag=id_tag, meter_start=meter_start, timestamp=timestamp
        )
        response, events = self.call("StartTransaction", request, station=station, partition=partition)
        assert isinstance(response, StartTransactionResponse)
        return response, events

    def stop(
        self,
        transaction_id: int,
        *,
        meter_stop: int = 2000,
        id_tag: str | None = None,
        station: str = "CP1",
        partition: int = 0,
    ) -> tuple[StopTransactionResponse, list[TransactionEvent]]:
        request = StopTransactionRequest(
            meter_stop=meter_stop,
            timestamp=NOW + timedelta(hours=1),
            transaction_id=transaction_id,
            id_tag=id_tag if id_tag is not None else UNSET,
        )
        response, events = self.call("StopTransaction", request, station=station, partition=partition)
        assert isinstance(response, StopTransactionResponse)
        return response, events

    def authorize(self, id_tag: str, *, station: str = "CP1") -> AuthorizeResponse:
        response, events = self.call("Authorize", AuthorizeRequest(id_tag=id_tag), station=station)
        assert isinstance(response, AuthorizeResponse)
        assert events == []
        return response


def only_stopped(events: list[TransactionEvent]) -> TransactionStopped:
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, TransactionStopped)
    return event


def started(
    tx: int,
    *,
    partition: int = 0,
    offset: int,
    station: str = "CP1",
    connector: int = 1,
    id_tag: str = "GOOD",
) -> TransactionStarted:
    return TransactionStarted(
        transaction_id=tx,
        partition=partition,
        station_id=station,
        connector_id=connector,
        id_tag=id_tag,
        meter_start=0,
        started_at=NOW,
        id_tag_status="Accepted",
        frame_offset=offset,
    )

"""Transactions service: Authorize, StartTransaction, StopTransaction and MeterValues.

Decides from memory only (the OCPP path never waits for PostgreSQL): the id tags are a view of
``csms.idtags``, the transaction state is rebuilt by following ``transactions.events`` from the
beginning, and reservations (a reserved connector is for its tag) by following
``reservations.events``. Before it decides for a newly assigned ``ocpp.frames`` partition, it waits until the
follower has read that partition's events to the end, so a new owner continues the id stripe of
the previous one and never hands out an id twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from services.transactions.context import Context
from services.transactions.events import TransactionEvent, event_decoder
from services.transactions.routes import ROUTES
from services.transactions.state import State, evolve
from shared.clock import utc_now
from shared.config import Settings
from shared.events.envelope import encode
from shared.events.frames import station_request
from shared.events.idtags import IdTagRecord, id_tag_decoder
from shared.events.topics import Topics
from shared.reservations.events import SERVICE as RESERVATIONS
from shared.reservations.events import decode_event as decode_reservation_event
from shared.reservations.state import State as Reservations
from shared.reservations.state import evolve as evolve_reservations
from shared.service import Inbound, Output, answer
from shared.tables import CompactedView, LogFollower

log = logging.getLogger(__name__)

SERVICE = "transactions"


class TransactionsHandler:
    name = SERVICE

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock
        self._topics = Topics()
        self.state = State(partitions=Topics().frame_partitions)
        self._tags: CompactedView[IdTagRecord] | None = None
        self._follower: LogFollower | None = None
        self.reservations = Reservations()
        self._reservations: LogFollower | None = None

    async def start(self, topics: Topics, settings: Settings) -> None:
        self._topics = topics
        self.state = State(partitions=topics.frame_partitions)
        self._tags = CompactedView(settings.kafka_bootstrap, topics.id_tags, id_tag_decoder.decode)
        self._follower = LogFollower(settings.kafka_bootstrap, topics.domain(SERVICE), self._apply)
        self.reservations = Reservations()
        self._reservations = LogFollower(
            settings.kafka_bootstrap, topics.domain(RESERVATIONS), self._apply_reservation
        )
        await self._tags.start()
        await self._follower.start()
        await self._reservations.start()
        log.info(
            "transactions: %d id tags, %d events, %d active transactions rebuilt",
            len(self._tags),
            self._follower.applied,
            len(self.state.active),
        )

    async def on_assigned(self, partitions: set[int]) -> None:
        if self._follower is not None and partitions:
            await self._follower.wait_for_end(partitions)
        if self._reservations is not None and partitions:
            # reservations.events has the same key and partition count: the stations of these partitions.
            await self._reservations.wait_for_end(partitions)

    async def stop(self) -> None:
        if self._reservations is not None:
            await self._reservations.stop()
        if self._follower is not None:
            await self._follower.stop()
        if self._tags is not None:
            await self._tags.stop()

    def _apply(self, partition: int, key: bytes | None, value: bytes | None) -> None:
        if value is not None:
            evolve(self.state, event_decoder.decode(value))

    def _apply_reservation(self, partition: int, key: bytes | None, value: bytes | None) -> None:
        event = decode_reservation_event(value) if value is not None else None
        if event is not None:
            evolve_reservations(self.reservations, event)

    def id_tag(self, id_tag: str) -> IdTagRecord | None:
        return self._tags.get(id_tag) if self._tags is not None else None

    def handle(self, inbound: Inbound) -> list[Output]:
        call = station_request(inbound.record, ROUTES)
        if call is None:
            return []
        record, request = call
        assert record.action is not None
        ctx = Context(
            now=self._clock(),
            station_id=record.station_id,
            partition=inbound.partition,
            offset=inbound.offset,
            state=self.state,
            id_tag=self.id_tag,
            reservations=self.reservations,
        )
        response, events = ROUTES[record.action](request, ctx)
        outputs = [self._event(e) for e in events]
        outputs.append(answer(self._topics, record, response))
        return outputs

    def _event(self, event: TransactionEvent) -> Output:
        evolve(self.state, event)
        return Output(self._topics.domain(SERVICE), event.station_id.encode(), encode(event))

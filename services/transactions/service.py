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

from services.transactions.context import Context
from services.transactions.events import TransactionEvent, event_decoder
from services.transactions.routes import ROUTES
from services.transactions.state import State, evolve
from shared.clock import SYSTEM, Clock
from shared.config import Settings
from shared.events.envelope import FrameRecord, encode
from shared.events.idtags import IdTagRecord, id_tag_decoder
from shared.events.topics import Topics
from shared.reservations.events import SERVICE as RESERVATIONS
from shared.reservations.events import decode_event as decode_reservation_event
from shared.reservations.state import State as Reservations
from shared.reservations.state import evolve as evolve_reservations
from shared.service import Inbound, Output, apply_decision, decide_call
from shared.tables import CompactedView, LogFollower

log = logging.getLogger(__name__)

SERVICE = "transactions"


class TransactionsHandler:
    name = SERVICE

    def __init__(self, clock: Clock = SYSTEM) -> None:
        self._clock = clock.now
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

    def context(self, record: FrameRecord, inbound: Inbound) -> Context:
        """What a handler decides with besides state and request: now, the frame's position, views."""
        return Context(
            now=self._clock(),
            station_id=record.station_id,
            partition=inbound.partition,
            offset=inbound.offset,
            id_tag=self.id_tag,
            reservations=self.reservations,
        )

    def handle(self, inbound: Inbound) -> list[Output]:
        decided = decide_call(inbound, ROUTES, self.state, self.context)
        if decided is None:
            return []
        call, _, decision = decided
        return apply_decision(decision, self.state, evolve, self._record, topics=self._topics, call=call)

    def _record(self, event: TransactionEvent) -> Output:
        return Output(self._topics.domain(SERVICE), event.station_id.encode(), encode(event))

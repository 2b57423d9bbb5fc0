"""Reservations service: follows ReserveNow / CancelReservation and their answers, starts and
status notifications in ``ocpp.frames``, records the life cycle on ``reservations.events``, and
expires reservations itself at their expiryDate.

It answers no station CALL (the transactions service authorizes, the stations service answers
StatusNotification); it only decides what happened to reservations. The state is rebuilt by following
``reservations.events`` from the beginning, so a restart (or a replay) expires whatever ran out
while the process was down. Only the owner of a station's ``ocpp.frames`` partition expires its
reservations; should two owners overlap during a rebalance, the second ``ended`` is a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaProducer

from services.reservations.decide import Context, decide, sweep
from shared.clock import SYSTEM, Clock
from shared.config import Settings
from shared.events.envelope import FrameRecord, encode
from shared.events.idtags import IdTagRecord, id_tag_decoder
from shared.events.topics import Topics
from shared.kafka import make_producer
from shared.reservations.events import SERVICE, ReservationEvent, decode_event
from shared.reservations.state import State, evolve
from shared.service import Inbound, Output, apply_decision
from shared.tables import CompactedView, LogFollower

log = logging.getLogger(__name__)


class ReservationsHandler:
    name = SERVICE

    def __init__(
        self,
        clock: Clock = SYSTEM,
        *,
        sweep_interval: float = 0.25,
    ) -> None:
        self._clock = clock.now
        self._sweep_interval = sweep_interval
        self._topics = Topics()
        self.state = State()
        # The ocpp.frames partitions this process decides for; set by main.runners to the runner's.
        self.owned: Callable[[], set[int]] = set
        self._tags: CompactedView[IdTagRecord] | None = None
        self._follower: LogFollower | None = None
        self._producer: AIOKafkaProducer | None = None
        self._sweeper: asyncio.Task[None] | None = None
        # Expiries decided (applied in memory) and not yet acknowledged by Kafka, oldest first.
        self._unsent: list[Output] = []

    async def start(self, topics: Topics, settings: Settings) -> None:
        self._topics = topics
        self.state = State()
        self._tags = CompactedView(settings.kafka_bootstrap, topics.id_tags, id_tag_decoder.decode)
        self._follower = LogFollower(settings.kafka_bootstrap, topics.domain(SERVICE), self._apply)
        self._producer = make_producer(settings.kafka_bootstrap, client_id=f"{SERVICE}-expiry")
        await self._tags.start()
        await self._follower.start()
        await self._producer.start()
        self._sweeper = asyncio.create_task(self._sweep(), name="reservations-expiry")
        log.info(
            "reservations: %d events, %d reservations (%d open) rebuilt",
            self._follower.applied,
            len(self.state.reservations),
            sum(len(ids) for ids in self.state.open_by_station.values()),
        )

    async def on_assigned(self, partitions: set[int]) -> None:
        if self._follower is not None and partitions:
            await self._follower.wait_for_end(partitions)

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._producer is not None:
            await self._producer.stop()
        if self._follower is not None:
            await self._follower.stop()
        if self._tags is not None:
            await self._tags.stop()

    def _apply(self, partition: int, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            return
        event = decode_event(value)
        if event is not None:
            evolve(self.state, event)

    def id_tag(self, id_tag: str) -> IdTagRecord | None:
        return self._tags.get(id_tag) if self._tags is not None else None

    def handle(self, inbound: Inbound) -> list[Output]:
        if not isinstance(inbound.record, FrameRecord):
            return []
        decision = decide(self.state, inbound.record, Context(inbound.partition, self.id_tag))
        return apply_decision(decision, self.state, evolve, self._record)

    def _record(self, event: ReservationEvent) -> Output:
        return Output(self._topics.domain(SERVICE), event.station_id.encode(), encode(event))

    async def expire_due(self) -> int:
        """Append ``ended(expired)`` for every open reservation past its expiryDate that this process
        owns. Applied in memory at once, before any await: a StartTransaction decided meanwhile sees
        it expired, so memory and log never tell different ends. A failed append stays queued and is
        retried by the next sweep (the frame handler's outputs work the same way)."""
        assert self._producer is not None
        decision = sweep(self.state, self._clock(), self.owned())
        self._unsent += apply_decision(decision, self.state, evolve, self._record)
        sent = 0
        while self._unsent:
            out = self._unsent[0]
            await self._producer.send_and_wait(out.topic, out.value, key=out.key)
            self._unsent.pop(0)
            sent += 1
        return sent

    async def _sweep(self) -> None:
        while True:
            try:
                await self.expire_due()
            except Exception:  # the next sweep retries; an event applied twice is a no-op
                log.exception("reservations: expiry sweep failed")
            await asyncio.sleep(self._sweep_interval)

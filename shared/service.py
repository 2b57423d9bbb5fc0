"""The loop every domain service runs: consume ``ocpp.frames``, decide, make outputs durable, commit.

A service supplies a :class:`FrameHandler`: given a decoded record it returns the records to produce
(replies to gateways, domain events, derived state). Every handler decides in the one shape of
shared/decision.py: :func:`decide_call` routes a station CALL to its typed route, and
:func:`apply_decision` turns any decision into outputs (evolve and record each event, then reply).
The runtime produces them all with acks=all and only then commits the consumed offsets (at most one
commit a second, ADR 0043), so a crash re-delivers the input and decisions must be idempotent (they
are: decide functions are pure and keyed by the input). Replies carry the W3C trace context of the
frame they answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, cast

import msgspec
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import KafkaError
from opentelemetry import trace

from shared import telemetry
from shared.config import Settings
from shared.decision import Decision, Evolve
from shared.events import undecodable
from shared.events.commands import StationReply
from shared.events.envelope import FrameRecord, FramesRecord, decode_frame_record, encode
from shared.events.frames import station_request
from shared.events.topics import Topics, TopicSpec
from shared.events.versioned import UndecodableRecord
from shared.kafka import Wake, ensure_topics, make_consumer, make_producer
from shared.ocpp.v16 import codec
from shared.ocpp.v16.actions import STATION_CALL_OWNERS
from shared.routes import ActionRoute

log = logging.getLogger(__name__)

# How long acknowledged offsets may wait for their commit (ADR 0043). A crash redelivers at most
# this much, decided again idempotently; a revocation or a stop commits everything at once.
COMMIT_EVERY_S = 1.0


@dataclass(frozen=True)
class Output:
    """One record to produce; ``key`` decides the partition (always the station id for station data)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass(frozen=True)
class Inbound:
    """A record from ``ocpp.frames`` with its position: the position is the natural idempotency key."""

    record: FramesRecord
    partition: int
    offset: int
    headers: Sequence[tuple[str, bytes]]


class FrameHandler(Protocol):
    name: str

    async def start(self, topics: Topics, settings: Settings) -> None:
        """Rebuild in-memory state (from the service's own topics) before the first frame is handled."""

    def handle(self, inbound: Inbound) -> list[Output]:
        """Decide: pure with respect to the record and the handler's in-memory state."""

    async def stop(self) -> None: ...


# Services that only follow frames but whose decisions another decision reads at once: the
# transactions service checks a StartTransaction against the reservation the reservations
# service recorded from the station's ReserveNow answer a moment before (TC_046/TC_047).
_READ_AT_ONCE = frozenset({"reservations"})


def wake_for(service: str) -> Wake:
    """A service that answers station CALLs, or whose decisions another decision reads at once,
    decides at each frame; one that only follows frames reads them in batches (ADR 0041)."""
    prompt = service in STATION_CALL_OWNERS.values() or service in _READ_AT_ONCE
    return Wake.EACH if prompt else Wake.BATCH


class PartitionAware(Protocol):
    """Optional: a handler whose state is per ``ocpp.frames`` partition (e.g. id allocation)."""

    async def on_assigned(self, partitions: set[int]) -> None:
        """Called before the first record of newly assigned partitions is handled."""


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: FrameServiceRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # Settle (acks, then commit) what was decided before the partitions go to another member;
        # bounded, because a commit caught in this very rebalance would wait for it: a deadlock.
        # What is not committed in time is redelivered to the new owner, which decides idempotently.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._runner.settled()), 5)
        self._runner.assigned -= {tp.partition for tp in revoked}
        for tp in revoked:  # no longer this member's to commit
            self._runner.forget(tp)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        partitions = {tp.partition for tp in assigned}
        handler = self._runner.handler
        if hasattr(handler, "on_assigned"):
            await cast(PartitionAware, handler).on_assigned(partitions)
        self._runner.assigned |= partitions


class FrameServiceRunner:
    """Runs one FrameHandler as a consumer group member on ``ocpp.frames``."""

    def __init__(
        self,
        handler: FrameHandler,
        settings: Settings,
        *,
        extra_topics: Sequence[TopicSpec] = (),
    ) -> None:
        self.handler = handler
        self.settings = settings
        self.topics = Topics(settings.topic_prefix, settings.frame_partitions)
        self._extra_topics = list(extra_topics)
        # Acks and commit of the previous batch, overlapping with deciding the next one.
        self._settling: asyncio.Task[None] | None = None
        # Offsets whose outputs are acknowledged but not yet committed, and who commits them when.
        self._acked: dict[TopicPartition, int] = {}
        self._committer: asyncio.Task[None] | None = None
        self._commit_now = asyncio.Event()
        self._committing = asyncio.Lock()
        self._last_commit = 0.0
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._tracer = telemetry.tracer(f"csms.{handler.name}")
        self._stopping = asyncio.Event()
        # The ocpp.frames partitions this member decides for right now (after its state is ready).
        self.assigned: set[int] = set()

    async def run(self) -> None:
        await ensure_topics(
            self.settings.kafka_bootstrap,
            [*self.topics.shared_specs(), *self._extra_topics],
            self.settings.replication_factor,
        )
        await self.handler.start(self.topics, self.settings)
        self._producer = make_producer(self.settings.kafka_bootstrap, client_id=self.handler.name)
        self._consumer = make_consumer(
            self.settings.kafka_bootstrap,
            client_id=self.handler.name,
            group_id=self.topics.group(self.handler.name),
            wake=wake_for(self.handler.name),
        )
        self._consumer.subscribe([self.topics.frames], listener=_Rebalance(self))
        await self._producer.start()
        await self._consumer.start()
        log.info("%s consuming %s", self.handler.name, self.topics.frames)
        try:
            while not self._stopping.is_set():
                batches = await self._consumer.getmany(timeout_ms=1000)
                if batches:
                    await self._process(batches)
            await self.settled()
        finally:
            if self._committer is not None:
                self._committer.cancel()
            with contextlib.suppress(Exception):
                await self._consumer.stop()
            with contextlib.suppress(Exception):
                await self._producer.stop()
            await self.handler.stop()

    def stop(self) -> None:
        self._stopping.set()

    def forget(self, tp: TopicPartition) -> None:
        """Drop a revoked partition's uncommitted offset: its new owner decides those records again."""
        self._acked.pop(tp, None)

    async def _process(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Decide a batch and hand its outputs to the producer; settle it in the background.

        The next batch is decided while this one's outputs are acknowledged (the producer is
        idempotent and keeps their order); offsets are committed strictly in batch order and only
        after the batch's outputs are durable, so a crash re-delivers, never loses.
        """
        assert self._producer is not None
        previous = self._settling
        if previous is not None and previous.done() and previous.exception() is not None:
            # Outputs were not made durable: stop; a restart re-delivers from the committed offsets.
            raise RuntimeError(f"{self.handler.name}: outputs not acknowledged") from previous.exception()
        futures = []
        for records in batches.values():
            for msg in records:
                for out in self._handle_one(msg):
                    futures.append(
                        await self._producer.send(out.topic, out.value, key=out.key, headers=out.headers)
                    )
        offsets = {tp: records[-1].offset + 1 for tp, records in batches.items() if records}
        self._settling = asyncio.create_task(self._settle(self._settling, futures, offsets))

    async def _settle(
        self,
        previous: asyncio.Task[None] | None,
        futures: list[asyncio.Future[object]],
        offsets: dict[TopicPartition, int],
    ) -> None:
        if previous is not None:
            await previous
        if futures:
            await asyncio.gather(*futures)
        self._acked.update(offsets)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_soon())

    async def _commit_soon(self) -> None:
        """Commit what is acknowledged, at most once per COMMIT_EVERY_S (ADR 0043): a consumer woken
        per record would otherwise pay a commit (and the broker an offsets write) per record."""
        while self._acked:  # what was acknowledged during a commit waits for the next one
            delay = self._last_commit + COMMIT_EVERY_S - time.monotonic()
            if delay > 0 and not self._commit_now.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._commit_now.wait()
            await self._commit()

    async def _commit(self) -> None:
        assert self._consumer is not None
        async with self._committing:
            committing = dict(self._acked)
            if not committing:
                return
            self._last_commit = time.monotonic()
            try:
                await self._consumer.commit(committing)
            except KafkaError as exc:  # e.g. revoked meanwhile: the new owner re-decides, idempotently
                log.warning("%s: commit failed (%s); the records will be redelivered", self.handler.name, exc)
                return
            for tp, offset in committing.items():
                if self._acked.get(tp) == offset:
                    del self._acked[tp]

    async def settled(self) -> None:
        """Wait until everything decided so far is acknowledged and committed."""
        if self._settling is not None:
            await self._settling
        committer = self._committer
        if committer is not None and not committer.done():
            self._commit_now.set()
            try:
                await asyncio.shield(committer)
            finally:
                self._commit_now.clear()
        else:
            await self._commit()

    def _handle_one(self, msg: ConsumerRecord) -> list[Output]:
        try:
            record = decode_frame_record(msg.value)
        except UndecodableRecord as exc:
            undecodable.report(msg.topic, msg.partition, msg.offset, exc)
            return []
        if record is None:
            return []
        inbound = Inbound(record, msg.partition, msg.offset, msg.headers or ())
        parent = telemetry.extract_headers(msg.headers)
        action = getattr(record, "action", None) or type(record).__name__
        with telemetry.span(
            self._tracer, f"decide {action}", context=parent, kind=trace.SpanKind.CONSUMER
        ) as span:
            span.set_attribute("ocpp.station_id", record.station_id)
            try:
                outputs = self.handler.handle(inbound)
            except Exception:
                log.exception("%s failed on %s/%s", self.handler.name, msg.partition, msg.offset)
                return []
            headers = telemetry.inject_headers()
        return [Output(o.topic, o.key, o.value, o.headers or headers) for o in outputs]


def answer(topics: Topics, record: FrameRecord, response: msgspec.Struct) -> Output:
    """The CALLRESULT for a station CALL, addressed to the connection (gateway, epoch) it came on."""
    assert record.action is not None and record.unique_id is not None
    reply = StationReply(
        station_id=record.station_id,
        epoch=record.epoch,
        unique_id=record.unique_id,
        action=record.action,
        payload=msgspec.Raw(codec.encode(response)),
    )
    return Output(topics.gateway_inbox(record.gateway_id), record.station_id.encode(), encode(reply))


S = TypeVar("S")
D = TypeVar("D")
E = TypeVar("E")


def decide_call(
    inbound: Inbound,
    routes: Mapping[str, ActionRoute[S, D, E]],
    state: S,
    deps: Callable[[FrameRecord, Inbound], D],
) -> tuple[FrameRecord, msgspec.Struct, Decision[msgspec.Struct, E]] | None:
    """The decision of the route for ``inbound`` when it is a valid station CALL of ``routes``, with
    the CALL it answers and its request (decoded once, here); None for any other record. ``deps`` builds what the handler reads besides
    state and request (now, the frame's position, views), so the decision itself stays pure."""
    call = station_request(inbound.record, routes)
    if call is None:
        return None
    frame, request = call
    assert frame.action is not None
    return frame, request, routes[frame.action].decide(state, request, deps(frame, inbound))


def apply_decision(
    decision: Decision[msgspec.Struct | None, E],
    state: S,
    evolve: Evolve[S, E],
    record: Callable[[E], Output],
    *,
    topics: Topics | None = None,
    call: FrameRecord | None = None,
) -> list[Output]:
    """The outputs of one decision, in the one order of every service: each event is applied to
    ``state`` and recorded (``record`` names its topic and key), then the reply to ``call``.

    Evolving at once, before the outputs are durable, lets the next record see this decision (the
    runner never loses them: a crash before the acks redelivers the input, decided again the same).
    """
    reply, events = decision
    outputs = []
    for event in events:
        evolve(state, event)
        outputs.append(record(event))
    if reply is not None:
        assert topics is not None and call is not None, "a reply goes to the connection of its CALL"
        outputs.append(answer(topics, call, reply))
    return outputs


class Runner(Protocol):
    """Anything a service process runs until stopped (an OCPP handler loop, a projection)."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...


async def run_until(runners: Sequence[Runner], stop: asyncio.Event) -> None:
    """Run ``runners`` until ``stop`` is set (or one of them fails), then stop them all."""
    tasks = [asyncio.create_task(r.run()) for r in runners]
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    for r in runners:
        r.stop()
    stopper.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            raise result

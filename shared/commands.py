"""Send a CALL to a station through its gateway and await the outcome: what the operator API uses.

The client keeps ``ocpp.presence`` in memory to know which gateway holds the station's newest
connection, sends a :class:`SendCall` to that gateway's inbox naming the epoch it saw and a deadline,
and awaits the :class:`CommandOutcome` on its own replies topic. A command is sent once; the gateway
never delivers it to another connection, and never after the deadline.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.clock import SYSTEM, Clock
from shared.config import Settings
from shared.events import undecodable
from shared.events.commands import CommandOutcome, OutcomeStatus, SendCall, outcome_decoder
from shared.events.envelope import Presence, encode, presence_decoder
from shared.events.topics import Topics
from shared.events.versioned import UndecodableRecord
from shared.kafka import ensure_topics, make_consumer, make_producer, stop_reader
from shared.ocpp.v16.registration import command_refusal
from shared.tables import CompactedView

log = logging.getLogger(__name__)


class NotConnected(Exception):
    """The station has no live connection (as far as presence knows)."""


# A station that disconnected this recently is probably reconnecting: a command waits for the new
# connection (within its deadline) instead of failing at once.
RECONNECT_GRACE_MS = 5_000


class CommandClient:
    def __init__(self, settings: Settings, clock: Clock = SYSTEM) -> None:
        self._now_ms = clock.now_ms
        self._monotonic = clock.monotonic
        self.settings = settings
        self.topics = Topics(settings.topic_prefix, settings.frame_partitions)
        self.replies_topic = self.topics.replies(settings.instance_id)
        self.presence: CompactedView[Presence] = CompactedView(
            settings.kafka_bootstrap, self.topics.presence, presence_decoder.decode
        )
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._waiting: dict[str, asyncio.Future[CommandOutcome]] = {}
        self._task: asyncio.Task[None] | None = None
        # Commands waiting for a reconnecting station's new connection, woken by any presence change.
        self._presence_changes: dict[str, set[asyncio.Event]] = {}
        self.presence.on_change(self._presence_changed)

    async def start(self) -> None:
        s = self.settings
        await ensure_topics(
            s.kafka_bootstrap,
            [*self.topics.shared_specs(), self.topics.ephemeral_spec(self.replies_topic)],
            s.replication_factor,
        )
        self._producer = make_producer(s.kafka_bootstrap, client_id=f"commands-{s.instance_id}")
        await self._producer.start()
        await self.presence.start()
        # Outcomes from now on: with no group, "latest" puts the first fetch at the end (a seek
        # after it would wait behind that fetch, parked at the broker).
        self._consumer = make_consumer(s.kafka_bootstrap, auto_offset_reset="latest")
        await self._consumer.start()
        tp = TopicPartition(self.replies_topic, 0)
        self._consumer.assign([tp])
        await self._consumer.position(tp)
        self._task = asyncio.create_task(self._read_outcomes(), name="command-outcomes")

    async def stop(self) -> None:
        await stop_reader(self._task, self._consumer)
        await self.presence.stop()
        if self._producer is not None:
            await self._producer.stop()

    def where(self, station_id: str) -> Presence | None:
        """The station's live connection, or None when it is not connected."""
        presence = self.presence.get(station_id)
        return presence if presence is not None and presence.connected else None

    async def call(
        self, station_id: str, action: str, payload: bytes, *, timeout: float | None = None
    ) -> CommandOutcome:
        """Send to the station's newest connection and wait; raises NotConnected, returns TIMEOUT
        when nothing came back in time and NOT_ALLOWED when section 4.2 forbids the CALL.

        A command the gateway dropped unsent because its connection was replaced in the meantime
        goes to the newer connection, as long as the deadline allows."""
        assert self._producer is not None
        timeout = self.settings.command_timeout if timeout is None else timeout
        deadline = self._monotonic() + timeout
        tried_epoch = -1
        while True:
            presence = await self._newest(station_id, tried_epoch, deadline)
            if presence is None:
                raise NotConnected(station_id)
            refused = command_refusal(presence.boot_status, action)
            if refused is not None:
                return CommandOutcome(
                    command_id=uuid.uuid4().hex,
                    station_id=station_id,
                    status=OutcomeStatus.NOT_ALLOWED,
                    error_code=refused[0],
                    error_description=refused[1],
                )
            outcome = await self._send(presence, action, payload, deadline)
            if outcome.status is OutcomeStatus.UNDELIVERABLE and outcome.never_sent:
                tried_epoch = presence.epoch
                if self._monotonic() < deadline:
                    continue
            return outcome

    async def _newest(self, station_id: str, after_epoch: int, deadline: float) -> Presence | None:
        """The station's connection newer than ``after_epoch``, read to the end of ``ocpp.presence``
        (so a boot answered or a connection opened a moment ago counts); while it is reconnecting
        (a command was dropped for a replaced connection, or it disconnected a moment ago), wait for
        the new connection until ``deadline``. None: not connected."""
        await self.presence.wait_for_end(timeout=max(0.1, min(10.0, deadline - self._monotonic())))
        while True:
            presence = self.presence.get(station_id)
            if presence is not None and presence.connected and presence.epoch > after_epoch:
                return presence
            reconnecting = after_epoch >= 0 or (
                presence is not None and self._now_ms() - presence.since_ms < RECONNECT_GRACE_MS
            )
            remaining = deadline - self._monotonic()
            if not reconnecting or remaining <= 0:
                return None
            changed = asyncio.Event()
            waiters = self._presence_changes.setdefault(station_id, set())
            waiters.add(changed)
            try:
                async with asyncio.timeout(min(remaining, RECONNECT_GRACE_MS / 1000)):
                    await changed.wait()
            except TimeoutError:
                return None
            finally:
                waiters.discard(changed)
                if not waiters:
                    self._presence_changes.pop(station_id, None)

    def _presence_changed(self, station_id: str, _value: Presence | None) -> None:
        for changed in self._presence_changes.get(station_id, ()):
            changed.set()

    async def _send(self, presence: Presence, action: str, payload: bytes, deadline: float) -> CommandOutcome:
        """One SendCall to the gateway holding ``presence``'s connection, and its outcome."""
        assert self._producer is not None
        station_id = presence.station_id
        timeout = max(0.0, deadline - self._monotonic())
        command_id = uuid.uuid4().hex
        future: asyncio.Future[CommandOutcome] = asyncio.get_running_loop().create_future()
        self._waiting[command_id] = future
        command = SendCall(
            command_id=command_id,
            station_id=station_id,
            epoch=presence.epoch,
            action=action,
            payload=msgspec.Raw(payload),
            reply_to=self.replies_topic,
            deadline_ms=self._now_ms() + int(timeout * 1000),
        )
        try:
            await self._producer.send_and_wait(
                self.topics.gateway_inbox(presence.gateway_id), encode(command), key=station_id.encode()
            )
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that arrives
            # together with the answer; shield: a timeout must not cancel the shared future.
            async with asyncio.timeout(timeout):
                return await asyncio.shield(future)
        except TimeoutError:
            return CommandOutcome(
                command_id=command_id,
                station_id=station_id,
                status=OutcomeStatus.TIMEOUT,
                error_description=f"no answer within {timeout:g}s",
            )
        finally:
            self._waiting.pop(command_id, None)

    async def _read_outcomes(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for msg in records:
                    try:
                        outcome = outcome_decoder.decode(msg.value)
                    except UndecodableRecord as exc:
                        undecodable.report(msg.topic, msg.partition, msg.offset, exc)
                        continue
                    future = self._waiting.get(outcome.command_id)
                    if future is not None and not future.done():
                        future.set_result(outcome)

"""Send a CALL to a station through its gateway and await the outcome: what the operator API uses.

The client keeps ``ocpp.presence`` in memory to know which gateway holds the station's newest
connection, sends a :class:`SendCall` to that gateway's inbox naming the epoch it saw and a deadline,
and awaits the :class:`CommandOutcome` on its own replies topic. A command is sent once; the gateway
never delivers it to another connection, and never after the deadline.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.config import Settings
from shared.events.commands import CommandOutcome, OutcomeStatus, SendCall, outcome_decoder
from shared.events.envelope import Presence, encode, presence_decoder
from shared.events.topics import Topics
from shared.kafka import connection, ensure_topics, make_producer, stop_reader
from shared.tables import CompactedView

log = logging.getLogger(__name__)


class NotConnected(Exception):
    """The station has no live connection (as far as presence knows)."""


class CommandClient:
    def __init__(self, settings: Settings) -> None:
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
        self._consumer = AIOKafkaConsumer(
            **connection(),
            bootstrap_servers=s.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=5,
        )
        await self._consumer.start()
        tp = TopicPartition(self.replies_topic, 0)
        self._consumer.assign([tp])
        await self._consumer.seek_to_end(tp)
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
        """Send and wait; raises NotConnected, returns TIMEOUT when nothing came back in time."""
        assert self._producer is not None
        presence = self.where(station_id)
        if presence is None:
            # It may have connected a moment ago: read presence to the end of the log before saying no.
            await self.presence.wait_for_end(timeout=10)
            presence = self.where(station_id)
        if presence is None:
            raise NotConnected(station_id)
        timeout = self.settings.command_timeout if timeout is None else timeout
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
            deadline_ms=int(time.time() * 1000 + timeout * 1000),
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
                    except msgspec.ValidationError:
                        log.exception("undecodable command outcome")
                        continue
                    future = self._waiting.get(outcome.command_id)
                    if future is not None and not future.done():
                        future.set_result(outcome)

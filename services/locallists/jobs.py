"""Background pushes to many stations, durable: requested, progressed and finished in the log.

The operator API appends :class:`PushRequested` to ``locallists.events`` (key = push id) and
answers 202; the holder of the ``locallists-pusher`` lease (any locallists replica) runs the push,
appending :class:`StationPushed` per station and :class:`PushFinished` at the end; the
``local_list_pushes`` read model shows the progress to every API replica. A holder that stops
leaves the rest to the next one, which skips the stations already recorded (pushing a station
twice is harmless: the second is UpToDate).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import asyncpg
import msgspec
from aiokafka import ConsumerRecord

from services.locallists.definitions import LocalListDefinition, definition_decoder
from services.locallists.plan import UpdateType
from services.locallists.pusher import LocalListPusher
from shared.clock import now_ms
from shared.commands import CommandClient
from shared.config import Settings
from shared.events.envelope import StationRegistration, encode, registration_decoder
from shared.events.idtags import IdTagRecord, id_tag_decoder
from shared.events.topics import Topics
from shared.events.versioned import Family, VersionedDecoder
from shared.kafka import ensure_topics, make_producer
from shared.lease import Lease
from shared.projection.base import TableProjection
from shared.projection.columns import ms_to_datetime
from shared.projection.pool import DbTarget, connect_pool
from shared.tables import CompactedView, LogFollower

log = logging.getLogger(__name__)

SERVICE = "locallists"
CONCURRENCY = 8  # stations pushed at once


class PushRequested(msgspec.Struct, tag="push_requested", tag_field="type", kw_only=True):
    v: int = 1
    push_id: str
    station_ids: list[str]
    force: Literal["Full"] | None = None
    at_ms: int


class StationPushed(msgspec.Struct, tag="station_pushed", tag_field="type", kw_only=True):
    v: int = 1
    push_id: str
    station_id: str
    # What the pusher reports for the station (status, updateType, listVersion, detail, ...).
    result: dict[str, Any]
    at_ms: int


class PushFinished(msgspec.Struct, tag="push_finished", tag_field="type", kw_only=True):
    v: int = 1
    push_id: str
    at_ms: int


PushEvent = PushRequested | StationPushed | PushFinished
PUSHES = Family("locallists.events")
push_decoder: VersionedDecoder[PushEvent] = VersionedDecoder(PUSHES, PushEvent)


@dataclass
class Push:
    push_id: str
    station_ids: list[str]
    force: UpdateType | None
    done: set[str] = field(default_factory=set)
    finished: bool = False


def evolve(pushes: dict[str, Push], event: PushEvent) -> None:
    if isinstance(event, PushRequested):
        pushes.setdefault(event.push_id, Push(event.push_id, event.station_ids, event.force))
        return
    push = pushes.get(event.push_id)
    if push is None:
        return
    if isinstance(event, StationPushed):
        push.done.add(event.station_id)
    else:
        push.finished = True


SUCCEEDED = ("Accepted", "UpToDate")  # the station holds the list (UpToDate: nothing had to be sent)


def succeeded(result: dict[str, Any]) -> bool:
    return result.get("status") in SUCCEEDED


class PushRunner:
    """A Runner: follows the pushes; while it holds the lease, runs the unfinished ones."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix, settings.frame_partitions)
        self.topic = self.topics.domain(SERVICE)
        self.pushes: dict[str, Push] = {}
        self.lease = Lease(settings, "locallists-pusher")
        self._follower = LogFollower(settings.kafka_bootstrap, self.topic, self._apply)
        # Its own replies topic: the API of the same host uses instance_id already.
        self._commands = CommandClient(
            dataclasses.replace(settings, instance_id=f"{settings.instance_id}-locallists")
        )
        self._views: list[CompactedView[Any]] = []
        self._producer = make_producer(
            settings.kafka_bootstrap, client_id=f"locallists-{settings.instance_id}"
        )
        self._pool: asyncpg.Pool | None = None
        self._stopping = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}

    def _apply(self, partition: int, key: bytes | None, value: bytes | None) -> None:
        if value is not None:
            evolve(self.pushes, push_decoder.decode(value))

    async def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            self._pool = await connect_pool(DbTarget(self.settings.database_url, self.settings.db_schema))
        return self._pool

    async def run(self) -> None:
        s = self.settings
        await ensure_topics(
            s.kafka_bootstrap,
            [*self.topics.shared_specs(), self.topics.domain_spec(SERVICE), self.topics.local_lists_spec()],
            s.replication_factor,
        )
        definitions: CompactedView[LocalListDefinition] = CompactedView(
            s.kafka_bootstrap, self.topics.local_lists, definition_decoder.decode
        )
        id_tags: CompactedView[IdTagRecord] = CompactedView(
            s.kafka_bootstrap, self.topics.id_tags, id_tag_decoder.decode
        )
        registry: CompactedView[StationRegistration] = CompactedView(
            s.kafka_bootstrap, self.topics.stations, registration_decoder.decode
        )
        self._views = [definitions, id_tags, registry]
        for view in self._views:
            await view.start()
        pusher = LocalListPusher(self._commands, definitions, id_tags, registry, self.pool)
        await self._commands.start()
        await self._producer.start()
        await self._follower.start()
        await self.lease.start()
        caught_up = False  # with what a previous holder recorded, since this process took the lease
        try:
            while not self._stopping.is_set():
                async with self.lease.held:
                    if self.lease.holding:
                        if not caught_up:
                            await self._follower.wait_for_end(timeout=10)
                            caught_up = True
                        for push in self.pushes.values():
                            if not push.finished and push.push_id not in self._running:
                                self._start(pusher, push)
                    else:
                        caught_up = False
                        self._cancel_all()  # the next holder continues them
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 0.2)
        finally:
            self._cancel_all()
            await self.lease.stop()
            await self._follower.stop()
            await self._producer.stop()
            await self._commands.stop()
            for view in self._views:
                await view.stop()
            if self._pool is not None:
                await self._pool.close()

    def stop(self) -> None:
        self._stopping.set()

    def _start(self, pusher: LocalListPusher, push: Push) -> None:
        task = asyncio.create_task(self._run(pusher, push), name=f"push:{push.push_id}")
        self._running[push.push_id] = task
        task.add_done_callback(lambda _: self._running.pop(push.push_id, None))

    def _cancel_all(self) -> None:
        for task in list(self._running.values()):
            task.cancel()

    async def _emit(self, event: PushEvent) -> None:
        evolve(self.pushes, event)
        await self._producer.send_and_wait(self.topic, encode(event), key=event.push_id.encode())

    async def _run(self, pusher: LocalListPusher, push: Push) -> None:
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(station_id: str) -> None:
            async with limit:
                try:
                    result = await pusher.push(station_id, push.force)
                except Exception as exc:  # one station's failure must not end the push
                    log.exception("local list push to %s failed", station_id)
                    result = {"stationId": station_id, "status": "Error", "detail": str(exc)}
                await self._emit(
                    StationPushed(push_id=push.push_id, station_id=station_id, result=result, at_ms=now_ms())
                )

        await asyncio.gather(*(one(s) for s in push.station_ids if s not in push.done))
        await self._emit(PushFinished(push_id=push.push_id, at_ms=now_ms()))


DDL = [
    """CREATE TABLE IF NOT EXISTS local_list_pushes (
        push_id text PRIMARY KEY,
        total int NOT NULL,
        force text,
        requested_at timestamptz NOT NULL,
        finished_at timestamptz
    )""",
    """CREATE TABLE IF NOT EXISTS local_list_push_results (
        push_id text NOT NULL,
        station_id text NOT NULL,
        status text NOT NULL,
        result jsonb NOT NULL,
        at timestamptz NOT NULL,
        PRIMARY KEY (push_id, station_id)
    )""",
]


class LocalListPushesProjection(TableProjection):
    """Each background push and every station's result, for any API replica to show."""

    name = "local_list_pushes"
    statements = DDL
    table_names = ["local_list_push_results", "local_list_pushes"]

    def topics(self) -> Sequence[str]:
        return [self._topics.domain(SERVICE)]

    async def apply(self, conn: asyncpg.Connection, batch: Sequence[ConsumerRecord]) -> None:
        for msg in batch:
            event = push_decoder.decode_known(msg.value)
            if event is None:  # a newer record type this version does not know
                continue
            at = ms_to_datetime(event.at_ms)
            if isinstance(event, PushRequested):
                await conn.execute(
                    """INSERT INTO local_list_pushes (push_id, total, force, requested_at)
                       VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING""",
                    event.push_id,
                    len(event.station_ids),
                    event.force,
                    at,
                )
            elif isinstance(event, StationPushed):
                await conn.execute(
                    """INSERT INTO local_list_push_results (push_id, station_id, status, result, at)
                       VALUES ($1, $2, $3, $4::jsonb, $5)
                       ON CONFLICT (push_id, station_id) DO UPDATE SET status = $3, result = $4::jsonb, at = $5""",
                    event.push_id,
                    event.station_id,
                    str(event.result.get("status")),
                    msgspec.json.encode(event.result).decode(),
                    at,
                )
            else:
                await conn.execute(
                    "UPDATE local_list_pushes SET finished_at = $2 WHERE push_id = $1 AND finished_at IS NULL",
                    event.push_id,
                    at,
                )

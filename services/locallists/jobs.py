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
from typing import Any

import asyncpg

from services.locallists.definitions import LocalListDefinition, definition_decoder
from services.locallists.events import SERVICE, PushEvent, push_decoder
from services.locallists.pusher import LocalListPusher
from services.locallists.pushes import (
    Push,
    StationResult,
    evolve,
    failed,
    finished,
    remaining,
    station_pushed,
)
from shared.clock import SYSTEM, Clock
from shared.commands import CommandClient
from shared.config import Settings
from shared.events.envelope import StationRegistration, encode, registration_decoder
from shared.events.idtags import IdTagRecord, id_tag_decoder
from shared.events.topics import Topics
from shared.kafka import ensure_topics, make_producer
from shared.lease import Lease
from shared.projection.pool import DbTarget, LazyPool
from shared.tables import CompactedView, LogFollower

log = logging.getLogger(__name__)

CONCURRENCY = 8  # stations pushed at once


class PushRunner:
    """A Runner: follows the pushes; while it holds the lease, runs the unfinished ones."""

    def __init__(self, settings: Settings, clock: Clock = SYSTEM) -> None:
        self.settings = settings
        self._now_ms = clock.now_ms
        self.topics = Topics(settings.topic_prefix, settings.frame_partitions)
        self.topic = self.topics.domain(SERVICE)
        self.pushes: dict[str, Push] = {}
        self.lease = Lease(settings, "locallists-pusher")
        self._follower = LogFollower(settings.kafka_bootstrap, self.topic, self._apply)
        # Its own replies topic: the API of the same host uses instance_id already.
        self._commands = CommandClient(
            dataclasses.replace(settings, instance_id=f"{settings.instance_id}-locallists"), clock
        )
        self._views: list[CompactedView[Any]] = []
        self._producer = make_producer(
            settings.kafka_bootstrap, client_id=f"locallists-{settings.instance_id}"
        )
        self._pool = LazyPool(DbTarget(settings.database_url, settings.db_schema))
        self._stopping = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}

    def _apply(self, partition: int, key: bytes | None, value: bytes | None) -> None:
        if value is not None:
            evolve(self.pushes, push_decoder.decode(value))

    async def pool(self) -> asyncpg.Pool:
        return await self._pool.get()

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

    async def _record(self, events: Sequence[PushEvent]) -> None:
        for event in events:
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
                    result = failed(station_id, exc)
                message = StationResult(push.push_id, station_id, result)
                _, events = station_pushed(self.pushes, message, self._now_ms())
                await self._record(events)

        await asyncio.gather(*(one(s) for s in remaining(push)))
        _, events = finished(self.pushes, push.push_id, self._now_ms())
        await self._record(events)

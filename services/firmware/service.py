"""The firmware service: its state, its life cycle, and the adapters it runs over them.

- State: rebuilt by following ``firmware.events`` (operator intents from the API, its own events);
  decided on by ``decide`` (pure), changed by ``state.evolve`` only.
- ``driver.py``: the campaign driver, run by the holder of the ``firmware-driver`` lease.
- ``http_files.py`` / ``ftp_files.py``: the file servers for stations (every replica serves).
- ``frames.py``: the frame follower (``ocpp.frames``, shared by the replicas' consumer group).

This module implements :class:`~services.firmware.context.FirmwarePort` for them: the state, the
storage, the clock, and ``record`` (evolve, then make the events durable).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Coroutine
from typing import Any

from aiokafka import AIOKafkaProducer

from services.firmware.driver import CampaignDriver
from services.firmware.events import FirmwareEvent, encode_event, event_decoder, key_of
from services.firmware.ftp_files import FtpFiles
from services.firmware.http_files import HttpFileServer
from services.firmware.locations import Locations
from services.firmware.state import Campaign, Diagnostics, State, evolve
from services.firmware.storage import LocalStorage
from shared.clock import SYSTEM, Clock
from shared.commands import CommandClient
from shared.config import Settings
from shared.decision import Decision
from shared.events.topics import Topics
from shared.kafka import ensure_topics, make_producer
from shared.lease import Lease
from shared.service import Output, apply_decision
from shared.tables import LogFollower

log = logging.getLogger(__name__)

SERVICE = "firmware"


class FirmwareService:
    name = SERVICE

    def __init__(self, settings: Settings, clock: Clock = SYSTEM) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix, settings.frame_partitions)
        self.topic = self.topics.domain(SERVICE)
        self.clock = clock.now_ms
        self.state = State()
        self.storage = LocalStorage(settings.files_dir)
        self.ready = asyncio.Event()
        # Its own replies topic: the API instance of the same host has instance_id already.
        self.commands = CommandClient(
            dataclasses.replace(settings, instance_id=f"{settings.instance_id}-firmware")
        )
        self._follower = LogFollower(settings.kafka_bootstrap, self.topic, self._apply)
        # Only the holder drives campaigns and sends; every replica follows and serves files.
        self.lease = Lease(settings, "firmware-driver")
        self.driver = CampaignDriver(self, self.commands, self.lease)
        self.http = HttpFileServer(self)
        self.ftp: FtpFiles | None = FtpFiles(self) if settings.files_ftp_port >= 0 else None
        self._producer: AIOKafkaProducer | None = None
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.startup_error: BaseException | None = None

    # -- life cycle ---------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self._start()
        except BaseException as exc:
            self.startup_error = exc  # the frame handler waits on ``ready``: tell it, do not hang it
            self.ready.set()
            await self._close()
            raise
        self.ready.set()
        try:
            await self.driver.drive(self._stopping)
        finally:
            await self._close()

    async def _start(self) -> None:
        s = self.settings
        await ensure_topics(
            s.kafka_bootstrap,
            [*self.topics.shared_specs(), self.topics.domain_spec(SERVICE)],
            s.replication_factor,
        )
        self._producer = make_producer(s.kafka_bootstrap, client_id=f"firmware-{s.instance_id}")
        await self._producer.start()
        await self.commands.start()
        await self._follower.start()
        await self.lease.start()
        await self.http.start()
        if self.ftp is not None:
            self.ftp.start()
        log.info(
            "firmware: %d campaigns, %d diagnostics requests rebuilt; files on %s :%d, ftp :%s",
            len(self.state.campaigns),
            len(self.state.diagnostics),
            self.locations().http_scheme,
            self.http.bound_port,
            self.ftp.bound_port if self.ftp else "off",
        )

    async def _close(self) -> None:
        """Stop whatever was started (also after a failed start)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.ftp is not None:
            await self.ftp.stop()
        await self.http.stop()
        for step in (
            self.lease.stop,
            self._follower.stop,
            self.commands.stop,
            *([self._producer.stop] if self._producer else []),
        ):
            with contextlib.suppress(Exception):
                await step()

    def stop(self) -> None:
        self._stopping.set()

    def _apply(self, partition: int, key: bytes | None, value: bytes | None) -> None:
        if value is not None:
            evolve(self.state, event_decoder.decode(value))

    # -- the port (context.FirmwarePort) --------------------------------------------------------------

    def locations(self) -> Locations:
        ftp_port = self.ftp.bound_port if self.ftp is not None else self.settings.files_ftp_port
        return Locations.of(self.settings, self.http.bound_port, ftp_port)

    async def follower_caught_up(self) -> None:
        await self._follower.wait_for_end(timeout=10)

    def outputs(self, decision: Decision[None, FirmwareEvent]) -> list[Output]:
        """Evolve with the events now (decisions that follow see them) and address them to the topic."""
        return apply_decision(decision, self.state, evolve, self._output)

    def _output(self, event: FirmwareEvent) -> Output:
        return Output(self.topic, key_of(event), encode_event(event))

    async def record(self, decision: Decision[None, FirmwareEvent]) -> None:
        assert self._producer is not None
        futures = [await self._producer.send(o.topic, o.value, key=o.key) for o in self.outputs(decision)]
        await asyncio.gather(*futures)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- for tests and logs: where a station is sent ------------------------------------------------

    def firmware_location(self, campaign: Campaign) -> str:
        return self.locations().firmware(campaign, self.state.images[campaign.image_id])

    def diagnostics_location(self, diag: Diagnostics) -> str:
        return self.locations().diagnostics(diag)

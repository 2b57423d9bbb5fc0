"""Stations service: answers the station CALLs it owns and derives presence.

State (presence per station) is rebuilt at start from ``ocpp.presence``, the service's own output,
before the first frame is handled; the consumer group's committed offset on ``ocpp.frames`` is never
ahead of that topic because outputs are acknowledged before offsets are committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from services.stations import presence
from services.stations.context import Context
from services.stations.routes import ROUTES
from shared.clock import utc_now
from shared.config import Settings
from shared.events.envelope import (
    ConnectionClosed,
    ConnectionOpened,
    Presence,
    StationRegistration,
    encode,
    presence_decoder,
    registration_decoder,
)
from shared.events.frames import station_request
from shared.events.topics import Topics
from shared.ocpp.v16.messages import BootNotificationResponse
from shared.service import Inbound, Output, answer
from shared.tables import CompactedView

log = logging.getLogger(__name__)


class StationsHandler:
    name = "stations"

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock
        self._presence: dict[str, Presence] = {}
        self._topics = Topics()
        self._settings = Settings()
        self._registry: CompactedView[StationRegistration] | None = None
        # Registered by us but maybe not yet read back by the registry view: never register twice.
        self._auto_registered: set[str] = set()

    async def start(self, topics: Topics, settings: Settings) -> None:
        self._topics, self._settings = topics, settings
        view: CompactedView[Presence] = CompactedView(
            settings.kafka_bootstrap, topics.presence, presence_decoder.decode
        )
        await view.start()
        self._presence = dict(view.items())
        await view.stop()
        self._registry = CompactedView(settings.kafka_bootstrap, topics.stations, registration_decoder.decode)
        await self._registry.start()
        log.info(
            "stations: %d presence entries, %d registrations rebuilt",
            len(self._presence),
            len(self._registry),
        )

    async def stop(self) -> None:
        if self._registry is not None:
            await self._registry.stop()

    def registration(self, station_id: str) -> StationRegistration | None:
        return self._registry.get(station_id) if self._registry is not None else None

    def handle(self, inbound: Inbound) -> list[Output]:
        record = inbound.record
        if isinstance(record, ConnectionOpened | ConnectionClosed):
            return self._on_connection(record, inbound.offset)
        call = station_request(record, ROUTES)
        if call is not None:
            frame, request = call
            assert frame.action is not None
            s = self._settings
            ctx = Context(
                now=self._clock(),
                heartbeat_interval=s.heartbeat_interval,
                boot_retry_interval=s.boot_retry_interval,
                registration=self.registration(frame.station_id),
                auto_register=s.auto_register,
            )
            response = ROUTES[frame.action](request, ctx)
            # The registration status goes out before the answer: by the time the station reads its
            # BootNotification.conf, a command sender that reads presence to the end sees it.
            booted = (
                self._booted(frame.station_id, frame.epoch, response.status)
                if isinstance(response, BootNotificationResponse)
                else []
            )
            return [*booted, answer(self._topics, frame, response)]
        return []

    def _auto_register(self, event: ConnectionOpened) -> list[Output]:
        """An unknown station got in while auto-registration is on: register it (once)."""
        station_id = event.station_id
        if not self._settings.auto_register or station_id in self._auto_registered:
            return []
        if self.registration(station_id) is not None:
            return []
        self._auto_registered.add(station_id)
        registration = StationRegistration(station_id=station_id, auto=True, at_ms=event.at_ms)
        return [Output(self._topics.stations, station_id.encode(), encode(registration))]

    def _booted(self, station_id: str, epoch: int, status: str) -> list[Output]:
        """Presence carries the registration status, for whoever sends the station CALLs (4.2)."""
        new = presence.booted(self._presence.get(station_id), epoch, status)
        if new is None:
            return []
        self._presence[station_id] = new
        return [Output(self._topics.presence, station_id.encode(), encode(new))]

    def _on_connection(self, event: ConnectionOpened | ConnectionClosed, offset: int) -> list[Output]:
        outputs = self._auto_register(event) if isinstance(event, ConnectionOpened) else []
        new = presence.evolve(self._presence.get(event.station_id), event, offset)
        if new is None:
            return outputs
        self._presence[event.station_id] = new
        return [*outputs, Output(self._topics.presence, event.station_id.encode(), encode(new))]

"""Stations service: answers the station CALLs it owns and derives presence.

State (presence per station) is rebuilt at start from ``ocpp.presence``, the service's own output,
before the first frame is handled; the consumer group's committed offset on ``ocpp.frames`` is never
ahead of that topic because outputs are acknowledged before offsets are committed.
"""

from __future__ import annotations

import logging

from services.stations import connections
from services.stations.context import Context
from services.stations.routes import ROUTES
from services.stations.state import State, StationEvent, evolve
from shared import metrics
from shared.clock import SYSTEM, Clock
from shared.config import Settings
from shared.events.envelope import (
    ConnectionClosed,
    ConnectionOpened,
    FrameRecord,
    Presence,
    StationRegistration,
    encode,
    presence_decoder,
    registration_decoder,
)
from shared.events.topics import Topics
from shared.ocpp.v16.messages import SecurityEventNotificationRequest
from shared.service import Inbound, Output, apply_decision, decide_call
from shared.tables import CompactedView

log = logging.getLogger(__name__)


class StationsHandler:
    name = "stations"

    def __init__(self, clock: Clock = SYSTEM) -> None:
        self._clock = clock.now
        self.state = State()
        self._topics = Topics()
        self._settings = Settings()
        self._registry: CompactedView[StationRegistration] | None = None

    async def start(self, topics: Topics, settings: Settings) -> None:
        self._topics, self._settings = topics, settings
        view: CompactedView[Presence] = CompactedView(
            settings.kafka_bootstrap, topics.presence, presence_decoder.decode
        )
        await view.start()
        self.state = State(presence=dict(view.items()))
        await view.stop()
        self._registry = CompactedView(settings.kafka_bootstrap, topics.stations, registration_decoder.decode)
        await self._registry.start()
        log.info(
            "stations: %d presence entries, %d registrations rebuilt",
            len(self.state.presence),
            len(self._registry),
        )

    async def stop(self) -> None:
        if self._registry is not None:
            await self._registry.stop()

    def registration(self, station_id: str) -> StationRegistration | None:
        return self._registry.get(station_id) if self._registry is not None else None

    def context(self, record: FrameRecord, inbound: Inbound) -> Context:
        """What a handler decides with besides state and request: now, settings, the connection."""
        s = self._settings
        return Context(
            now=self._clock(),
            station_id=record.station_id,
            epoch=record.epoch,
            heartbeat_interval=s.heartbeat_interval,
            boot_retry_interval=s.boot_retry_interval,
            registration=self.registration(record.station_id),
            auto_register=s.auto_register,
        )

    def handle(self, inbound: Inbound) -> list[Output]:
        record = inbound.record
        if isinstance(record, ConnectionOpened | ConnectionClosed):
            deps = connections.Connection(
                offset=inbound.offset,
                auto_register=self._settings.auto_register,
                registration=self.registration(record.station_id),
            )
            return apply_decision(
                connections.decide(self.state, record, deps), self.state, evolve, self._record
            )
        decided = decide_call(inbound, ROUTES, self.state, self.context)
        if decided is None:
            return []
        call, request, decision = decided
        if isinstance(request, SecurityEventNotificationRequest):  # the metric of what stations report
            metrics.security_event(request.type, "station")
        return apply_decision(decision, self.state, evolve, self._record, topics=self._topics, call=call)

    def _record(self, event: StationEvent) -> Output:
        """Presence goes to ``ocpp.presence``, an auto-registration to ``csms.stations`` (key: station)."""
        topic = self._topics.presence if isinstance(event, Presence) else self._topics.stations
        return Output(topic, event.station_id.encode(), encode(event))

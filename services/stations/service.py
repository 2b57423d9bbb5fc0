"""Stations service: answers the station CALLs it owns and derives presence.

State (presence per station) is rebuilt at start from ``ocpp.presence``, the service's own output,
before the first frame is handled; the consumer group's committed offset on ``ocpp.frames`` is never
ahead of that topic because outputs are acknowledged before offsets are committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec

from services.stations import presence
from services.stations.routes import ROUTES, Context
from shared.config import Settings
from shared.events.commands import StationReply
from shared.events.envelope import (
    ConnectionClosed,
    ConnectionOpened,
    Direction,
    FrameRecord,
    Presence,
    encode,
    presence_decoder,
)
from shared.events.topics import Topics
from shared.ocpp.errors import OcppError
from shared.ocpp.frames import Call, parse_frame
from shared.ocpp.v16 import codec
from shared.service import Inbound, Output
from shared.tables import CompactedView

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


class StationsHandler:
    name = "stations"

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock
        self._presence: dict[str, Presence] = {}
        self._topics = Topics()
        self._settings = Settings()

    async def start(self, topics: Topics, settings: Settings) -> None:
        self._topics, self._settings = topics, settings
        view: CompactedView[Presence] = CompactedView(
            settings.kafka_bootstrap, topics.presence, presence_decoder.decode
        )
        await view.start()
        self._presence = dict(view.items())
        await view.stop()
        log.info("stations: %d presence entries rebuilt", len(self._presence))

    async def stop(self) -> None:
        return None

    def handle(self, inbound: Inbound) -> list[Output]:
        record = inbound.record
        if isinstance(record, ConnectionOpened | ConnectionClosed):
            return self._on_connection(record, inbound.offset)
        if (
            isinstance(record, FrameRecord)
            and record.direction is Direction.IN
            and record.message_type == 2
            and record.error_code is None
            and record.action in ROUTES
        ):
            return self._answer(record)
        return []

    def _on_connection(self, event: ConnectionOpened | ConnectionClosed, offset: int) -> list[Output]:
        new = presence.evolve(self._presence.get(event.station_id), event, offset)
        if new is None:
            return []
        self._presence[event.station_id] = new
        return [Output(self._topics.presence, event.station_id.encode(), encode(new))]

    def _answer(self, record: FrameRecord) -> list[Output]:
        assert record.action is not None and record.unique_id is not None
        frame = parse_frame(record.raw)
        assert isinstance(frame, Call)
        try:
            request = codec.decode_request(record.action, bytes(frame.payload))
        except OcppError:
            return []  # the gateway already answered the CALLERROR
        ctx = Context(now=self._clock(), heartbeat_interval=self._settings.heartbeat_interval)
        response = ROUTES[record.action](request, ctx)
        reply = StationReply(
            station_id=record.station_id,
            epoch=record.epoch,
            unique_id=record.unique_id,
            action=record.action,
            payload=msgspec.Raw(codec.encode(response)),
        )
        return [
            Output(self._topics.gateway_inbox(record.gateway_id), record.station_id.encode(), encode(reply))
        ]

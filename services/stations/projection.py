"""The stations read model: registration, presence, last seen, boot details, connector status.

Pure function of ``csms.stations`` and ``ocpp.frames``; rebuilt by replay. Connector status follows
the station's own timestamps: a late or out-of-order StatusNotification (offline backlog) never
overwrites a newer state.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import asyncpg
import msgspec
from aiokafka import ConsumerRecord

from shared.events.envelope import (
    ConnectionClosed,
    ConnectionOpened,
    Direction,
    FrameRecord,
    decode_frame_record,
    registration_decoder,
)
from shared.events.frames import frame_of
from shared.ocpp.errors import OcppError
from shared.ocpp.frames import Call, CallResult
from shared.ocpp.v16 import codec
from shared.ocpp.v16.messages import StatusNotificationRequest
from shared.projection.base import TableProjection
from shared.projection.columns import ms_to_datetime, opt

log = logging.getLogger(__name__)

DDL = [
    """CREATE TABLE IF NOT EXISTS stations (
        station_id text PRIMARY KEY,
        registered boolean NOT NULL DEFAULT false,
        site text,
        connected boolean NOT NULL DEFAULT false,
        gateway_id text,
        epoch bigint,
        connected_since timestamptz,
        last_seen timestamptz,
        boot jsonb,
        boot_status text,
        boot_at timestamptz
    )""",
    """CREATE TABLE IF NOT EXISTS connectors (
        station_id text NOT NULL,
        connector_id int NOT NULL,
        status text NOT NULL,
        error_code text NOT NULL,
        info text,
        vendor_id text,
        vendor_error_code text,
        status_at timestamptz NOT NULL,
        PRIMARY KEY (station_id, connector_id)
    )""",
    # The list filters of GET /api/v1/stations (ADR 0016), each walked in station id order.
    "CREATE INDEX IF NOT EXISTS stations_site ON stations (site, station_id)",
    "CREATE INDEX IF NOT EXISTS stations_boot_status ON stations (boot_status, station_id)",
    "CREATE INDEX IF NOT EXISTS stations_vendor ON stations ((boot ->> 'chargePointVendor'), station_id)",
    "CREATE INDEX IF NOT EXISTS stations_model ON stations ((boot ->> 'chargePointModel'), station_id)",
    "CREATE INDEX IF NOT EXISTS stations_firmware ON stations ((boot ->> 'firmwareVersion'), station_id)",
    "CREATE INDEX IF NOT EXISTS connectors_status ON connectors (status, station_id)",
]


class StationsProjection(TableProjection):
    name = "stations"
    statements = DDL
    table_names = ["connectors", "stations"]

    def topics(self) -> Sequence[str]:
        return [self._topics.stations, self._topics.frames]

    async def apply(self, conn: asyncpg.Connection, batch: Sequence[ConsumerRecord]) -> None:
        """Connection changes in log order; the per-frame facts reduced per batch, written in bulk.

        Reductions keep per-record semantics: last seen is a maximum, boot details and boot status
        are last-wins, a connector's status is the newest by the station's timestamp (ties: later).
        """
        batch_state = _Batch()
        for msg in batch:
            if msg.topic == self._topics.stations:
                await self._registration(conn, msg)
                continue
            record = decode_frame_record(msg.value)
            if isinstance(record, ConnectionOpened):
                await conn.execute(
                    """INSERT INTO stations (station_id, connected, gateway_id, epoch, connected_since, last_seen)
                       VALUES ($1, true, $2, $3, $4, $4)
                       ON CONFLICT (station_id) DO UPDATE SET connected = true, gateway_id = $2, epoch = $3,
                         connected_since = $4, last_seen = greatest(stations.last_seen, $4)
                       WHERE stations.epoch IS NULL OR stations.epoch < $3""",
                    record.station_id,
                    record.gateway_id,
                    msg.offset,
                    ms_to_datetime(record.at_ms),
                )
            elif isinstance(record, ConnectionClosed):
                await conn.execute(
                    "UPDATE stations SET connected = false WHERE station_id = $1 AND epoch = $2",
                    record.station_id,
                    record.epoch,
                )
            elif isinstance(record, FrameRecord):
                batch_state.add(record)
        await batch_state.write(conn)

    async def _registration(self, conn: asyncpg.Connection, msg: ConsumerRecord) -> None:
        station_id = msg.key.decode()
        if msg.value is None:
            await conn.execute("UPDATE stations SET registered = false WHERE station_id = $1", station_id)
            return
        reg = registration_decoder.decode(msg.value)
        await conn.execute(
            """INSERT INTO stations (station_id, registered, site) VALUES ($1, true, $2)
               ON CONFLICT (station_id) DO UPDATE SET registered = true, site = $2""",
            station_id,
            reg.site,
        )


class _Batch:
    """What a batch of frames says about stations, reduced to one row per station / connector."""

    def __init__(self) -> None:
        self.last_seen: dict[str, datetime] = {}
        self.boots: dict[str, tuple[str, datetime]] = {}
        self.boot_status: dict[str, str] = {}
        self.connectors: dict[tuple[str, int], tuple[object, ...]] = {}

    def add(self, record: FrameRecord) -> None:
        at = ms_to_datetime(record.at_ms)
        station = record.station_id
        if record.direction is Direction.IN:
            seen = self.last_seen.get(station)
            if seen is None or at > seen:
                self.last_seen[station] = at
        if record.error_code is not None or record.action not in ("BootNotification", "StatusNotification"):
            return
        frame = frame_of(record)
        if frame is None:
            return
        if record.direction is Direction.IN and isinstance(frame, Call):
            if record.action == "BootNotification":
                self.boots[station] = (bytes(frame.payload).decode(), at)
            else:
                self._status(station, frame, at)
        elif (
            record.direction is Direction.OUT
            and isinstance(frame, CallResult)
            and record.action == "BootNotification"
        ):
            status = msgspec.json.decode(bytes(frame.payload)).get("status")
            if isinstance(status, str):
                self.boot_status[station] = status

    def _status(self, station: str, frame: Call, at: datetime) -> None:
        try:
            status: StatusNotificationRequest = codec.decode_request(
                "StatusNotification", bytes(frame.payload)
            )
        except OcppError:
            return
        stamp = status.timestamp if isinstance(status.timestamp, datetime) else at
        key = (station, status.connector_id)
        current = self.connectors.get(key)
        if current is None or stamp >= current[-1]:  # type: ignore[operator]
            self.connectors[key] = (
                station,
                status.connector_id,
                status.status,
                status.error_code,
                opt(status.info),
                opt(status.vendor_id),
                opt(status.vendor_error_code),
                stamp,
            )

    async def write(self, conn: asyncpg.Connection) -> None:
        if self.last_seen:
            await conn.executemany(
                """INSERT INTO stations (station_id, last_seen) VALUES ($1, $2)
                   ON CONFLICT (station_id) DO UPDATE SET last_seen = greatest(stations.last_seen, $2)""",
                sorted(self.last_seen.items()),
            )
        if self.boots:
            await conn.executemany(
                """INSERT INTO stations (station_id, boot, boot_at) VALUES ($1, $2::jsonb, $3)
                   ON CONFLICT (station_id) DO UPDATE SET boot = $2::jsonb, boot_at = $3""",
                [(station, boot, at) for station, (boot, at) in sorted(self.boots.items())],
            )
        if self.boot_status:
            await conn.executemany(
                "UPDATE stations SET boot_status = $2 WHERE station_id = $1", sorted(self.boot_status.items())
            )
        if self.connectors:
            await conn.executemany(
                """INSERT INTO connectors AS c (station_id, connector_id, status, error_code, info, vendor_id,
                                                vendor_error_code, status_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                   ON CONFLICT (station_id, connector_id) DO UPDATE SET status = $3, error_code = $4, info = $5,
                     vendor_id = $6, vendor_error_code = $7, status_at = $8
                   WHERE c.status_at <= EXCLUDED.status_at""",
                [self.connectors[k] for k in sorted(self.connectors)],
            )

"""Read model of a station's security events: what the station reported (SecurityEventNotification,
security whitepaper 5.15 and section 8; ``source`` "station") and what the Central System refused
it for (the gateway's ``security`` records, A00.FR.408: an invalid certificate, a lower profile;
``source`` "csms"). One row each, flagged critical per the whitepaper's table
(shared/ocpp/v16/security_events.py), so operators see the critical ones first. Built from
``ocpp.frames``: a pure function of the log, rebuilt by replay.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from aiokafka import ConsumerRecord

from shared.events.envelope import SecurityEvent, decode_frame_record
from shared.events.frames import station_request
from shared.ocpp.v16.messages import SecurityEventNotificationRequest
from shared.ocpp.v16.security_events import is_critical
from shared.projection.base import TableProjection
from shared.projection.columns import ms_to_datetime, opt

DDL = [
    """CREATE TABLE IF NOT EXISTS station_security_events (
        station_id text NOT NULL,
        connection_id text NOT NULL,
        unique_id text NOT NULL,
        source text NOT NULL,
        type text NOT NULL,
        critical boolean NOT NULL,
        occurred_at timestamptz NOT NULL,
        tech_info text,
        received_at timestamptz NOT NULL,
        PRIMARY KEY (station_id, connection_id, unique_id)
    )""",
    # GET /api/v1/security-events pages newest first by (received_at, station_id, ...) (ADR 0016).
    """CREATE INDEX IF NOT EXISTS station_security_events_recent
        ON station_security_events (received_at, station_id, connection_id, unique_id)""",
]

INSERT = """INSERT INTO station_security_events (station_id, connection_id, unique_id, source, type,
                critical, occurred_at, tech_info, received_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING"""


class SecurityEventsProjection(TableProjection):
    name = "station_security_events"
    statements = DDL
    table_names = ["station_security_events"]

    async def apply(self, conn: asyncpg.Connection, batch: Sequence[ConsumerRecord]) -> None:
        rows: list[tuple[object, ...]] = []
        for msg in batch:
            decoded = decode_frame_record(msg.value)
            if isinstance(decoded, SecurityEvent):
                at = ms_to_datetime(decoded.at_ms)
                # No connection, no message id: the record's place in the log names it.
                place = f"{msg.partition}:{msg.offset}"
                rows.append(
                    (
                        decoded.station_id,
                        "",
                        place,
                        "csms",
                        decoded.kind,
                        is_critical(decoded.kind),
                        at,
                        decoded.reason,
                        at,
                    )
                )
                continue
            found = station_request(decoded, {"SecurityEventNotification"})
            if found is None:
                continue
            record, request = found
            assert isinstance(request, SecurityEventNotificationRequest)
            rows.append(
                (
                    record.station_id,
                    record.connection_id,
                    record.unique_id,
                    "station",
                    request.type,
                    is_critical(request.type),
                    request.timestamp,
                    opt(request.tech_info),
                    ms_to_datetime(record.at_ms),
                )
            )
        if rows:
            await conn.executemany(INSERT, rows)

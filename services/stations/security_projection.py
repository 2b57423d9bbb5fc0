"""Read model of the security events stations report (SecurityEventNotification, security
whitepaper 5.15 and section 8): one row per notification, per station, flagged critical per the
whitepaper's table (shared/ocpp/v16/security_events.py), so operators see the critical ones first.
Built from the station CALLs in ``ocpp.frames``: a pure function of the log, rebuilt by replay.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from aiokafka import ConsumerRecord

from shared.events.envelope import decode_frame_record
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

INSERT = """INSERT INTO station_security_events (station_id, connection_id, unique_id, type, critical,
                occurred_at, tech_info, received_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING"""


class SecurityEventsProjection(TableProjection):
    name = "station_security_events"
    statements = DDL
    table_names = ["station_security_events"]

    async def apply(self, conn: asyncpg.Connection, batch: Sequence[ConsumerRecord]) -> None:
        rows = []
        for msg in batch:
            found = station_request(decode_frame_record(msg.value), {"SecurityEventNotification"})
            if found is None:
                continue
            record, request = found
            assert isinstance(request, SecurityEventNotificationRequest)
            rows.append(
                (
                    record.station_id,
                    record.connection_id,
                    record.unique_id,
                    request.type,
                    is_critical(request.type),
                    request.timestamp,
                    opt(request.tech_info),
                    ms_to_datetime(record.at_ms),
                )
            )
        if rows:
            await conn.executemany(INSERT, rows)

"""Read model of what the central system asked stations, what they answered, and what follows from it.

Every outbound CALL in ``ocpp.frames`` becomes a row of ``station_calls``; the station's CALLRESULT
or CALLERROR (same connection epoch, same unique id) completes it. Answers that change what we know
of a station are applied: GetConfiguration fills the configuration snapshot, an accepted
ChangeConfiguration updates one key, an accepted or scheduled ChangeAvailability sets a connector's
availability. Pure function of the log, so replay rebuilds it exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from aiokafka import ConsumerRecord

from shared.events.envelope import Direction, FrameRecord, decode_frame_record
from shared.events.frames import frame_of
from shared.ocpp.frames import Call, CallError, CallResult
from shared.ocpp.v16.write_only import stored_value
from shared.projection.base import TableProjection
from shared.projection.columns import ms_to_datetime
from shared.projection.pairing import CallPairing

DDL = [
    """CREATE TABLE IF NOT EXISTS station_calls (
        station_id text NOT NULL,
        epoch bigint NOT NULL,
        unique_id text NOT NULL,
        action text NOT NULL,
        command_id text,
        request jsonb NOT NULL,
        sent_at timestamptz NOT NULL,
        outcome text,
        response jsonb,
        error_code text,
        error_description text,
        answered_at timestamptz,
        PRIMARY KEY (station_id, epoch, unique_id)
    )""",
    "CREATE INDEX IF NOT EXISTS station_calls_recent ON station_calls (station_id, sent_at)",
    """CREATE TABLE IF NOT EXISTS station_configuration (
        station_id text NOT NULL,
        key text NOT NULL,
        value text,
        readonly boolean,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (station_id, key)
    )""",
    """CREATE TABLE IF NOT EXISTS connector_availability (
        station_id text NOT NULL,
        connector_id int NOT NULL,
        availability text NOT NULL,
        status text NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (station_id, connector_id)
    )""",
]

# Every CALL we sent stays (the operator's history of a station); it is open until it has an outcome.
CALLS = CallPairing("station_calls", open_while="outcome")


class StationCallsProjection(TableProjection):
    name = "station_calls"
    version = 2  # 2: an invalid CALLRESULT is outcome 'invalid', not 'result'
    statements = DDL
    table_names = ["connector_availability", "station_configuration", "station_calls"]

    async def apply(self, conn: asyncpg.Connection, batch: Sequence[ConsumerRecord]) -> None:
        for msg in batch:
            record = decode_frame_record(msg.value)
            if not isinstance(record, FrameRecord) or record.unique_id is None:
                continue
            if record.error_code is not None:
                if record.direction is Direction.IN and record.message_type == 3:
                    await self._invalid_answer(conn, record)
                continue
            if record.direction is Direction.OUT and record.message_type == 2:
                await self._sent(conn, record)
            elif record.direction is Direction.IN and record.message_type in (3, 4):
                await self._answered(conn, record)

    async def _sent(self, conn: asyncpg.Connection, record: FrameRecord) -> None:
        frame = frame_of(record)
        if not isinstance(frame, Call):
            return
        await CALLS.remember(
            conn, record, frame, command_id=record.command_id, sent_at=ms_to_datetime(record.at_ms)
        )

    async def _answered(self, conn: asyncpg.Connection, record: FrameRecord) -> None:
        frame = frame_of(record)
        at = ms_to_datetime(record.at_ms)
        if isinstance(frame, CallResult):
            call = await CALLS.answered(
                conn, record, frame, outcome="result", response=bytes(frame.payload).decode(), answered_at=at
            )
            if call is not None:
                await self._effects(conn, record.station_id, call.action, call.request, call.response, at)
        elif isinstance(frame, CallError):
            await CALLS.answered(
                conn,
                record,
                frame,
                outcome="error",
                error_code=frame.error_code,
                error_description=frame.error_description,
                answered_at=at,
            )

    async def _invalid_answer(self, conn: asyncpg.Connection, record: FrameRecord) -> None:
        """A CALLRESULT the gateway found not to be a valid response: shown as such, with what the
        station sent, and never applied (no configuration or availability effects)."""
        frame = frame_of(record)
        if not isinstance(frame, CallResult):
            return
        await CALLS.answered(
            conn,
            record,
            frame,
            outcome="invalid",
            response=bytes(frame.payload).decode(),
            error_code=record.error_code,
            error_description=record.error_description,
            answered_at=ms_to_datetime(record.at_ms),
        )

    async def _effects(
        self, conn: asyncpg.Connection, station_id: str, action: str, request: Any, response: Any, at: Any
    ) -> None:
        if not isinstance(response, dict) or not isinstance(request, dict):
            return
        if action == "GetConfiguration":
            keys = response.get("configurationKey") or []
            await conn.executemany(
                """INSERT INTO station_configuration (station_id, key, value, readonly, updated_at)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (station_id, key) DO UPDATE SET value = $3, readonly = $4, updated_at = $5""",
                [
                    (station_id, k["key"], stored_value(k["key"], k.get("value")), k.get("readonly"), at)
                    for k in keys
                    if isinstance(k, dict) and isinstance(k.get("key"), str)
                ],
            )
        elif action == "ChangeConfiguration" and response.get("status") in ("Accepted", "RebootRequired"):
            await conn.execute(
                """INSERT INTO station_configuration (station_id, key, value, updated_at) VALUES ($1, $2, $3, $4)
                   ON CONFLICT (station_id, key) DO UPDATE SET value = $3, updated_at = $4""",
                station_id,
                request.get("key"),
                stored_value(str(request.get("key")), request.get("value")),
                at,
            )
        elif action == "ChangeAvailability" and response.get("status") in ("Accepted", "Scheduled"):
            await conn.execute(
                """INSERT INTO connector_availability (station_id, connector_id, availability, status, updated_at)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (station_id, connector_id) DO UPDATE SET availability = $3, status = $4,
                     updated_at = $5""",
                station_id,
                request.get("connectorId"),
                request.get("type"),
                response["status"],
                at,
            )

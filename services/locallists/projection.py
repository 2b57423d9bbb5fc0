"""Read model of the local authorization list each station holds, built from ``ocpp.frames``.

Our SendLocalList and GetLocalListVersion CALLs are paired with the station's answers (connection
epoch + message id). An Accepted SendLocalList sets the version and the entries (Full replaces,
Differential patches); a reported version other than the one we know makes the entries unknown (the
next push is Full); -1 means the station has no local list. Every answer is kept as the last outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
import msgspec
from aiokafka import ConsumerRecord

from services.locallists.plan import Send, apply
from shared.events.envelope import Direction, FrameRecord
from shared.events.frames import frames_of
from shared.ocpp.frames import Call, CallError, CallResult
from shared.projection.base import TableProjection
from shared.projection.columns import ms_to_datetime
from shared.projection.pairing import CallPairing

ACTIONS = ("SendLocalList", "GetLocalListVersion")
REQUESTS = CallPairing("local_list_requests")

DDL = [
    REQUESTS.ddl(),
    """CREATE TABLE IF NOT EXISTS local_lists_held (
        station_id text PRIMARY KEY,
        list_version int NOT NULL,
        entries jsonb,
        supported boolean NOT NULL DEFAULT true,
        last_action text NOT NULL,
        last_status text NOT NULL,
        updated_at timestamptz NOT NULL
    )""",
]


class LocalListsProjection(TableProjection):
    name = "local_lists"
    statements = DDL
    table_names = ["local_lists_held", "local_list_requests"]

    async def apply(self, conn: asyncpg.Connection, batch: Sequence[ConsumerRecord]) -> None:
        for record, frame in frames_of(batch, ACTIONS):
            if isinstance(frame, Call) and record.direction is Direction.OUT:
                await REQUESTS.remember(conn, record, frame)
            elif isinstance(frame, CallResult | CallError) and record.direction is Direction.IN:
                await self._answer(conn, record, frame)

    async def _answer(
        self, conn: asyncpg.Connection, record: FrameRecord, frame: CallResult | CallError
    ) -> None:
        call = await REQUESTS.answered(conn, record, frame)
        if call is None:
            return
        action, request, response = call.action, call.request, call.response
        at = ms_to_datetime(record.at_ms)
        held = await conn.fetchrow(
            "SELECT list_version, entries FROM local_lists_held WHERE station_id = $1", record.station_id
        )
        version: int | None = held["list_version"] if held is not None else None
        entries: dict[str, Any] | None = (
            msgspec.json.decode(held["entries"]) if held is not None and held["entries"] is not None else None
        )
        supported = True
        if isinstance(frame, CallError):
            status = f"CALLERROR {frame.error_code}"
        elif action == "GetLocalListVersion":
            reported = response.get("listVersion")
            status = f"listVersion {reported}"
            if not isinstance(reported, int):
                return
            if reported < 0:
                supported, entries = False, None
            elif reported == 0:
                entries = {}  # 0: the list is empty
            elif reported != version:
                entries = None  # another version than we know of: its content is unknown
            version = reported
        else:
            status = str(response.get("status"))
            if status == "Accepted":
                send = Send(
                    request["listVersion"],
                    request["updateType"],
                    [(e["idTag"], e.get("idTagInfo")) for e in request.get("localAuthorizationList") or []],
                )
                base = entries if entries is not None else {}
                # A Differential on top of unknown content leaves the content unknown.
                known = send.update_type == "Full" or entries is not None
                entries = apply(base, send) if known else None
                version = send.list_version
            elif status == "NotSupported":
                supported = False
        await conn.execute(
            """INSERT INTO local_lists_held (station_id, list_version, entries, supported, last_action,
                 last_status, updated_at)
               VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7)
               ON CONFLICT (station_id) DO UPDATE SET list_version = $2, entries = $3::jsonb, supported = $4,
                 last_action = $5, last_status = $6, updated_at = $7""",
            record.station_id,
            version if version is not None else 0,
            msgspec.json.encode(entries).decode() if entries is not None else None,
            supported,
            action,
            status,
            at,
        )

"""Pairing a CALL with its answer in a projection: by station, connection epoch and message id.

OCPP-J message ids are unique per connection and direction only, so the answer to a CALL is the
CALLRESULT/CALLERROR with the same id on the same connection (epoch) of the same station. Every
projection that needs the request to understand an answer (the station calls log, local lists,
charging profiles) keeps the CALL in a table and claims it with the answer here, once: a
redelivered answer finds nothing to claim and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec

from shared.events.envelope import FrameRecord
from shared.ocpp.frames import Call, CallError, CallResult


@dataclass(frozen=True)
class Answered:
    """A CALL and its answer: the request and the response as JSON objects ({} for a CALLERROR)."""

    action: str
    request: dict[str, Any]
    response: dict[str, Any]


def _object(data: bytes | str) -> dict[str, Any]:
    value = msgspec.json.decode(data)
    return value if isinstance(value, dict) else {}


class CallPairing:
    """The CALLs kept in ``table`` (columns station_id, epoch, unique_id, action, request) until
    their answer comes.

    By default a CALL is removed once answered (a table of pending CALLs, :meth:`ddl`). With
    ``open_while`` the table is a history that keeps answered CALLs: a CALL is open while that
    column is NULL, and the answer sets the columns the caller gives (e.g. the outcome).
    """

    def __init__(self, table: str, *, open_while: str | None = None) -> None:
        self.table = table
        self._open_while = open_while

    def ddl(self) -> str:
        """The table of pending CALLs (without ``open_while``: a history table has its own DDL)."""
        return f"""CREATE TABLE IF NOT EXISTS {self.table} (
        station_id text NOT NULL,
        epoch bigint NOT NULL,
        unique_id text NOT NULL,
        action text NOT NULL,
        request jsonb NOT NULL,
        PRIMARY KEY (station_id, epoch, unique_id)
    )"""

    async def remember(
        self, conn: asyncpg.Connection, record: FrameRecord, frame: Call, **columns: object
    ) -> None:
        """Keep a CALL (and ``columns`` of the table's own) until its answer comes; a redelivered
        frame is a no-op."""
        names = ["station_id", "epoch", "unique_id", "action", "request", *columns]
        values = [
            record.station_id,
            record.epoch,
            record.unique_id,
            frame.action,
            bytes(frame.payload).decode(),
        ]
        params = ", ".join(f"${i}" for i in range(1, len(names) + 1))
        await conn.execute(
            f"INSERT INTO {self.table} ({', '.join(names)}) VALUES ({params}) ON CONFLICT DO NOTHING",
            *values,
            *columns.values(),
        )

    async def answered(
        self, conn: asyncpg.Connection, record: FrameRecord, frame: CallResult | CallError, **settle: object
    ) -> Answered | None:
        """The CALL ``record`` answers, claimed (removed, or in a history closed with ``settle``);
        None when no open CALL has its epoch and message id (not ours, or answered already)."""
        key = (record.station_id, record.epoch, record.unique_id)
        where = "station_id = $1 AND epoch = $2 AND unique_id = $3"
        if self._open_while is None:
            sql = f"DELETE FROM {self.table} WHERE {where} RETURNING action, request"
        else:
            sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(settle, start=4))
            sql = (
                f"UPDATE {self.table} SET {sets} WHERE {where} AND {self._open_while} IS NULL"
                " RETURNING action, request"
            )
        row = await conn.fetchrow(sql, *key, *settle.values())
        if row is None:
            return None
        response = _object(bytes(frame.payload)) if isinstance(frame, CallResult) else {}
        return Answered(row["action"], _object(row["request"]), response)

"""One pairing of CALLs with their answers, for a pending table and for a history table."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from shared.events.envelope import Direction, FrameRecord
from shared.ocpp.frames import Call, CallError, CallResult
from shared.projection.pairing import Answered, CallPairing


class FakeConnection:
    """Records statements; ``fetchrow`` answers with ``row``."""

    def __init__(self, row: dict[str, Any] | None) -> None:
        self.row = row
        self.statements: list[tuple[str, tuple[object, ...]]] = []

    async def execute(self, sql: str, *args: object) -> None:
        self.statements.append((" ".join(sql.split()), args))

    async def fetchrow(self, sql: str, *args: object) -> dict[str, Any] | None:
        self.statements.append((" ".join(sql.split()), args))
        return self.row


def _record(direction: Direction = Direction.IN) -> FrameRecord:
    return FrameRecord(
        station_id="CP-1", gateway_id="gw", connection_id="c", epoch=9, direction=direction, at_ms=1, raw=""
    )


def test_a_pending_call_is_kept_then_claimed_once_by_its_answer() -> None:
    pairing = CallPairing("pending")
    conn = FakeConnection({"action": "GetLocalListVersion", "request": "{}"})
    call = Call("u1", "GetLocalListVersion", msgspec.Raw(b"{}"))
    record = _record(Direction.OUT)
    record.unique_id = "u1"
    asyncio.run(pairing.remember(conn, record, call))
    answer = _record()
    answer.unique_id = "u1"
    got = asyncio.run(pairing.answered(conn, answer, CallResult("u1", msgspec.Raw(b'{"listVersion":3}'))))
    assert got == Answered("GetLocalListVersion", {}, {"listVersion": 3})
    assert conn.statements == [
        (
            (
                "INSERT INTO pending (station_id, epoch, unique_id, action, request) VALUES ($1, $2, $3, $4, $5)"
                " ON CONFLICT DO NOTHING"
            ),
            ("CP-1", 9, "u1", "GetLocalListVersion", "{}"),
        ),
        (
            "DELETE FROM pending WHERE station_id = $1 AND epoch = $2 AND unique_id = $3 RETURNING action, request",
            ("CP-1", 9, "u1"),
        ),
    ]
    assert "PRIMARY KEY (station_id, epoch, unique_id)" in pairing.ddl()


def test_a_history_keeps_the_call_and_settles_it_with_the_answer() -> None:
    pairing = CallPairing("station_calls", open_while="outcome")
    conn = FakeConnection({"action": "Reset", "request": '{"type":"Soft"}'})
    record = _record(Direction.OUT)
    record.unique_id = "u2"
    asyncio.run(
        pairing.remember(conn, record, Call("u2", "Reset", msgspec.Raw(b'{"type":"Soft"}')), sent_at=5)
    )
    error = CallError("u2", "NotSupported", "no", msgspec.Raw(b"{}"))
    got = asyncio.run(pairing.answered(conn, record, error, outcome="error", error_code="NotSupported"))
    assert got == Answered("Reset", {"type": "Soft"}, {})  # a CALLERROR has no response
    assert conn.statements[0][0].startswith(
        "INSERT INTO station_calls (station_id, epoch, unique_id, action, request, sent_at)"
    )
    assert conn.statements[1] == (
        (
            "UPDATE station_calls SET outcome = $4, error_code = $5 WHERE station_id = $1 AND epoch = $2"
            " AND unique_id = $3 AND outcome IS NULL RETURNING action, request"
        ),
        ("CP-1", 9, "u2", "error", "NotSupported"),
    )
    conn.row = None  # answered already: nothing to claim
    assert asyncio.run(pairing.answered(conn, record, error, outcome="error")) is None

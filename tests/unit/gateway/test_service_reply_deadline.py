"""A station CALL no service answers within ``CSMS_SERVICE_REPLY_TIMEOUT`` gets CALLERROR InternalError
(OCPP-J 4.2.3), logged before it is sent; the deadline is the session core's (``AnswerOverdue``),
the connection only reacts to it. Driven with a fake clock and plain frames."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from services.gateway.connection import StationConnection
from shared.config import Settings
from shared.events.commands import StationReply
from tests.unit.gateway.fakes import QuietGateway, Socket

BOOT = '[2, "m1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]'


class SlowService(QuietGateway):
    """A gateway whose services never answer in time; its clock is set by the test."""

    def __init__(self) -> None:
        self.settings = Settings(service_reply_timeout=10.0)
        self.gateway_id = "gw"
        self.now = 1000.0
        self.published: list[dict[str, Any]] = []
        self.boot_answers: list[str] = []
        self.watched = 0

    def clock(self) -> float:
        return self.now

    def watch(self, conn: StationConnection) -> None:
        self.watched += 1

    def boot_status(self, station_id: str) -> str | None:
        return None  # BootNotification is let through before a boot

    def note_boot_answer(self, station_id: str, status: str) -> None:
        self.boot_answers.append(status)

    async def publish(self, value: bytes, station_id: str, headers: Any = None, topic: Any = None) -> None:
        self.published.append(json.loads(value))


def boot_reply() -> StationReply:
    return StationReply(
        station_id="CP1",
        epoch=7,
        unique_id="m1",
        action="BootNotification",
        payload=msgspec.Raw(
            b'{"status": "Accepted", "currentTime": "2026-11-26T10:00:00Z", "interval": 300}'
        ),
    )


async def tick(conn: StationConnection, now: float) -> None:
    await conn.tick(now)
    assert conn._flush_task is not None
    await conn._flush_task


async def test_no_service_answer_in_time_gets_internal_error_and_a_late_reply_is_dropped() -> None:
    gateway, ws = SlowService(), Socket()
    conn = StationConnection(gateway, ws, "CP1", "c1", 7)  # type: ignore[arg-type]
    await conn._on_text(BOOT)
    assert gateway.watched == 1 and conn.has_deadlines()
    await tick(conn, 1009.9)
    assert ws.sent == []
    await tick(conn, 1010.0)
    assert [json.loads(t) for t in ws.sent] == [
        [4, "m1", "InternalError", "no answer from the central system in time", {}]
    ]
    answer = gateway.published[-1]  # logged before it was sent
    assert (answer["direction"], answer["message_type"], answer["raw"]) == ("out", 4, ws.sent[0])
    assert not conn.has_deadlines()
    conn.deliver_reply(boot_reply(), [])  # the service, too late
    await conn.flush()
    assert len(ws.sent) == 1 and len(gateway.published) == 2
    assert gateway.boot_answers == []  # a late boot answer was never relayed, so it is not remembered


async def test_a_reply_in_time_is_relayed_and_nothing_times_out() -> None:
    gateway, ws = SlowService(), Socket()
    conn = StationConnection(gateway, ws, "CP1", "c1", 7)  # type: ignore[arg-type]
    await conn._on_text(BOOT)
    gateway.now += 9.0
    conn.deliver_reply(boot_reply(), [])
    await conn.flush()
    assert [json.loads(t)[:2] for t in ws.sent] == [[3, "m1"]]
    assert gateway.boot_answers == ["Accepted"]
    assert not conn.has_deadlines()
    await tick(conn, 1100.0)
    assert len(ws.sent) == 1


async def test_a_closed_connection_answers_nothing_and_takes_no_reply() -> None:
    gateway, ws = SlowService(), Socket()
    conn = StationConnection(gateway, ws, "CP1", "c1", 7)  # type: ignore[arg-type]
    await conn._on_text(BOOT)
    conn.abandon()
    assert not conn.has_deadlines()
    await tick(conn, 1100.0)  # the ticker's last look before it forgets the connection
    conn.deliver_reply(boot_reply(), [])
    await conn.flush()
    assert ws.sent == [] and [r["direction"] for r in gateway.published] == ["in"]
    assert gateway.boot_answers == []

"""Kafka does not acknowledge (two of three brokers down, min.insync.replicas 2): the gateway answers
InternalError (OCPP-J 4.2.3) instead of hanging, and never sends a CALLRESULT whose frame is not in
the log; the CALLERROR's record is queued for when Kafka is back (docs/reliability.md)."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from services.gateway.connection import StationConnection
from services.gateway.logstate import NOT_LOGGED, LogRefused, LogUnavailable
from shared.config import Settings
from shared.events.commands import StationReply
from tests.unit.gateway.fakes import QuietGateway, Socket


class DownLog(QuietGateway):
    """A gateway whose log refuses every frame from ``fail_from`` on (the n-th publish, 0-based)."""

    def __init__(self, fail_from: int, refuse: bool = False) -> None:
        self.refuse = refuse  # the circuit is open: refused at once, never handed to the producer
        self.settings = Settings(service_reply_timeout=10.0)
        self.gateway_id = "gw"
        self.fail_from = fail_from
        self.published: list[dict[str, Any]] = []
        self.later: list[dict[str, Any]] = []

    async def publish(self, value: bytes, station_id: str, headers: Any = None, topic: Any = None) -> None:
        if len(self.published) >= self.fail_from:
            raise LogRefused("circuit open") if self.refuse else LogUnavailable("no acks=all")
        self.published.append(json.loads(value))

    def publish_later(self, value: bytes, station_id: str) -> None:
        self.later.append(json.loads(value))


async def test_a_call_that_cannot_be_logged_gets_internal_error_at_once() -> None:
    gateway, ws = DownLog(fail_from=0), Socket()
    conn = StationConnection(gateway, ws, "CP1", "c1", 7)  # type: ignore[arg-type]
    await conn._on_text('[2, "m1", "DataTransfer", {"vendorId": "V"}]')
    assert [json.loads(t) for t in ws.sent] == [[4, "m1", "InternalError", NOT_LOGGED, {}]]
    assert conn.session.unanswered == []  # no service answer is awaited for a CALL nobody can see
    assert [(r["direction"], r["message_type"], r["raw"]) for r in gateway.later] == [("out", 4, ws.sent[0])]


async def test_an_answer_that_cannot_be_logged_is_never_sent_as_a_callresult() -> None:
    gateway, ws = DownLog(fail_from=1), Socket()  # the CALL is logged, its answer is not
    conn = StationConnection(gateway, ws, "CP1", "c1", 7)  # type: ignore[arg-type]
    await conn._on_text('[2, "m1", "DataTransfer", {"vendorId": "V"}]')
    conn.deliver_reply(
        StationReply(
            station_id="CP1",
            epoch=7,
            unique_id="m1",
            action="DataTransfer",
            payload=msgspec.Raw(b'{"status": "Accepted"}'),
        ),
        [],
    )
    await conn.flush()
    assert [json.loads(t)[0] for t in ws.sent] == [4]
    assert json.loads(ws.sent[0])[2:4] == ["InternalError", NOT_LOGGED]
    assert gateway.later[0]["raw"] == ws.sent[0]


async def test_a_call_refused_while_the_log_is_down_is_queued_marked_so_no_service_acts_on_it() -> None:
    """ADR 0023: with the circuit open nothing was handed to the producer, so the gateway queues the
    CALL's record itself, marked InternalError (services skip CALL records with an error code)."""
    gateway, ws = DownLog(fail_from=0, refuse=True), Socket()
    conn = StationConnection(gateway, ws, "CP1", "c1", 7)  # type: ignore[arg-type]
    await conn._on_text(
        '[2, "m1", "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0, '
        '"timestamp": "2026-12-02T10:00:00Z"}]'
    )
    assert [json.loads(t) for t in ws.sent] == [[4, "m1", "InternalError", NOT_LOGGED, {}]]
    call, answer = gateway.later
    assert (call["direction"], call["message_type"], call["unique_id"]) == ("in", 2, "m1")
    assert (call["error_code"], call["error_description"]) == ("InternalError", NOT_LOGGED)
    assert (answer["direction"], answer["raw"]) == ("out", ws.sent[0])

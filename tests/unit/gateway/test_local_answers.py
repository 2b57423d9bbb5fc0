"""A CALL the gateway answers itself (services/gateway/routes.py, ADR 0044): the CALL and its answer
go to the log in one append, the answer is sent only once both are acknowledged, and a log that
does not take them gets InternalError as for any CALL (docs/reliability.md)."""

from __future__ import annotations

import json
from typing import Any

from services.gateway.connection import StationConnection
from services.gateway.logstate import NOT_LOGGED, LogRefused, LogUnavailable
from shared.config import Settings
from tests.unit.gateway.fakes import QuietGateway, Socket


class Log(QuietGateway):
    """Records each append; ``down`` refuses them (``refuse``: the circuit is open) or times out."""

    def __init__(self, down: bool = False, refuse: bool = False) -> None:
        self.settings = Settings(service_reply_timeout=10.0)
        self.gateway_id = "gw"
        self.down, self.refuse = down, refuse
        self.appends: list[list[dict[str, Any]]] = []
        self.later: list[dict[str, Any]] = []
        self.watched = 0

    async def publish_frames(self, frames: list[tuple[bytes, Any]], station_id: str) -> None:
        if self.down:
            raise LogRefused("circuit open") if self.refuse else LogUnavailable("no acks=all")
        self.appends.append([json.loads(value) for value, _ in frames])

    async def publish(self, value: bytes, station_id: str, headers: Any = None, topic: Any = None) -> None:
        raise AssertionError("a CALL answered here is appended with its answer, not alone")

    def publish_later(self, value: bytes, station_id: str) -> None:
        self.later.append(json.loads(value))

    def watch(self, conn: StationConnection) -> None:
        self.watched += 1


async def test_a_heartbeat_is_answered_with_the_gateway_time_after_one_append_of_both_frames() -> None:
    gateway, ws = Log(), Socket()
    conn = StationConnection(gateway, ws, "CP1", "c1", 7)  # type: ignore[arg-type]
    await conn._on_text('[2, "m1", "Heartbeat", {}]')
    # QuietGateway's clock: 1,700,000,000,000 ms is 2023-11-14T22:13:20Z.
    assert [json.loads(t) for t in ws.sent] == [[3, "m1", {"currentTime": "2023-11-14T22:13:20Z"}]]
    [append] = gateway.appends
    assert [(r["direction"], r["message_type"], r["unique_id"]) for r in append] == [
        ("in", 2, "m1"),
        ("out", 3, "m1"),
    ]
    assert append[0]["action"] == append[1]["action"] == "Heartbeat"
    assert append[1]["raw"] == ws.sent[0]
    assert conn.session.unanswered == [] and gateway.watched == 0  # nothing left to wait for


async def test_an_invalid_call_gets_its_precise_error_appended_with_it() -> None:
    gateway, ws = Log(), Socket()
    conn = StationConnection(gateway, ws, "CP1", "c1", 7)  # type: ignore[arg-type]
    await conn._on_text('[2, "m1", "Heartbeat", {"unexpected": true}]')
    [answer] = [json.loads(t) for t in ws.sent]
    assert answer[:3] == [4, "m1", "FormationViolation"]
    [append] = gateway.appends
    assert [(r["direction"], r["message_type"]) for r in append] == [("in", 2), ("out", 4)]
    assert append[0]["error_code"] == "FormationViolation"


async def test_a_heartbeat_the_log_refuses_gets_internal_error_and_both_records_are_queued_in_order() -> None:
    gateway, ws = Log(down=True, refuse=True), Socket()
    conn = StationConnection(gateway, ws, "CP1", "c1", 7)  # type: ignore[arg-type]
    await conn._on_text('[2, "m1", "Heartbeat", {}]')
    assert [json.loads(t) for t in ws.sent] == [[4, "m1", "InternalError", NOT_LOGGED, {}]]
    call, answer = gateway.later
    assert (call["direction"], call["unique_id"], call["error_code"]) == ("in", "m1", "InternalError")
    assert (answer["direction"], answer["message_type"], answer["raw"]) == ("out", 4, ws.sent[0])


async def test_a_heartbeat_whose_append_times_out_gets_internal_error() -> None:
    gateway, ws = Log(down=True), Socket()
    conn = StationConnection(gateway, ws, "CP1", "c1", 7)  # type: ignore[arg-type]
    await conn._on_text('[2, "m1", "Heartbeat", {}]')
    assert [json.loads(t) for t in ws.sent] == [[4, "m1", "InternalError", NOT_LOGGED, {}]]
    # Maybe in the log after all (a timeout): only the answer that was sent instead is queued.
    assert [(r["direction"], r["message_type"]) for r in gateway.later] == [("out", 4)]

"""A service's reply can reach the gateway before the acknowledgement of the frame it answers:
the connection must already be waiting for it (it used to log "late or unknown reply" and answer
the station InternalError 10 s later)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec

from services.gateway.connection import StationConnection
from shared.config import Settings
from shared.events.commands import StationReply
from tests.unit.gateway.fakes import QuietGateway, Socket


class FastService(QuietGateway):
    """A gateway whose publish delivers the service's reply before it returns (the race)."""

    def __init__(self) -> None:
        self.settings = Settings(service_reply_timeout=10.0)
        self.gateway_id = "gw"
        self.conn: StationConnection | None = None
        self.published: list[dict[str, Any]] = []

    async def publish(self, value: bytes, station_id: str, headers: Any = None, topic: Any = None) -> None:
        record = json.loads(value)
        self.published.append(record)
        if record["direction"] == "in" and record.get("message_type") == 2 and self.conn is not None:
            self.conn.deliver_reply(
                StationReply(
                    station_id=station_id,
                    epoch=record["epoch"],
                    unique_id=record["unique_id"],
                    action=record["action"],
                    payload=msgspec.Raw(b'{"status": "Accepted"}'),
                ),
                [],
            )


async def test_a_reply_before_the_publish_ack_is_delivered() -> None:
    gateway, ws = FastService(), Socket()
    conn = StationConnection(gateway, ws, "CP1", "c1", 7)  # type: ignore[arg-type]
    gateway.conn = conn
    await conn._on_text('[2, "m1", "DataTransfer", {"vendorId": "V"}]')
    async with asyncio.timeout(5):
        while not ws.sent:  # noqa: ASYNC110 - the flush runs in a background task
            await asyncio.sleep(0.01)
    assert json.loads(ws.sent[0]) == [3, "m1", {"status": "Accepted"}]
    assert conn.session.unanswered == []  # nothing left to time out into an InternalError
    assert [r["direction"] for r in gateway.published] == ["in", "out"]

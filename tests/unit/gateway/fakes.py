"""What the gateway's connection tests fake of the process holding a connection (the
``GatewayPort`` of services/gateway/connection.py) and of its WebSocket: the parts no test cares
about, answered as a quiet, booted system would. Each test's fake overrides what it is about."""

from __future__ import annotations

import time
from typing import Any

from services.gateway.connection import StationConnection


class QuietGateway:
    def clock(self) -> float:
        return time.monotonic()

    def now_ms(self) -> int:
        return 1_700_000_000_000

    def watch(self, conn: StationConnection) -> None:
        pass

    def boot_status(self, station_id: str) -> str | None:
        return "Accepted"  # a booted station: the registration rule lets its CALLs through

    def note_boot_answer(self, station_id: str, status: str) -> None:
        pass

    async def learn(
        self, station_id: str, *, upgrade: int | None = None, serial_number: str | None = None
    ) -> None:
        pass

    async def security_event(self, event: Any) -> None:
        pass

    def publish_later(self, value: bytes, station_id: str) -> None:
        pass

    async def publish(self, value: bytes, station_id: str, headers: Any = None, topic: Any = None) -> None:
        pass

    async def publish_frames(self, frames: list[tuple[bytes, Any]], station_id: str) -> None:
        """One append of the real gateway, record by record here: a fake's publish sees each."""
        for value, headers in frames:
            await self.publish(value, station_id, headers)


class Socket:
    """The station's WebSocket: what the gateway sent it."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, text: str) -> None:
        self.sent.append(text)

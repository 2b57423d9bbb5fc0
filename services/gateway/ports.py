"""What a station's connection needs from the gateway process that holds it: a small protocol, so
that ``connection.py`` does not import ``app.py`` (no cycle) and unit tests pass plain fakes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from shared.config import Settings

if TYPE_CHECKING:
    from services.gateway.connection import StationConnection


class GatewayPort(Protocol):
    settings: Settings
    gateway_id: str

    def clock(self) -> float: ...

    async def publish(
        self,
        value: bytes,
        station_id: str,
        headers: list[tuple[str, bytes]] | None = None,
        topic: str | None = None,
    ) -> Any:
        """Append and wait for the log's acknowledgement (raises LogUnavailable)."""

    def publish_later(self, value: bytes, station_id: str) -> None:
        """Append the record of a frame that went (or was refused) unlogged, once the log is back."""

    async def publish_nowait(self, topic: str, key: str, value: bytes) -> None:
        """Hand a record to the producer without waiting for its acknowledgement."""

    def watch(self, conn: StationConnection) -> None:
        """Drive ``conn``'s timeouts from the gateway's ticker."""

    def boot_status(self, station_id: str) -> str | None:
        """How the station's last BootNotification was answered."""

    def note_boot_answer(self, station_id: str, status: str) -> None:
        """Remember a boot answer relayed on this gateway."""

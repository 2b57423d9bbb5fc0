"""What the firmware service's adapters (driver, file servers, frame follower) use of it: the port
:class:`~services.firmware.service.FirmwareService` implements (it imports them; this module
imports none of them, so there is no cycle)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from services.firmware.events import FirmwareEvent
from services.firmware.locations import Locations
from services.firmware.state import State
from services.firmware.storage import LocalStorage
from shared.config import Settings
from shared.decision import Decision


class FirmwarePort(Protocol):
    settings: Settings
    state: State
    storage: LocalStorage
    # The injected clock's milliseconds.
    clock: Callable[[], int]

    def locations(self) -> Locations:
        """The file servers' URLs, with the ports they are bound to."""
        ...

    async def follower_caught_up(self) -> None:
        """Return once the state has applied ``firmware.events`` up to its current end."""
        ...

    async def record(self, decision: Decision[None, FirmwareEvent]) -> None:
        """Evolve the state with the decision's events and make them durable (acks=all) before
        anything that depends on them happens."""
        ...

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a task the service cancels when it stops."""
        ...

"""What a stations handler decides with besides the request, injected: clock and settings.

Its own module so that the handlers and ``routes.py`` (which imports them) do not import each other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.events.envelope import StationRegistration


@dataclass(frozen=True)
class Context:
    now: datetime
    heartbeat_interval: int
    boot_retry_interval: int
    # The operator's record of the calling station (None: unknown to the registry so far).
    registration: StationRegistration | None
    auto_register: bool

"""What a stations handler decides with besides its state and the request (the ``deps`` of
shared/decision.py), injected: clock, settings, the calling connection and the station's registration.

Its own module so that the handlers and ``routes.py`` (which imports them) do not import each other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.events.envelope import StationRegistration


@dataclass(frozen=True)
class Context:
    now: datetime
    station_id: str
    # The connection the CALL came on (its epoch): a boot's answer counts for that connection only.
    epoch: int
    heartbeat_interval: int
    boot_retry_interval: int
    # The operator's record of the calling station (None: unknown to the registry so far).
    registration: StationRegistration | None
    auto_register: bool

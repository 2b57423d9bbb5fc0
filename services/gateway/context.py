"""What a CALL the gateway answers itself is decided with (the ``deps`` of shared/decision.py):
the clock only. Such a CALL has no state and decides no event; anything that needs either belongs
to a service (ADR 0044)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class LocalContext:
    now: datetime

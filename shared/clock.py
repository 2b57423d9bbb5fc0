"""The one clock of the system: wall time for stamps and decisions, monotonic time for timeouts.

Adapters take a :class:`Clock` (``SYSTEM`` unless a test injects another) and hand decide functions
``now`` as an argument, so decisions never read a clock. Every process's components share the one
they were built with (the gateway, the services, the operator API, the command client).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Clock:
    # Nanoseconds since the Unix epoch, and seconds of a clock that never goes back (timeouts).
    wall_ns: Callable[[], int] = time.time_ns
    monotonic: Callable[[], float] = time.monotonic

    def now_ms(self) -> int:
        """Milliseconds since the epoch (the ``at_ms`` of every record)."""
        return self.wall_ns() // 1_000_000

    def now(self) -> datetime:
        """Now as an aware UTC datetime (what OCPP timestamps and decisions use), to the microsecond."""
        return _EPOCH + timedelta(microseconds=self.wall_ns() // 1000)


SYSTEM = Clock()

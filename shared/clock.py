"""The one wall clock of the system. Events are stamped with it and decisions read "now" from it.

Decide functions take ``now`` as an argument (tests pass a fixed one); only the adapters at the
edge call these. Monotonic time for timeouts is ``time.monotonic`` (injected as ``clock``), never this.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    """Milliseconds since the epoch (the ``at_ms`` of every record)."""
    return time.time_ns() // 1_000_000


def utc_now() -> datetime:
    """Now as an aware UTC datetime (what OCPP timestamps and decisions use)."""
    return datetime.now(UTC)

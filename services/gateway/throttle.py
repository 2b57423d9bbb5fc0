"""Failed-login throttle: pure bookkeeping of authentication failures per key, clock injected.

Why: every wrong password costs a PBKDF2 hash (issue 12). After ``threshold`` failures within
``window`` seconds a key (a station id, or a source address) is refused with HTTP 429 and a
Retry-After that doubles with every further attempt (``base`` .. ``cap`` seconds) *before* any
hashing, so guessing cannot stall the gateway or lock other stations out. A success clears the key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class _Entry:
    failures: list[float] = field(default_factory=list)
    blocked_until: float = 0.0
    strikes: int = 0


class FailureThrottle:
    def __init__(
        self, threshold: int, window: float, base: float = 1.0, cap: float = 300.0, max_keys: int = 100_000
    ) -> None:
        self.threshold, self.window, self.base, self.cap, self._max = threshold, window, base, cap, max_keys
        self._entries: dict[str, _Entry] = {}

    def retry_after(self, key: str, now: float) -> int | None:
        """Seconds the caller must wait, or None when ``key`` may try (and be hashed) now.

        A refused attempt counts as a strike: the wait doubles, so a client that ignores Retry-After
        only makes its own wait longer.
        """
        entry = self._entries.get(key)
        if entry is None:
            return None
        entry.failures = [t for t in entry.failures if now - t < self.window]
        if now < entry.blocked_until or len(entry.failures) >= self.threshold:
            entry.strikes += 1
            wait = min(self.cap, self.base * 2 ** (entry.strikes - 1))
            entry.blocked_until = max(entry.blocked_until, now + wait)
            return max(1, math.ceil(entry.blocked_until - now))
        if not entry.failures:
            del self._entries[key]
        return None

    def failed(self, key: str, now: float) -> None:
        entry = self._entries.get(key)
        if entry is None:
            if len(self._entries) >= self._max:
                self._entries.pop(next(iter(self._entries)))
            entry = self._entries[key] = _Entry()
        entry.failures.append(now)

    def succeeded(self, key: str) -> None:
        self._entries.pop(key, None)

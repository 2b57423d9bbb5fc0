"""Per-token rate limits of the operator API: a token bucket per key, refilled by a monotonic clock.

Each API process limits on its own (N replicas allow N times the rate): the limit protects the
process and the command path from one runaway client, it is not a quota (ADR 0036).
"""

from __future__ import annotations

from collections.abc import Callable


class TokenBuckets:
    """``rate`` requests per second per key, with bursts of up to ``burst`` requests."""

    def __init__(self, rate: float, burst: int, monotonic: Callable[[], float]) -> None:
        self.rate, self.burst = rate, max(1, burst)
        self._monotonic = monotonic
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str) -> float:
        """0 when a request of ``key`` may go ahead now (and counts it), else the seconds until one may."""
        now = self._monotonic()
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate if self.rate > 0 else float("inf")

"""Whether the log takes writes, as the gateway last saw it (a circuit breaker, Sans-I/O).

A station's CALL is only answered after its frame is in the log (docs/reliability.md). With too
few in-sync replicas no write can be acknowledged, and waiting ``log_timeout`` for each frame would
make every station's CALLs queue behind one another (OCPP-J allows one CALL in flight), so that a
station waits minutes for a refusal. After a write failed, the circuit is open: writes are refused
at once (the gateway answers InternalError without waiting) while one write at a time, at most every
``retry_after`` seconds, probes whether the log is back. The first acknowledged write closes it.
"""

from __future__ import annotations

from dataclasses import dataclass

NOT_LOGGED = "the central system could not log this exchange; retry later"


class LogUnavailable(Exception):
    """Kafka did not acknowledge a frame within ``log_timeout``: it is not durable (it may still be
    appended later, by the producer's retries). What depends on it being logged must not happen."""


class LogRefused(LogUnavailable):
    """Not even tried: the circuit is open. Nothing was handed to the producer."""


@dataclass
class LogCircuit:
    retry_after: float = 1.0
    down_since: float | None = None
    refused: int = 0  # writes refused at once while open (the gateway's health shows it)
    _probing: bool = False
    _next_probe: float = 0.0

    @property
    def available(self) -> bool:
        return self.down_since is None

    def allow(self, now: float) -> bool:
        """Whether a write may be tried now: always while closed; while open, one probe at a time."""
        if self.down_since is None:
            return True
        if self._probing or now < self._next_probe:
            self.refused += 1
            return False
        self._probing = True
        return True

    def succeeded(self) -> float | None:
        """A write was acknowledged: closed. Returns when the log went down, if it was down."""
        down, self.down_since, self._probing = self.down_since, None, False
        return down

    def failed(self, now: float) -> bool:
        """A write was not acknowledged in time. Returns True when this opened the circuit."""
        opened = self.down_since is None
        if opened:
            self.down_since = now
        self._probing = False
        self._next_probe = now + self.retry_after
        return opened

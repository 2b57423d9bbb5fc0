"""When to ping each connection and whose pong is late: one schedule for a gateway's connections.

websockets' own keepalive runs a task and a timer per connection (1.1 KB each, measured: ADR 0042);
this keeps two queues instead. The interval and the timeout are the same for every connection, so
each queue stays in due order by appending. Sans-I/O: the gateway sends the pings and closes the
late ones; ``Pong`` is whatever tells whether the answer came (websockets' pong future).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class Pong(Protocol):
    def done(self) -> bool: ...


C = TypeVar("C")


class KeepaliveSchedule(Generic[C]):
    def __init__(self, interval: float, timeout: float | None) -> None:
        self.interval = interval
        self.timeout = timeout
        self._pings: deque[tuple[float, C]] = deque()  # (due, connection)
        self._checks: deque[tuple[float, C, Pong | None]] = deque()  # (due, connection, its pong)

    def add(self, conn: C, now: float) -> None:
        """A new connection: its first ping is one interval away."""
        self._pings.append((now + self.interval, conn))

    def to_ping(self, now: float, is_open: Callable[[C], bool]) -> list[C]:
        """The open connections whose ping is due; each is scheduled again one interval later.
        A closed one leaves the schedule here, at most one interval after it closed."""
        due = []
        while self._pings and self._pings[0][0] <= now:
            _, conn = self._pings.popleft()
            if is_open(conn):
                due.append(conn)
                self._pings.append((now + self.interval, conn))
        return due

    def pinged(self, conn: C, now: float, pong: Pong | None) -> None:
        """A ping went out (``pong`` tells when it is answered) or could not (None: the
        connection's write buffer is full, its peer is not reading): check it after the timeout."""
        if self.timeout is not None:
            self._checks.append((now + self.timeout, conn, pong))

    def late(self, now: float, is_open: Callable[[C], bool]) -> list[C]:
        """The open connections whose pong did not come within the timeout: to be closed."""
        late = []
        while self._checks and self._checks[0][0] <= now:
            _, conn, pong = self._checks.popleft()
            if is_open(conn) and (pong is None or not pong.done()):
                late.append(conn)
        return late

    def next_due(self) -> float | None:
        heads = [q[0][0] for q in (self._pings, self._checks) if q]
        return min(heads) if heads else None

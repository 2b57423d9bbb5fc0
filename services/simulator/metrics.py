"""What a simulated fleet measures: connections, calls, errors and station-observed latency."""

from __future__ import annotations

import time
from array import array
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any


def percentiles(values: array[float] | list[float], scale: float = 1000.0) -> dict[str, float]:
    """p50 / p90 / p99 / p99.9 / max, rounded; ``scale`` 1000 turns seconds into milliseconds."""
    if not values:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "p99.9": 0.0, "max": 0.0}
    ordered = sorted(values)
    n = len(ordered)

    def at(q: float) -> float:
        return round(ordered[min(n - 1, int(q * n))] * scale, 2)

    return {
        "p50": at(0.5),
        "p90": at(0.9),
        "p99": at(0.99),
        "p99.9": at(0.999),
        "max": round(ordered[-1] * scale, 2),
    }


@dataclass(frozen=True)
class Answer:
    """One CALL a station got an answer to, as the station saw it (fault tests check each against
    the log): ``error_code`` None for a CALLRESULT; ``elapsed`` from the CALL on the wire."""

    station_id: str
    unique_id: str
    action: str
    error_code: str | None
    error_description: str
    payload: bytes
    elapsed: float


@dataclass(frozen=True)
class TimedOut:
    """One CALL a station gave up on: ``at`` (monotonic) when it gave up; ``on_wire`` False when it
    never left the station's queue (the one-CALL-in-flight rule held it behind slower ones)."""

    station_id: str
    action: str
    at: float
    on_wire: bool


@dataclass
class Metrics:
    started: float = field(default_factory=time.monotonic)
    # The measurement window in wall-clock seconds, so that a benchmark can take the system's CPU
    # over exactly the calls counted here.
    started_unix: float = field(default_factory=time.time)
    connected: int = 0
    max_connected: int = 0
    connects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    calls: int = 0
    results: int = 0
    errors: int = 0  # CALLERROR answers
    timeouts: int = 0
    received: int = 0  # CSMS-initiated CALLs answered
    # Station-observed latency per action: from when the station wanted to send to the answer.
    latency: dict[str, array[float]] = field(default_factory=lambda: defaultdict(lambda: array("d")))
    error_codes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lost: int = 0  # calls whose connection closed before an answer came
    # Every answered CALL, when a caller asks for them (``record_answers``); None: not kept.
    answers: list[Answer] | None = None
    # Every CALL given up on, kept with ``answers``: a fault test says which and when.
    timed_out: list[TimedOut] | None = None

    def record_answers(self) -> list[Answer]:
        self.answers = []
        self.timed_out = []
        return self.answers

    def on_timeout(self, station_id: str, action: str, *, on_wire: bool) -> None:
        self.timeouts += 1
        if self.timed_out is not None:
            self.timed_out.append(TimedOut(station_id, action, time.monotonic(), on_wire))

    def on_connect(self) -> None:
        self.connected += 1
        self.connects += 1
        self.max_connected = max(self.max_connected, self.connected)

    def on_disconnect(self) -> None:
        self.connected -= 1
        self.disconnects += 1

    def all_latencies(self) -> list[float]:
        return [v for values in self.latency.values() for v in values]

    def reset_latency(self) -> None:
        """Start a new measurement window (e.g. after the ramp-up)."""
        self.latency.clear()
        self.calls = self.results = self.errors = self.timeouts = 0
        self.started = time.monotonic()
        self.started_unix = time.time()

    def summary(self) -> dict[str, Any]:
        elapsed = max(1e-9, time.monotonic() - self.started)
        return {
            "elapsed_s": round(elapsed, 2),
            "window_unix": [round(self.started_unix, 3), round(time.time(), 3)],
            "connected": self.connected,
            "max_connected": self.max_connected,
            "connects": self.connects,
            "connect_failures": self.connect_failures,
            "disconnects": self.disconnects,
            "calls": self.calls,
            "results": self.results,
            "errors": self.errors,
            "error_codes": dict(self.error_codes),
            "timeouts": self.timeouts,
            "lost": self.lost,
            "answered_csms_calls": self.received,
            "calls_per_s": round(self.results / elapsed, 1),
            "latency_ms": percentiles(self.all_latencies()),
            "latency_ms_by_action": {
                a: percentiles(v) | {"n": len(v)} for a, v in sorted(self.latency.items())
            },
        }

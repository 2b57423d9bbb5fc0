"""The one clock (shared/clock.py): both wall readings come from one source, exactly."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.clock import Clock

# 2026-12-02T21:10:08.123456789Z
AT_NS = 1_796_245_808_123_456_789


def test_wall_time_in_ms_and_as_a_datetime_agree_to_the_microsecond() -> None:
    clock = Clock(wall_ns=lambda: AT_NS, monotonic=lambda: 5.0)
    assert clock.now_ms() == 1_796_245_808_123
    assert clock.now() == datetime(2026, 12, 2, 21, 10, 8, 123456, tzinfo=UTC)
    assert clock.monotonic() == 5.0


def test_the_system_clock_is_aware_utc() -> None:
    now = Clock().now()
    assert now.tzinfo is UTC
    assert abs(now.timestamp() * 1000 - Clock().now_ms()) < 5_000

"""The per-token bucket, on an injected monotonic clock."""

from __future__ import annotations

import pytest

from services.api.ratelimit import TokenBuckets


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate() -> None:
    clock = Ticks()
    buckets = TokenBuckets(rate=2.0, burst=3, monotonic=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert buckets.take("a") == 0.0
    assert buckets.take("a") == pytest.approx(0.5)


def test_keys_have_their_own_buckets() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1, monotonic=Ticks())
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
    assert buckets.take("b") == 0.0


def test_refill_stops_at_the_burst() -> None:
    clock = Ticks()
    buckets = TokenBuckets(rate=10.0, burst=2, monotonic=clock)
    clock.now += 3600
    assert [buckets.take("a") for _ in range(3)][2] > 0


def test_a_refused_request_does_not_count() -> None:
    clock = Ticks()
    buckets = TokenBuckets(rate=1.0, burst=1, monotonic=clock)
    buckets.take("a")
    for _ in range(5):
        assert buckets.take("a") == pytest.approx(1.0)
    clock.now += 1.0
    assert buckets.take("a") == 0.0

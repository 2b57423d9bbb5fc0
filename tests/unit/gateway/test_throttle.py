"""FailureThrottle: the pure bookkeeping behind HTTP 429 for failed logins (ADR 0020)."""

from __future__ import annotations

from services.gateway.throttle import FailureThrottle


def test_threshold_then_doubling_retry_after_then_window_expiry() -> None:
    t = FailureThrottle(threshold=2, window=60.0, base=1.0, cap=8.0)
    assert t.retry_after("CP1", 0.0) is None
    t.failed("CP1", 0.0)
    assert t.retry_after("CP1", 0.0) is None
    t.failed("CP1", 0.0)
    assert [t.retry_after("CP1", 1.0) for _ in range(5)] == [1, 2, 4, 8, 8]
    assert t.retry_after("OTHER", 1.0) is None
    # Once the failures leave the window and the block has passed, the key may try again.
    assert t.retry_after("CP1", 70.0) is None


def test_success_clears_the_key() -> None:
    t = FailureThrottle(threshold=1, window=60.0)
    t.failed("CP1", 0.0)
    assert t.retry_after("CP1", 0.0) == 1
    t.succeeded("CP1")
    assert t.retry_after("CP1", 0.0) is None

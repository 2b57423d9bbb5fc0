"""Site allocation: fairness, minimums, caps, and the order limits are sent in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.smartcharging.allocation import (
    Change,
    Demand,
    allocate,
    decreases,
    in_force,
    increases,
)


def demand(i: int, *, cap: float = 32.0, minimum: float = 6.0, drawing: float | None = None) -> Demand:
    return Demand(key=(f"S{i}", 1), transaction_id=i, started_ms=i, minimum=minimum, cap=cap, drawing=drawing)


def test_equal_shares_below_caps() -> None:
    shares = allocate(100.0, [demand(i) for i in range(4)])
    assert shares == {(f"S{i}", 1): 25.0 for i in range(4)}


def test_caps_leave_their_rest_to_others() -> None:
    shares = allocate(100.0, [demand(0, cap=10.0), demand(1), demand(2)])
    assert shares[("S0", 1)] == 10.0
    assert shares[("S1", 1)] == shares[("S2", 1)] == 32.0


def test_a_slow_car_is_capped_at_what_it_draws_plus_margin() -> None:
    shares = allocate(40.0, [demand(0, drawing=7.0), demand(1)], margin=2.0)
    assert shares == {("S0", 1): 9.0, ("S1", 1): 31.0}


def test_when_the_minimums_do_not_fit_the_latest_cars_wait() -> None:
    shares = allocate(15.0, [demand(0), demand(1), demand(2)])
    assert shares[("S2", 1)] == 0.0
    assert shares[("S0", 1)] == shares[("S1", 1)] == 7.5


def test_decreases_first_then_a_new_session_gets_its_first_limit_out_of_the_headroom() -> None:
    ds = [demand(0), demand(1), demand(2)]
    applied = {("S0", 1): 50.0, ("S1", 1): 50.0}
    targets = allocate(100.0, ds)  # 32 each: S2 is new
    down = decreases(ds, targets, applied, deadband=0.5)
    assert {c.key for c in down} == {("S0", 1), ("S1", 1)} and all(c.limit == 32.0 for c in down)
    before = increases(100.0, ds, targets, applied, (), {}, 0, 10_000, 0.5)
    # Were the decreases not in force, the new car could only be told to wait.
    assert before == ([Change(("S2", 1), 2, 0.0)], None)
    after = {**applied, **{c.key: c.limit for c in down}}
    up, due = increases(100.0, ds, targets, after, (), {("S0", 1): 0}, 0, 10_000, 0.5)
    assert up == [Change(("S2", 1), 2, 32.0)] and due is None


def test_a_refusing_station_counts_at_its_cap() -> None:
    ds = [demand(0), demand(1)]
    forced = in_force(ds, {("S0", 1): 20.0}, refused={("S1", 1)})
    assert forced == {("S0", 1): 20.0, ("S1", 1): 32.0}
    up, _ = increases(60.0, ds, {("S0", 1): 28.0}, {("S0", 1): 20.0}, {("S1", 1)}, {}, 0, 0, 0.5)
    assert up == [Change(("S0", 1), 0, 28.0)]


def test_increases_wait_for_the_minimum_interval_and_report_when_due() -> None:
    ds = [demand(0), demand(1)]
    applied = {("S0", 1): 20.0, ("S1", 1): 20.0}
    targets = allocate(64.0, ds)
    up, due = increases(64.0, ds, targets, applied, (), {("S0", 1): 5_000}, 6_000, 10_000, 0.5)
    assert [c.key for c in up] == [("S1", 1)] and up[0].limit == 32.0
    assert due == 15_000


@given(
    st.floats(min_value=0, max_value=500),
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=80),
            st.floats(min_value=0, max_value=16),
            st.none() | st.floats(min_value=0, max_value=80),
        ),
        max_size=12,
    ),
)
def test_shares_never_exceed_the_grid_or_a_cap(
    limit: float, raw: list[tuple[float, float, float | None]]
) -> None:
    ds = [demand(i, cap=c, minimum=m, drawing=w) for i, (c, m, w) in enumerate(raw)]
    shares = allocate(limit, ds)
    assert sum(shares.values()) <= limit + 1e-6
    for d in ds:
        assert 0 <= shares[d.key] <= d.cap + 1e-9
    fitting = sorted(ds, key=lambda d: d.started_ms)
    budget = limit
    for d in fitting:  # the minimums the grid can hold, in start order, are granted
        if min(d.minimum, d.cap) <= budget:
            assert shares[d.key] >= round(min(d.minimum, d.cap), 1) - 0.1 - 1e-9
            budget -= min(d.minimum, d.cap)


@given(
    st.lists(st.floats(min_value=0, max_value=40), min_size=1, max_size=8),
    st.lists(st.floats(min_value=0, max_value=40), min_size=1, max_size=8),
    st.floats(min_value=10, max_value=200),
)
def test_the_sum_in_force_never_passes_the_grid(
    first: list[float], second: list[float], limit: float
) -> None:
    """Start from any safe state, apply decreases then increases: the sum in force stays under the limit."""
    n = min(len(first), len(second))
    ds = [demand(i, cap=40.0, minimum=0.0) for i in range(n)]
    start = allocate(limit, [demand(i, cap=first[i], minimum=0.0) for i in range(n)])
    applied = dict(start)
    assert sum(in_force(ds, applied).values()) <= limit + 1e-6
    targets = allocate(limit, [demand(i, cap=second[i], minimum=0.0) for i in range(n)])
    for c in decreases(ds, targets, applied, 0.5):
        applied[c.key] = c.limit
        assert sum(in_force(ds, applied).values()) <= limit + 1e-6
    up, _ = increases(limit, ds, targets, applied, (), {}, 0, 0, 0.5)
    for c in up:
        applied[c.key] = c.limit
    assert sum(in_force(ds, applied).values()) <= limit + 1e-6

"""Composite schedule: hand-written cases per rule, and a property test against a brute force.

The brute force (`limit_at`, the simulated station's own algorithm in services/simulator/schedule.py)
is a second implementation written the slow, obvious way: it evaluates one
instant at a time straight from the profiles, with datetimes, and knows nothing of breakpoints or
merging. Checking `composite_schedule` against it at every second of a window catches errors in the
breakpoint enumeration, the whole-second rounding, the clipping and the merging.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec import UNSET

from services.simulator.schedule import limit_at
from shared.ocpp.v16.messages import ChargingProfile, ChargingSchedule, ChargingSchedulePeriod
from shared.smartcharging.composite import InstalledProfile, Period, composite_schedule

T0 = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)  # a Monday
_ids = iter(range(1, 1_000_000))

Purpose = Literal["ChargePointMaxProfile", "TxDefaultProfile", "TxProfile"]
Kind = Literal["Absolute", "Recurring", "Relative"]
Recurrency = Literal["Daily", "Weekly"]


def profile(
    purpose: Purpose,
    periods: Sequence[tuple[int, float] | tuple[int, float, int]],
    *,
    connector_id: int = 1,
    stack_level: int = 0,
    kind: Kind = "Absolute",
    recurrency: Recurrency | None = None,
    start_schedule: datetime | None = T0,
    duration: int | None = None,
    unit: Literal["A", "W"] = "A",
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    profile_tx_id: int | None = None,
    tx_id: int | None = None,
    tx_start: datetime | None = None,
) -> InstalledProfile:
    """Build an InstalledProfile tersely; periods are (startPeriod, limit[, numberPhases])."""
    schedule_periods = [
        ChargingSchedulePeriod(start_period=p[0], limit=p[1], number_phases=p[2] if len(p) == 3 else UNSET)
        for p in periods
    ]
    schedule = ChargingSchedule(
        charging_rate_unit=unit,
        charging_schedule_period=schedule_periods,
        duration=UNSET if duration is None else duration,
        start_schedule=UNSET if start_schedule is None or kind == "Relative" else start_schedule,
    )
    return InstalledProfile(
        connector_id=connector_id,
        profile=ChargingProfile(
            charging_profile_id=next(_ids),
            stack_level=stack_level,
            charging_profile_purpose=purpose,
            charging_profile_kind=kind,
            charging_schedule=schedule,
            transaction_id=UNSET if profile_tx_id is None else profile_tx_id,
            recurrency_kind=UNSET if recurrency is None else recurrency,
            valid_from=UNSET if valid_from is None else valid_from,
            valid_to=UNSET if valid_to is None else valid_to,
        ),
        transaction_id=tx_id,
        transaction_start=tx_start,
    )


def compose(profiles: Sequence[InstalledProfile], **kwargs: Any) -> list[tuple[int, int, float, int | None]]:
    """`composite_schedule` with defaults (connector 1, T0, one hour, A) as comparable tuples."""
    args: dict[str, Any] = {"connector_id": 1, "start": T0, "duration": 3600, "unit": "A"} | kwargs
    return [
        (p.start_offset, p.end_offset, p.limit, p.number_phases) for p in composite_schedule(profiles, **args)
    ]


# --- brute force -------------------------------------------------------------------------------------


# --- hand-written cases ------------------------------------------------------------------------------


def test_no_profiles_no_periods() -> None:
    assert compose([]) == []


def test_window_clips_and_validates() -> None:
    p = profile("TxDefaultProfile", [(0, 16.0), (1800, 8.0)])
    assert compose([p], start=T0 + timedelta(minutes=20), duration=900) == [
        (0, 600, 16.0, None),
        (600, 900, 8.0, None),
    ]
    assert compose([p], duration=0) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        composite_schedule([p], connector_id=1, start=T0.replace(tzinfo=None), duration=60, unit="A")


def test_higher_stack_level_wins_and_falls_back() -> None:
    base = profile("TxDefaultProfile", [(0, 32.0)], stack_level=0)
    holiday = profile(
        "TxDefaultProfile", [(0, 6.0)], stack_level=1, start_schedule=T0 + timedelta(minutes=10), duration=600
    )
    assert compose([holiday, base]) == [
        (0, 600, 32.0, None),
        (600, 1200, 6.0, None),
        (1200, 3600, 32.0, None),
    ]


def test_equal_stack_levels_go_to_the_later_installed() -> None:
    first = profile("TxDefaultProfile", [(0, 10.0)])
    second = profile("TxDefaultProfile", [(0, 20.0)])
    assert compose([first, second]) == [(0, 3600, 20.0, None)]
    assert compose([second, first]) == [(0, 3600, 10.0, None)]


def test_tx_profile_overrides_tx_default_only_where_active() -> None:
    default = profile("TxDefaultProfile", [(0, 6.0)], connector_id=0)
    tx = profile("TxProfile", [(0, 32.0)], stack_level=0, duration=1800, profile_tx_id=7)
    assert compose([default, tx], transaction_id=7) == [(0, 1800, 32.0, None), (1800, 3600, 6.0, None)]
    # Another transaction, or none at all: the TxProfile does not apply.
    assert compose([default, tx], transaction_id=8) == [(0, 3600, 6.0, None)]
    assert compose([default, tx]) == [(0, 3600, 6.0, None)]


def test_tx_profile_waits_for_transaction_start_and_binding() -> None:
    tx = profile("TxProfile", [(0, 10.0)], tx_id=3)
    assert compose([tx], transaction_id=3, transaction_start=T0 + timedelta(seconds=100)) == [
        (100, 3600, 10.0, None)
    ]
    assert compose([tx], transaction_id=4) == []
    # TxProfiles live on their connector only.
    assert compose([tx], connector_id=2, transaction_id=3) == []


def test_charge_point_max_takes_the_minimum_on_every_connector() -> None:
    cp_max = profile("ChargePointMaxProfile", [(0, 20.0), (1200, 10.0)], connector_id=0)
    default = profile("TxDefaultProfile", [(0, 16.0)], connector_id=0)
    expected = [(0, 1200, 16.0, None), (1200, 3600, 10.0, None)]
    assert compose([cp_max, default]) == expected
    assert compose([cp_max, default], connector_id=2) == expected
    # Alone it still limits; on a connector other than 0 it is ignored.
    assert compose([cp_max]) == [(0, 1200, 20.0, None), (1200, 3600, 10.0, None)]
    assert compose([profile("ChargePointMaxProfile", [(0, 5.0)], connector_id=1)]) == []


def test_connector_zero_reports_only_the_station_limit() -> None:
    cp_max = profile("ChargePointMaxProfile", [(0, 40.0)], connector_id=0)
    default = profile("TxDefaultProfile", [(0, 16.0)], connector_id=0)
    assert compose([cp_max, default], connector_id=0) == [(0, 3600, 40.0, None)]


def test_connector_tx_default_replaces_connector_zero_ones() -> None:
    everywhere = profile("TxDefaultProfile", [(0, 16.0)], connector_id=0, stack_level=5)
    mine = profile("TxDefaultProfile", [(0, 10.0)], connector_id=1, duration=600)
    # Replaced for connector 1 even outside the own profile's duration (no fallback to connector 0) ...
    assert compose([everywhere, mine]) == [(0, 600, 10.0, None)]
    # ... but connector 2 keeps the connector 0 profile.
    assert compose([everywhere, mine], connector_id=2) == [(0, 3600, 16.0, None)]


def test_daily_recurrence_wraps_midnight() -> None:
    night = profile(
        "TxDefaultProfile",
        [(0, 32.0), (4 * 3600, 16.0)],
        kind="Recurring",
        recurrency="Daily",
        start_schedule=datetime(2025, 3, 1, 22, 0, tzinfo=UTC),
        duration=8 * 3600,  # 22:00 .. 06:00
    )
    start = datetime(2025, 3, 10, 21, 0, tzinfo=UTC)
    assert compose([night], start=start, duration=12 * 3600) == [
        (3600, 5 * 3600, 32.0, None),
        (5 * 3600, 9 * 3600, 16.0, None),
    ]
    # Before the first occurrence the schedule does not run backwards.
    assert compose([night], start=datetime(2025, 3, 1, 0, 0, tzinfo=UTC), duration=86_400) == [
        (22 * 3600, 86_400, 32.0, None)
    ]


def test_recurrence_cuts_periods_beyond_its_length() -> None:
    daily = profile(
        "TxDefaultProfile",
        [(0, 10.0), (86_400 + 3600, 1.0)],  # the second period lies beyond one day: never executed
        kind="Recurring",
        recurrency="Daily",
        start_schedule=T0 - timedelta(days=3),
    )
    assert compose([daily], duration=2 * 86_400) == [(0, 2 * 86_400, 10.0, None)]


def test_weekly_recurrence() -> None:
    weekend = profile(
        "TxDefaultProfile",
        [(0, 6.0), (5 * 86_400, 32.0)],  # Monday..Friday 6 A, weekend 32 A
        kind="Recurring",
        recurrency="Weekly",
        start_schedule=datetime(2025, 1, 6, tzinfo=UTC),  # a Monday
    )
    start = datetime(2025, 3, 14, 23, 0, tzinfo=UTC)  # Friday 23:00
    assert compose([weekend], start=start, duration=3 * 86_400) == [
        (0, 3600, 6.0, None),
        (3600, 2 * 86_400 + 3600, 32.0, None),
        (2 * 86_400 + 3600, 3 * 86_400, 6.0, None),
    ]


def test_recurring_without_kind_never_applies() -> None:
    assert compose([profile("TxDefaultProfile", [(0, 6.0)], kind="Recurring")]) == []


def test_relative_runs_from_transaction_start() -> None:
    rel = profile("TxProfile", [(0, 8.0), (600, 16.0)], kind="Relative", duration=1200)
    tx_start = T0 - timedelta(seconds=300)
    assert compose([rel], transaction_id=1, transaction_start=tx_start) == [
        (0, 300, 8.0, None),
        (300, 900, 16.0, None),
    ]
    # A relative TxDefault runs from the transaction start as well; with no transaction it cannot apply.
    rel_default = profile("TxDefaultProfile", [(0, 5.0)], kind="Relative", duration=60)
    assert compose([rel_default], transaction_start=T0 + timedelta(seconds=30)) == [(30, 90, 5.0, None)]
    assert compose([rel_default]) == []


def test_installed_transaction_start_anchors_its_own_relative_profile() -> None:
    rel = profile(
        "TxProfile", [(0, 8.0)], kind="Relative", duration=600, tx_id=2, tx_start=T0 + timedelta(seconds=60)
    )
    assert compose([rel], transaction_id=2) == [(60, 660, 8.0, None)]


def test_absolute_without_start_schedule_starts_with_the_transaction() -> None:
    p = profile("TxDefaultProfile", [(0, 8.0)], start_schedule=None, duration=100)
    assert compose([p], transaction_start=T0 + timedelta(seconds=10)) == [(10, 110, 8.0, None)]
    assert compose([p]) == []


def test_valid_from_and_valid_to_are_half_open() -> None:
    p = profile(
        "TxDefaultProfile",
        [(0, 12.0)],
        valid_from=T0 + timedelta(seconds=60),
        valid_to=T0 + timedelta(seconds=120),
    )
    assert compose([p]) == [(60, 120, 12.0, None)]


def test_fractional_second_changes_show_from_the_next_whole_second() -> None:
    p = profile("TxDefaultProfile", [(0, 12.0)], valid_from=T0 + timedelta(seconds=59, microseconds=1))
    assert compose([p]) == [(60, 3600, 12.0, None)]


def test_amps_and_watts_convert_with_phases_and_voltage() -> None:
    watts = profile("TxDefaultProfile", [(0, 11040.0), (600, 3680.0, 1)], unit="W")
    assert compose([watts]) == [(0, 600, 16.0, None), (600, 3600, 16.0, 1)]
    amps = profile("ChargePointMaxProfile", [(0, 10.0, 1), (600, 10.0)], connector_id=0)
    assert compose([amps], unit="W", voltage=120.0) == [(0, 600, 1200.0, 1), (600, 3600, 3600.0, None)]
    assert compose([amps], unit="W", default_phases=1) == [(0, 600, 2300.0, 1), (600, 3600, 2300.0, None)]


def test_minimum_is_taken_after_conversion() -> None:
    cp_max = profile("ChargePointMaxProfile", [(0, 7360.0)], connector_id=0, unit="W")
    default = profile("TxDefaultProfile", [(0, 16.0, 1)])  # 16 A on one phase = 3680 W
    assert compose([cp_max, default], unit="W") == [(0, 3600, 3680.0, 1)]
    # In amps the station limit (no numberPhases, so 3 assumed) is 7360 / 690 ≈ 10.67 A < 16 A.
    [(start, end, limit, phases)] = compose([cp_max, default], unit="A")
    assert (start, end, phases) == (0, 3600, None)
    assert limit == pytest.approx(7360 / 690)


def test_equal_neighbours_merge_but_gaps_and_phases_do_not() -> None:
    a = profile("TxDefaultProfile", [(0, 10.0), (300, 10.0), (600, 10.0, 1), (900, 10.0)], duration=1200)
    b = profile("TxDefaultProfile", [(0, 10.0)], start_schedule=T0 + timedelta(seconds=1500), stack_level=1)
    assert compose([a, b]) == [
        (0, 600, 10.0, None),
        (600, 900, 10.0, 1),
        (900, 1200, 10.0, None),
        (1500, 3600, 10.0, None),
    ]
    # A TxProfile with the same value as the TxDefault it replaces merges with it.
    tx = profile("TxProfile", [(0, 10.0)], start_schedule=T0 + timedelta(seconds=1200), duration=300)
    assert compose([a, b, tx], transaction_id=1) == [
        (0, 600, 10.0, None),
        (600, 900, 10.0, 1),
        (900, 3600, 10.0, None),
    ]


# --- property test against the brute force ----------------------------------------------------------

PURPOSES: list[Purpose] = ["ChargePointMaxProfile", "TxDefaultProfile", "TxProfile"]
KINDS: list[Kind] = ["Absolute", "Absolute", "Recurring", "Relative"]
RECURRENCIES: list[Recurrency | None] = ["Daily", "Daily", "Weekly", None]
UNITS: list[Literal["A", "W"]] = ["A", "W"]
# Mostly where each purpose belongs, sometimes where it must be ignored.
DENSE_CONNECTORS = {"ChargePointMaxProfile": [0], "TxDefaultProfile": [0, 1], "TxProfile": [1]}
CONNECTORS = {
    "ChargePointMaxProfile": [0, 0, 0, 1],
    "TxDefaultProfile": [0, 1, 1, 2],
    "TxProfile": [1, 1, 1, 0, 2],
}
ZONES = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]


@st.composite
def instants(draw: st.DrawFn, origin: datetime, low: int, high: int) -> datetime:
    """A time `low..high` seconds from `origin`, sometimes with a fraction of a second, in some zone."""
    micro = draw(st.sampled_from([0, 0, 0, 1, 500_000, 999_999]))
    return (origin + timedelta(seconds=draw(st.integers(low, high)), microseconds=micro)).astimezone(
        draw(st.sampled_from(ZONES))
    )


def rarely_none(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """None one time in four: absent optional fields matter, but mostly remove all limits."""
    return st.sampled_from([True, True, True, False]).flatmap(lambda keep: strategy if keep else st.none())


def often_none(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """None three times in four (None first, so that shrinking removes the field)."""
    return st.sampled_from([False, False, False, True]).flatmap(lambda keep: strategy if keep else st.none())


@st.composite
def installed_profiles(
    draw: st.DrawFn, origin: datetime, unit: Literal["A", "W"], dense: bool
) -> InstalledProfile:
    """A random profile; `dense` keeps it on a connector and transaction where it applies."""
    purpose: Purpose = draw(st.sampled_from(PURPOSES))
    kind: Kind = draw(st.sampled_from(KINDS))
    recurrency: Recurrency | None = draw(st.sampled_from(RECURRENCIES)) if kind == "Recurring" else None
    if recurrency is not None:
        start_schedule = draw(rarely_none(instants(origin, -8 * 86_400, 3 * 3600)))
    else:
        start_schedule = draw(rarely_none(instants(origin, -2 * 3600, 3600)))
    high = 640 if unit == "A" else 440_000
    n_periods = draw(st.integers(1, 4))
    starts = [0, *draw(st.lists(st.integers(1, 7199), min_size=n_periods - 1, max_size=n_periods - 1))]
    periods: list[tuple[int, float] | tuple[int, float, int]] = []
    for s in starts:
        limit = draw(st.integers(0, high)) / 10
        phases = draw(st.sampled_from([None, 1, 2, 3]))
        periods.append((s, limit) if phases is None else (s, limit, phases))
    return profile(
        purpose,
        periods,
        connector_id=draw(st.sampled_from(DENSE_CONNECTORS[purpose] if dense else CONNECTORS[purpose])),
        stack_level=draw(st.integers(0, 3)),
        kind=kind,
        recurrency=recurrency,
        start_schedule=start_schedule,
        duration=draw(st.none() | st.integers(1, 7199) | st.integers(1800, 7199)),
        unit=unit,
        valid_from=draw(often_none(instants(origin, -3 * 3600, 3 * 3600))),
        valid_to=draw(often_none(instants(origin, -3600, 4 * 3600))),
        profile_tx_id=draw(st.sampled_from([None, None, 1] if dense else [None, None, 1, 2]))
        if purpose == "TxProfile"
        else None,
        tx_id=draw(st.sampled_from([None, None, 1] if dense else [None, None, 1, 2])),
        tx_start=draw(often_none(instants(origin, -2 * 3600, 3600))),
    )


@st.composite
def scenarios(draw: st.DrawFn, dense: bool) -> dict[str, Any]:
    """Profiles and a request; `dense` asks for connector 1 with transaction 1 running."""
    origin = T0.replace(hour=0) + timedelta(seconds=draw(st.integers(0, 86_399)))
    start = draw(instants(origin, 0, 0))
    units = st.sampled_from(UNITS)
    return {
        "profiles": draw(st.lists(installed_profiles(origin, draw(units), dense), min_size=1, max_size=4)),
        "connector_id": 1 if dense else draw(st.sampled_from([0, 1, 1, 1, 1, 2])),
        "start": start,
        "duration": draw(st.integers(1, 3 * 3600) | st.integers(3000, 3 * 3600)),
        "unit": draw(units),
        "voltage": draw(st.sampled_from([230.0, 120.0, 400.0])),
        "default_phases": draw(st.sampled_from([3, 1])),
        "transaction_id": 1 if dense else draw(st.sampled_from([None, 1, 1, 2])),
        "transaction_start": draw(
            instants(origin, -2 * 3600, 3600) if dense else rarely_none(instants(origin, -2 * 3600, 3600))
        ),
    }


def _same(got: tuple[float, int | None] | None, want: tuple[float, int | None] | None) -> bool:
    if got is None or want is None:
        return got is want
    return math.isclose(got[0], want[0], rel_tol=0, abs_tol=1e-6) and got[1] == want[1]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(st.booleans().flatmap(scenarios))
def test_matches_brute_force_every_second(scenario: dict[str, Any]) -> None:
    """Anything the generators produce, dense (connector 1, transaction 1 running) or not."""
    profiles = scenario.pop("profiles")
    result = composite_schedule(profiles, **scenario)
    start, duration = scenario.pop("start"), scenario.pop("duration")

    per_second: list[tuple[float, int | None] | None] = [None] * duration
    previous: Period | None = None
    for period in result:
        assert 0 <= period.start_offset < period.end_offset <= duration
        if previous is not None:
            assert previous.end_offset <= period.start_offset, "sorted, no overlap"
            assert not (
                previous.end_offset == period.start_offset
                and previous.limit == period.limit
                and previous.number_phases == period.number_phases
            ), "adjacent equal periods are merged"
        for second in range(period.start_offset, period.end_offset):
            per_second[second] = (period.limit, period.number_phases)
        previous = period

    for second in range(duration):
        want = limit_at(profiles, start + timedelta(seconds=second), **scenario)
        assert _same(per_second[second], want), f"second {second}: got {per_second[second]}, want {want}"

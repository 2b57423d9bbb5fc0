"""The simulated station's own composite schedule: the spec's rules evaluated the slow, obvious way.

Written independently of shared/smartcharging/composite.py on purpose: one instant at a time,
straight from the profiles, with datetimes, knowing nothing of breakpoints or merging. The station
answers GetCompositeSchedule with it, and the property tests check the system's calculator against
it second by second, so the two implementations keep each other honest.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from msgspec import UNSET

from shared.smartcharging.composite import InstalledProfile


def _own_rate(
    ip: InstalledProfile,
    instant: datetime,
    unit: str,
    voltage: float,
    default_phases: int,
    transaction_start: datetime | None,
) -> tuple[float, int | None] | None:
    """The limit this one profile sets at `instant`, ignoring every other profile."""
    p = ip.profile
    sch = p.charging_schedule
    if p.valid_from is not UNSET and instant < p.valid_from:
        return None
    if p.valid_to is not UNSET and instant >= p.valid_to:
        return None
    tx_start = ip.transaction_start or transaction_start
    origin = (
        tx_start
        if p.charging_profile_kind == "Relative" or sch.start_schedule is UNSET
        else sch.start_schedule
    )
    if origin is None or instant < origin:
        return None
    elapsed = instant - origin
    if p.charging_profile_kind == "Recurring":
        if p.recurrency_kind is UNSET:
            return None
        length = timedelta(days=1 if p.recurrency_kind == "Daily" else 7)
        while elapsed >= length:  # step to the latest occurrence (in big strides, then small)
            elapsed -= length * max(1, elapsed // length - 1)
        if sch.duration is not UNSET and elapsed >= timedelta(seconds=sch.duration):
            return None
    elif sch.duration is not UNSET and elapsed >= timedelta(seconds=sch.duration):
        return None
    chosen = None
    for period in sch.charging_schedule_period:
        if timedelta(seconds=period.start_period) <= elapsed and (
            chosen is None or period.start_period >= chosen.start_period
        ):
            chosen = period
    if chosen is None:
        return None
    phases = None if chosen.number_phases is UNSET else chosen.number_phases
    n = default_phases if phases is None else phases
    limit = chosen.limit
    if sch.charging_rate_unit == "A" and unit == "W":
        limit = limit * voltage * n
    elif sch.charging_rate_unit == "W" and unit == "A":
        limit = limit / (voltage * n)  # same formula as the module, so ties break the same way
    return limit, phases


def limit_at(
    profiles: Sequence[InstalledProfile],
    instant: datetime,
    *,
    connector_id: int,
    unit: str,
    voltage: float = 230.0,
    default_phases: int = 3,
    transaction_id: int | None = None,
    transaction_start: datetime | None = None,
) -> tuple[float, int | None] | None:
    """Composite (limit, numberPhases) at one instant, or None where no profile applies."""
    own_default = any(
        ip.connector_id == connector_id and ip.profile.charging_profile_purpose == "TxDefaultProfile"
        for ip in profiles
    )
    running = transaction_id is not None or transaction_start is not None
    best: dict[str, tuple[int, tuple[float, int | None]]] = {}
    for ip in profiles:
        p = ip.profile
        purpose = p.charging_profile_purpose
        if purpose == "ChargePointMaxProfile":
            if ip.connector_id != 0:
                continue
        elif connector_id == 0:
            continue
        elif purpose == "TxDefaultProfile":
            if ip.connector_id != (connector_id if own_default else 0):
                continue
        else:
            if ip.connector_id != connector_id or not running:
                continue
            if p.transaction_id is not UNSET and p.transaction_id != transaction_id:
                continue
            if ip.transaction_id is not None and ip.transaction_id != transaction_id:
                continue
            started = ip.transaction_start or transaction_start
            if started is not None and instant < started:
                continue
        rate = _own_rate(ip, instant, unit, voltage, default_phases, transaction_start)
        if rate is not None and (purpose not in best or p.stack_level >= best[purpose][0]):
            best[purpose] = (p.stack_level, rate)
    vehicle = best.get("TxProfile", best.get("TxDefaultProfile"))
    station = best.get("ChargePointMaxProfile")
    if vehicle is None:
        return None if station is None else station[1]
    if station is not None and station[1][0] < vehicle[1][0]:
        return station[1]
    return vehicle[1]


def station_schedule(
    profiles: Sequence[InstalledProfile],
    *,
    connector_id: int,
    start: datetime,
    duration: int,
    unit: str,
    transaction_id: int | None,
    transaction_start: datetime | None,
    fallback_limit: float,
) -> list[dict[str, Any]]:
    """GetCompositeSchedule periods second by second; where no profile applies, the station's own
    maximum (a charge point always has a limit)."""
    periods: list[dict[str, Any]] = []
    for second in range(duration):
        found = limit_at(
            profiles,
            start + timedelta(seconds=second),
            connector_id=connector_id,
            unit=unit,
            transaction_id=transaction_id,
            transaction_start=transaction_start,
        )
        limit, phases = found if found is not None else (fallback_limit, None)
        limit = round(limit, 1)
        if periods and periods[-1]["limit"] == limit and periods[-1].get("numberPhases") == phases:
            continue
        period: dict[str, Any] = {"startPeriod": second, "limit": limit}
        if phases is not None:
            period["numberPhases"] = phases
        periods.append(period)
    return periods

"""OCPP 1.6 composite charging schedule (spec 3.13, 5.7), as a pure function.

The CSMS needs the limit a station will apply to a connector without asking the station (for planning,
for checking a GetCompositeSchedule.conf, for the simulator). Everything comes in through parameters:
no clock, no I/O, so the result is reproducible and cheap to test.

How it works: every instant where some profile can change (validity bounds, schedule and occurrence
starts, period starts, schedule ends, transaction start) is a breakpoint; between breakpoints the limit
is constant, so evaluating at each breakpoint and merging equal neighbours gives the exact schedule.

Semantics (where the spec leaves a choice, the choice is marked *choice*):

- Times are handled exactly (microseconds) but reported in whole seconds: a period's value is the
  limit at the instant ``start + start_offset`` seconds; a change at a fractional second shows from the
  next whole second (*choice*: whole-second sampling, as a brute-force second-by-second reading sees it).
- Instants with no applicable profile have no limit and get no period, so the result may have gaps.
  Each period therefore carries ``end_offset`` (exclusive) besides ``start_offset``, ``limit`` and
  ``number_phases``; without it a gap could not be told from a long period (*choice*).
- Validity: ``validFrom <= t < validTo`` (half-open; absent bound = unbounded).
- Schedule anchor: Relative profiles start at the transaction start (``startSchedule`` ignored);
  Absolute and Recurring profiles start at ``startSchedule``, or at the transaction start when it is
  absent (spec 7.13: "If absent the schedule will be relative to start of charging"). A profile with no
  anchor never applies. Nothing applies before its anchor (recurrences do not run backwards).
- A schedule is active from its anchor for ``duration`` seconds (forever when absent). Recurring
  Daily/Weekly repeats every 86 400 / 604 800 s of elapsed time (no DST or calendar logic, *choice*);
  per errata 3.43/3.44 a duration or period beyond the recurrence length is cut off. Recurring without
  ``recurrencyKind`` never applies (*choice*: malformed); ``recurrencyKind`` on other kinds is ignored.
- Within a schedule the period with the greatest ``startPeriod <= elapsed`` applies; before the first
  period (a schedule whose first ``startPeriod`` is not 0, which the errata forbids) nothing applies.
- Per purpose, the active profile with the highest ``stackLevel`` wins; equal stack levels (forbidden by
  the spec) go to the one later in ``profiles``, i.e. the most recently installed (*choice*).
- ChargePointMaxProfile counts only on connector 0 and limits every connector. TxProfile counts only on
  the requested connector (> 0), only while a transaction runs (``transaction_id`` or
  ``transaction_start`` given), only from the transaction start on, and only if every transaction id
  bound to it (the profile's ``transactionId`` and ``InstalledProfile.transaction_id``) equals
  ``transaction_id``. Where a TxProfile is active it replaces TxDefaultProfile for that instant.
- TxDefaultProfile: if the requested connector has any TxDefaultProfile of its own, the connector 0
  ones are ignored for it entirely (spec 3.13.1: "replaced only for that specific connector"; *choice*:
  replacement is by installation, not per instant, so no fallback to connector 0 when the connector's
  own profile is not active).
- Connector 0 requested: only ChargePointMaxProfile counts (the station-wide limit; *choice*, spec 5.7
  asks for the expected total, which needs data we do not have).
- Units: W = A * voltage * phases with phases = the period's ``numberPhases``, else ``default_phases``;
  every period is converted to ``unit`` before taking minima. ``minChargingRate`` is ignored.
- Composite = min(Tx-or-TxDefault limit, ChargePointMax limit). ``number_phases`` of a result period is
  that of the source period giving the minimum (on a tie, the Tx/TxDefault one), None if it has none.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from msgspec import UNSET

from shared.ocpp.v16.messages import ChargingProfile

__all__ = ["InstalledProfile", "Period", "composite_schedule"]

_US = 1_000_000  # microseconds per second; internal time is integer microseconds from `start`
_RECURRENCE_S = {"Daily": 86_400, "Weekly": 604_800}


@dataclass(frozen=True, slots=True)
class InstalledProfile:
    """A profile as installed on a station: where it lives and, for TxProfiles, whose transaction.

    ``transaction_start``, when given, anchors this profile's Relative schedule and gates its TxProfile;
    otherwise the ``transaction_start`` passed to :func:`composite_schedule` is used.
    """

    connector_id: int
    profile: ChargingProfile
    transaction_id: int | None = None
    transaction_start: datetime | None = None


@dataclass(frozen=True, slots=True)
class Period:
    """A constant limit over ``[start_offset, end_offset)`` seconds from the requested start."""

    start_offset: int
    limit: float
    number_phases: int | None
    end_offset: int


@dataclass(frozen=True, slots=True)
class _Level:
    limit: float
    number_phases: int | None


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A profile reduced to integer microseconds from `start` and limits in the requested unit."""

    anchor: int
    duration: int | None  # active length per occurrence, already cut to the recurrence
    recurrence: int | None
    not_before: int | None  # max(validFrom, transaction start for TxProfile)
    valid_to: int | None
    starts: tuple[int, ...]
    levels: tuple[_Level, ...]

    def level_at(self, t: int) -> _Level | None:
        if self.not_before is not None and t < self.not_before:
            return None
        if self.valid_to is not None and t >= self.valid_to:
            return None
        if t < self.anchor:
            return None
        elapsed = t - self.anchor
        if self.recurrence is not None:
            elapsed %= self.recurrence
        if self.duration is not None and elapsed >= self.duration:
            return None
        i = bisect_right(self.starts, elapsed) - 1
        return self.levels[i] if i >= 0 else None

    def breakpoints(self, window: int) -> Iterable[int]:
        """Every instant in [0, window) (and a few outside) where `level_at` may change."""
        for b in (self.not_before, self.valid_to, self.anchor):
            if b is not None:
                yield b
        if self.recurrence is None:
            bases: Iterable[int] = (self.anchor,)
        else:
            first = max(0, (0 - self.anchor) // self.recurrence)
            last = (window - self.anchor) // self.recurrence
            bases = (self.anchor + k * self.recurrence for k in range(first, last + 1))
        for base in bases:
            yield base
            for s in self.starts:
                yield base + s
            if self.duration is not None:
                yield base + self.duration


def _to_us(t: datetime, start: datetime) -> int:
    return (t - start) // timedelta(microseconds=1)


def _convert(limit: float, from_unit: str, to_unit: str, voltage: float, phases: int) -> float:
    if from_unit == to_unit:
        return limit
    if phases <= 0:
        raise ValueError(f"numberPhases must be positive to convert {from_unit} to {to_unit}, got {phases}")
    return limit * voltage * phases if to_unit == "W" else limit / (voltage * phases)


def _prepare(
    installed: InstalledProfile,
    *,
    start: datetime,
    unit: str,
    voltage: float,
    default_phases: int,
    transaction_id: int | None,
    transaction_start: datetime | None,
) -> _Prepared | None:
    """Reduce one profile to integers, or None when it cannot apply at all in this request."""
    p = installed.profile
    schedule = p.charging_schedule
    tx_start = installed.transaction_start if installed.transaction_start is not None else transaction_start
    not_before = None if p.valid_from is UNSET else _to_us(p.valid_from, start)

    if p.charging_profile_purpose == "TxProfile":
        if transaction_id is None and transaction_start is None:
            return None  # no transaction running
        for bound in (p.transaction_id, installed.transaction_id):
            if bound is not UNSET and bound is not None and bound != transaction_id:
                return None
        if tx_start is not None:
            gate = _to_us(tx_start, start)
            not_before = gate if not_before is None else max(not_before, gate)

    recurrence: int | None = None
    if p.charging_profile_kind == "Relative" or schedule.start_schedule is UNSET:
        if tx_start is None:
            return None
        anchor = _to_us(tx_start, start)
    else:
        anchor = _to_us(schedule.start_schedule, start)
    if p.charging_profile_kind == "Recurring":
        if p.recurrency_kind is UNSET:
            return None
        recurrence = _RECURRENCE_S[p.recurrency_kind] * _US

    duration = None if schedule.duration is UNSET else schedule.duration * _US
    if recurrence is not None:
        duration = recurrence if duration is None else min(duration, recurrence)

    periods = sorted(schedule.charging_schedule_period, key=lambda sp: sp.start_period)  # stable: last wins
    levels = []
    for sp in periods:
        phases = None if sp.number_phases is UNSET else sp.number_phases
        limit = _convert(
            sp.limit,
            schedule.charging_rate_unit,
            unit,
            voltage,
            default_phases if phases is None else phases,
        )
        levels.append(_Level(limit, phases))
    return _Prepared(
        anchor=anchor,
        duration=duration,
        recurrence=recurrence,
        not_before=not_before,
        valid_to=None if p.valid_to is UNSET else _to_us(p.valid_to, start),
        starts=tuple(sp.start_period * _US for sp in periods),
        levels=tuple(levels),
    )


def _prevailing(stack: Sequence[_Prepared], t: int) -> _Level | None:
    """The level of the first active profile; `stack` is ordered highest precedence first."""
    for prepared in stack:
        level = prepared.level_at(t)
        if level is not None:
            return level
    return None


def composite_schedule(
    profiles: Iterable[InstalledProfile],
    *,
    connector_id: int,
    start: datetime,
    duration: int,
    unit: Literal["A", "W"],
    voltage: float = 230.0,
    default_phases: int = 3,
    transaction_id: int | None = None,
    transaction_start: datetime | None = None,
) -> list[Period]:
    """The composite schedule for ``connector_id`` over ``[start, start + duration)`` seconds.

    Returns sorted, non-overlapping periods in ``unit``, offsets in seconds from ``start``; adjacent
    periods with equal limit and phases are merged; instants without any limit get no period (see the
    module docstring for the full semantics).
    """
    if start.tzinfo is None or (transaction_start is not None and transaction_start.tzinfo is None):
        raise ValueError("start and transaction_start must be timezone-aware")
    if voltage <= 0 or default_phases <= 0:
        raise ValueError("voltage and default_phases must be positive")
    if duration <= 0:
        return []

    ordered = list(enumerate(profiles))
    own_default = connector_id > 0 and any(
        ip.connector_id == connector_id and ip.profile.charging_profile_purpose == "TxDefaultProfile"
        for _, ip in ordered
    )

    def applies(ip: InstalledProfile) -> bool:
        purpose = ip.profile.charging_profile_purpose
        if purpose == "ChargePointMaxProfile":
            return ip.connector_id == 0
        if connector_id == 0:
            return False
        if purpose == "TxProfile":
            return ip.connector_id == connector_id
        return ip.connector_id == (connector_id if own_default else 0)

    stacks: dict[str, list[_Prepared]] = {
        "ChargePointMaxProfile": [],
        "TxProfile": [],
        "TxDefaultProfile": [],
    }
    # Highest stack level first; among equals, the later-installed one first.
    for _, ip in sorted(ordered, key=lambda e: (e[1].profile.stack_level, e[0]), reverse=True):
        if not applies(ip):
            continue
        prepared = _prepare(
            ip,
            start=start,
            unit=unit,
            voltage=voltage,
            default_phases=default_phases,
            transaction_id=transaction_id,
            transaction_start=transaction_start,
        )
        if prepared is not None:
            stacks[ip.profile.charging_profile_purpose].append(prepared)

    window = duration * _US
    offsets = {0}
    for stack in stacks.values():
        for prepared in stack:
            for b in prepared.breakpoints(window):
                if 0 < b < window:
                    offsets.add(-(-b // _US))  # first whole second at or after the change
    ordered_offsets = sorted(o for o in offsets if o < duration)

    result: list[Period] = []
    for i, offset in enumerate(ordered_offsets):
        t = offset * _US
        vehicle = _prevailing(stacks["TxProfile"], t)
        if vehicle is None:
            vehicle = _prevailing(stacks["TxDefaultProfile"], t)
        station = _prevailing(stacks["ChargePointMaxProfile"], t)
        if vehicle is None or (station is not None and station.limit < vehicle.limit):
            vehicle = station
        if vehicle is None:
            continue
        end = ordered_offsets[i + 1] if i + 1 < len(ordered_offsets) else duration
        last = result[-1] if result else None
        if (
            last is not None
            and last.end_offset == offset
            and last.limit == vehicle.limit
            and last.number_phases == vehicle.number_phases
        ):
            result[-1] = Period(last.start_offset, last.limit, last.number_phases, end)
        else:
            result.append(Period(offset, vehicle.limit, vehicle.number_phases, end))
    return result

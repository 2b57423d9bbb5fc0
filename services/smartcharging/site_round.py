"""One allocation round of a site, the pure part: plan, record, then send (issue 13).

A round has two phases. First the decreases (they make room and are never delayed), then, once
the stations answered them, the first limits and raises that the limits now in force leave room
for. Each phase is planned here from the site's :class:`SiteState`, recorded as a
:class:`LimitsPlanned` event, and only then sent by the adapter (``sites.py``); the answers come
back through :func:`answered`, and :func:`allocation` turns the round into its
:class:`SiteAllocated` event. Because a plan is in the log before its first CALL leaves, an
allocator that dies between a send and its answer hands its successor the limits that may be in
force (:func:`restore` counts each at the higher of the old and the planned value).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from services.smartcharging.allocation import (
    Change,
    Demand,
    Key,
    allocate,
    decreases,
    in_force,
    increases,
)
from services.smartcharging.events import (
    AllocationEntry,
    EntryStatus,
    LimitsPlanned,
    PlannedLimit,
    SiteAllocated,
    SmartChargingEvent,
)
from shared.events.commands import CommandOutcome, OutcomeStatus
from shared.events.sites import SiteRecord

# TxProfiles of the allocator use this id plus the connector id: one profile per connector, replaced
# in place by every new limit, and recognisable among the operator's own profiles.
PROFILE_ID_BASE = 1_900_000_000
# A car drawing less than its share keeps what it draws plus this much (site unit: A, or W / 230).
MARGIN_AMPS = 2.0

Refusal = Literal["rejected", "unreachable"]
# How one SetChargingProfile ended: None (accepted) or a refusal, and why.
Answer = tuple[Refusal | None, str]


@dataclass
class Session:
    """A transaction running on a connector (from ``transactions.events``)."""

    transaction_id: int
    order: int  # its StartTransaction's position in ocpp.frames: the start order


@dataclass
class SiteState:
    """What a site's allocator remembers between rounds (restored from its own events)."""

    applied: dict[Key, tuple[int, float]] = field(default_factory=dict)  # key -> (tx, limit in force)
    refused: dict[Key, tuple[int, Refusal, str]] = field(default_factory=dict)  # key -> (tx, status, why)
    last_raised: dict[Key, int] = field(default_factory=dict)
    drawing: dict[Key, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """One phase of a round: the limits to send, and the event that records them first."""

    changes: list[Change]
    event: LimitsPlanned | None  # None when there is nothing to send
    targets: dict[Key, float]
    due_ms: int | None = None  # when a raise that had to wait becomes due


def demands(
    site: SiteRecord,
    sessions: Mapping[Key, Session],
    site_of: Callable[[str], str | None],
    drawing: Mapping[Key, float],
) -> list[Demand]:
    """The site's running sessions, each capped by the site's per-car and per-station limits."""
    members = [(k, s) for k, s in sessions.items() if site_of(k[0]) == site.site_id]
    per_station: dict[str, int] = {}
    for k, _ in members:
        per_station[k[0]] = per_station.get(k[0], 0) + 1
    out = []
    for k, s in members:
        cap = site.station_max
        if k[0] in site.station_limits:
            cap = min(cap, site.station_limits[k[0]] / per_station[k[0]])
        out.append(Demand(k, s.transaction_id, s.order, site.min_charging_rate, cap, drawing.get(k)))
    return out


def forget_ended(state: SiteState, live: Mapping[Key, int]) -> None:
    """What belongs to transactions that ended (or were replaced on their connector) is forgotten."""
    for table in (state.applied, state.refused):
        for k in [k for k, v in table.items() if live.get(k) != v[0]]:
            del table[k]
    for k in [k for k in (*state.last_raised, *state.drawing) if k not in live]:
        state.last_raised.pop(k, None)
        state.drawing.pop(k, None)


def _margin(site: SiteRecord) -> float:
    return MARGIN_AMPS if site.unit == "A" else MARGIN_AMPS * site.voltage * site.phases


def _applied(state: SiteState) -> dict[Key, float]:
    return {k: v[1] for k, v in state.applied.items()}


def _planned(site: SiteRecord, changes: list[Change], now_ms: int) -> LimitsPlanned | None:
    if not changes:
        return None
    limits = [
        PlannedLimit(
            station_id=c.key[0], connector_id=c.key[1], transaction_id=c.transaction_id, limit=c.limit
        )
        for c in changes
    ]
    return LimitsPlanned(site_id=site.site_id, at_ms=now_ms, limits=limits)


def plan_decreases(site: SiteRecord, found: list[Demand], state: SiteState, now_ms: int) -> Plan:
    """The round's fair shares, and the limits to lower at once to make room for them."""
    refused = {d.key for d in found if d.key in state.refused}
    managed = [d for d in found if d.key not in refused]
    applied = _applied(state)
    forced = in_force(found, applied, refused)
    targets = allocate(site.grid_limit - sum(forced[k] for k in refused), managed, _margin(site))
    # A session waiting for its first limit needs the exact room: no deadband on decreases then.
    waiting_first = any(d.key not in applied for d in managed)
    changes = decreases(managed, targets, applied, 0.0 if waiting_first else site.deadband)
    return Plan(changes, _planned(site, changes, now_ms), targets)


def plan_increases(
    site: SiteRecord, found: list[Demand], state: SiteState, targets: dict[Key, float], now_ms: int
) -> Plan:
    """First limits and raises into the headroom the limits in force (after the decreases) leave."""
    refused = {d.key for d in found if d.key in state.refused}
    changes, due = increases(
        site.grid_limit,
        found,
        targets,
        _applied(state),
        refused,
        state.last_raised,
        now_ms,
        int(site.min_interval_s * 1000),
        site.deadband,
    )
    return Plan(changes, _planned(site, changes, now_ms), targets, due)


def profile_request(site: SiteRecord, change: Change) -> dict[str, Any]:
    """The SetChargingProfile payload of one limit: a relative TxProfile of the running transaction
    (OCPP 1.6 section 3.13.1, 5.16), one per connector, replaced in place by the next limit."""
    return {
        "connectorId": change.key[1],
        "csChargingProfiles": {
            "chargingProfileId": PROFILE_ID_BASE + change.key[1],
            "transactionId": change.transaction_id,
            "stackLevel": site.stack_level,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": site.unit,
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": round(change.limit, 1)}],
            },
        },
    }


def answer_of(outcome: CommandOutcome) -> Answer:
    """How the station took its limit: accepted, refused (its answer, a CALLERROR, an invalid
    response) or unreachable (no answer, not connected)."""
    if outcome.status is OutcomeStatus.RESULT:
        answer = msgspec.json.decode(outcome.payload)
        status = answer.get("status") if isinstance(answer, dict) else None
        return (None, "") if status == "Accepted" else ("rejected", f"station answered {status}")
    if outcome.status is OutcomeStatus.ERROR:
        return "rejected", f"CALLERROR {outcome.error_code}: {outcome.error_description}"
    if outcome.status is OutcomeStatus.INVALID:
        return "rejected", outcome.error_description
    return "unreachable", outcome.error_description or outcome.status.value


def answered(
    state: SiteState, changes: Iterable[Change], answers: Iterable[Answer], raised_at: int | None = None
) -> list[tuple[Change, Refusal, str]]:
    """Apply the stations' answers to the state; returns the refusals (each counts at its cap now)."""
    refusals = []
    for change, (status, reason) in zip(changes, answers, strict=True):
        if status is None:
            state.applied[change.key] = (change.transaction_id, change.limit)
            if raised_at is not None:
                state.last_raised[change.key] = raised_at
        else:
            state.refused[change.key] = (change.transaction_id, status, reason)
            refusals.append((change, status, reason))
    return refusals


def allocation(
    site: SiteRecord, state: SiteState, found: list[Demand], targets: Mapping[Key, float], now_ms: int
) -> SiteAllocated:
    """What the round decided, for each session: its share, the limit in force, who refused."""
    entries = []
    for d in sorted(found, key=lambda d: d.key):
        applied = state.applied.get(d.key)
        refused = state.refused.get(d.key)
        target = targets.get(d.key)
        status: EntryStatus = "limited"
        if refused is not None:
            status = refused[1]
        elif target == 0:
            status = "waiting"
        entries.append(
            AllocationEntry(
                station_id=d.key[0],
                connector_id=d.key[1],
                transaction_id=d.transaction_id,
                target=target,
                limit=applied[1] if applied is not None else None,
                status=status,
                reason=refused[2] if refused is not None else None,
                drawing=d.drawing,
            )
        )
    return SiteAllocated(
        site_id=site.site_id, at_ms=now_ms, grid_limit=site.grid_limit, unit=site.unit, entries=entries
    )


def decided_the_same(previous: SiteAllocated | None, event: SiteAllocated) -> bool:
    """Whether ``event`` decides nothing new (what cars happened to draw aside): then it is not
    recorded, or meter values would flood the topic."""
    return previous is not None and _decisions(previous) == _decisions(event)


def _decisions(event: SiteAllocated) -> tuple[object, ...]:
    return (
        event.grid_limit,
        event.unit,
        tuple(msgspec.structs.replace(e, drawing=None) for e in event.entries),
    )


@dataclass
class History:
    """A site's own events since (and including) its newest :class:`SiteAllocated`."""

    allocated: SiteAllocated | None = None
    planned: list[LimitsPlanned] = field(default_factory=list)


def remember(history: History, event: SmartChargingEvent) -> None:
    """Evolve a site's history with one of its events (read back, or just recorded)."""
    if isinstance(event, SiteAllocated):
        history.allocated, history.planned = event, []
    else:
        history.planned.append(event)


def restore(history: History) -> SiteState:
    """The state a new allocator continues from: the newest allocation, then every limit planned
    after it, whose answer may never have been recorded. Such a limit may be in force or not: a
    changed limit counts at the higher of the two (a raise may have been taken, a decrease may not),
    so the sum in force is overestimated, never under; a first limit stays unconfirmed and is sent
    again (the same profile id: it replaces itself if the station did take it)."""
    state = SiteState()
    if history.allocated is not None:
        for e in history.allocated.entries:
            key = (e.station_id, e.connector_id)
            if e.limit is not None:
                state.applied[key] = (e.transaction_id, e.limit)
            if e.status == "rejected" or e.status == "unreachable":
                state.refused[key] = (e.transaction_id, e.status, e.reason or "")
    for planned in history.planned:
        for p in planned.limits:
            key = (p.station_id, p.connector_id)
            current = state.applied.get(key)
            if current is not None and current[0] == p.transaction_id and p.limit > current[1]:
                state.applied[key] = (p.transaction_id, p.limit)
    return state

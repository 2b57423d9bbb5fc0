"""Domain events of the smartcharging service, on ``smartcharging.events`` (key = site id).

The limits themselves travel as SetChargingProfile CALLs and are durable in ``ocpp.frames``.
Before it sends any, the site allocator records what it is about to send (:class:`LimitsPlanned`):
a process that dies between the send and the answer leaves a limit that may or may not be in
force, and its successor must know that. After each round it records what it *decided*
(:class:`SiteAllocated`): every session's target, the limit in force, and which stations refused.
A restarted allocator continues from the newest of these instead of re-sending every limit.
Versioned by ``v``.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from shared.events.sites import Unit
from shared.events.versioned import Family, VersionedDecoder

EntryStatus = Literal["limited", "waiting", "rejected", "unreachable"]


class AllocationEntry(msgspec.Struct, kw_only=True, omit_defaults=True):
    station_id: str
    connector_id: int
    transaction_id: int
    # The fair share computed this round; None for a session whose station refused its limit.
    target: float | None = None
    # The limit in force (accepted by the station); None while it has none.
    limit: float | None = None
    status: EntryStatus = "limited"
    # Why a station's limit is not in force (its answer, a CALLERROR, a timeout).
    reason: str | None = None
    drawing: float | None = None


class SiteAllocated(msgspec.Struct, tag="allocated", tag_field="type", kw_only=True, omit_defaults=True):
    v: int = 1
    site_id: str
    at_ms: int
    grid_limit: float
    unit: Unit
    entries: list[AllocationEntry] = []


class PlannedLimit(msgspec.Struct, kw_only=True):
    station_id: str
    connector_id: int
    transaction_id: int
    limit: float


class LimitsPlanned(msgspec.Struct, tag="planned", tag_field="type", kw_only=True, omit_defaults=True):
    """The TxProfile limits a round is about to send (before the first is sent)."""

    v: int = 1
    site_id: str
    at_ms: int
    limits: list[PlannedLimit] = []


SmartChargingEvent = SiteAllocated | LimitsPlanned
SMARTCHARGING = Family("smartcharging.events")
event_decoder = VersionedDecoder(SMARTCHARGING, SmartChargingEvent)

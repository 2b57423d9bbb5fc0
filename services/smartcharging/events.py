"""Domain events of the smartcharging service, on ``smartcharging.events`` (key = site id).

The limits themselves travel as SetChargingProfile CALLs and are durable in ``ocpp.frames``; these
events record what the site allocator *decided* after each round: every session's target, the
limit in force, and which stations refused. A restarted allocator continues from the newest one
instead of re-sending every limit. Versioned by ``v``.
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


SmartChargingEvent = SiteAllocated
SMARTCHARGING = Family("smartcharging.events")
event_decoder = VersionedDecoder(SMARTCHARGING, SmartChargingEvent)

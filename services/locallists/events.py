"""Events of background local-list pushes, on ``locallists.events`` (key = push id; ADR 0019).

The operator API records :class:`PushRequested`; the push runner records :class:`StationPushed`
for each station and :class:`PushFinished` at the end. Versioned by ``v``.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from shared.events.versioned import Family, VersionedDecoder

SERVICE = "locallists"


class PushRequested(msgspec.Struct, tag="push_requested", tag_field="type", kw_only=True):
    v: int = 1
    push_id: str
    station_ids: list[str]
    force: Literal["Full"] | None = None
    at_ms: int


class StationPushed(msgspec.Struct, tag="station_pushed", tag_field="type", kw_only=True):
    v: int = 1
    push_id: str
    station_id: str
    # What the pusher reports for the station (status, updateType, listVersion, detail, ...).
    result: dict[str, Any]
    at_ms: int


class PushFinished(msgspec.Struct, tag="push_finished", tag_field="type", kw_only=True):
    v: int = 1
    push_id: str
    at_ms: int


PushEvent = PushRequested | StationPushed | PushFinished
PUSHES = Family("locallists.events")
push_decoder: VersionedDecoder[PushEvent] = VersionedDecoder(PUSHES, PushEvent)

"""Which id tags belong on local authorization lists: ``csms.locallists`` (compacted, key = scope).

A scope is ``all`` (every station), ``site:<site>`` (stations registered with that site) or
``station:<id>``; a station's list is the union of the three that apply to it. Written by the
operator API; a tombstone removes a scope's definition. The idTagInfo of each entry comes from the id
tags registry (``csms.idtags``) when the list is pushed; a tag missing there is not sent.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from shared.events.idtags import IdTagRecord, id_tag_info
from shared.events.versioned import Family, VersionedDecoder
from shared.ocpp.v16 import codec


class LocalListDefinition(msgspec.Struct, kw_only=True, omit_defaults=True):
    v: int = 1
    scope: str
    id_tags: list[str]
    at_ms: int = 0


DEFINITIONS = Family("csms.locallists")
definition_decoder = VersionedDecoder(DEFINITIONS, LocalListDefinition)


def scopes_of(station_id: str, site: str | None) -> list[str]:
    return ["all", *([f"site:{site}"] if site else []), f"station:{station_id}"]


def desired_entries(
    tags: set[str], record_of: dict[str, IdTagRecord | None], now: datetime
) -> dict[str, dict[str, object]]:
    """idTag -> idTagInfo (as sent) for the tags the registry knows; the verdict as of ``now``."""
    entries: dict[str, dict[str, object]] = {}
    for tag in sorted(tags):
        record = record_of.get(tag)
        if record is not None:
            entries[tag] = msgspec.json.decode(codec.encode(id_tag_info(record, now)))
    return entries

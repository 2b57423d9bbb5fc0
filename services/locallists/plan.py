"""What to send a station so its local authorization list becomes the desired one: pure.

Inputs: the desired entries (id tag -> idTagInfo as JSON), what the station holds as far as we know
(version and entries, or unknown), the version it just reported, and its SendLocalListMaxLength /
LocalAuthListMaxLength when it reported them. Output: the SendLocalList requests, in order.

- The station's reported version is the truth: a Differential is only built on entries we know it
  holds *at that version*; otherwise (empty list, never pushed, another version, a mismatch) Full.
- A Differential carries only what changed: added or changed tags with their idTagInfo, removed
  tags without one (OCPP 1.6 5.15).
- Each message has at most SendLocalListMaxLength entries; a longer update is a Full with the first
  part followed by Differentials, each with the next version. A list longer than
  LocalAuthListMaxLength is refused: the station could not hold it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shared.ocpp.v16.constraints import INT32_MAX

Entries = Mapping[str, dict[str, Any]]  # id tag -> idTagInfo (camelCase JSON)
UpdateType = Literal["Full", "Differential"]


@dataclass(frozen=True)
class Held:
    """What the station holds as far as the log tells: ``entries`` None = version known, content not."""

    list_version: int
    entries: Entries | None


@dataclass(frozen=True)
class Send:
    list_version: int
    update_type: UpdateType
    # (idTag, idTagInfo or None = remove)
    entries: list[tuple[str, dict[str, Any] | None]]

    def payload(self) -> dict[str, Any]:
        return {
            "listVersion": self.list_version,
            "updateType": self.update_type,
            "localAuthorizationList": [
                {"idTag": tag, **({"idTagInfo": info} if info is not None else {})}
                for tag, info in self.entries
            ],
        }


@dataclass(frozen=True)
class Plan:
    sends: list[Send]
    # Why nothing is sent (with ``sends`` empty): "UpToDate", "NotSupported", "ListTooLong".
    outcome: str | None = None
    detail: str = ""


def changes(held: Entries, desired: Entries) -> list[tuple[str, dict[str, Any] | None]]:
    """Only what differs: new or changed tags with their info, then removed tags (no info)."""
    updated = [(tag, info) for tag, info in sorted(desired.items()) if held.get(tag) != info]
    removed: list[tuple[str, dict[str, Any] | None]] = [
        (tag, None) for tag in sorted(held) if tag not in desired
    ]
    return updated + removed


def plan(
    desired: Entries,
    reported_version: int,
    held: Held | None,
    *,
    force: UpdateType | None = None,
    max_send: int | None = None,
    max_total: int | None = None,
) -> Plan:
    """The requests that bring a station reporting ``reported_version`` to ``desired``."""
    if reported_version < 0:
        return Plan([], "NotSupported", "GetLocalListVersion answered -1: no local list on this station")
    if max_total is not None and len(desired) > max_total:
        return Plan([], "ListTooLong", f"{len(desired)} entries exceed LocalAuthListMaxLength {max_total}")
    base = max(reported_version, held.list_version if held is not None else 0)
    # Version 0 is an empty list: the first list a station gets is a Full one (as the OCTT expects).
    knows = (
        reported_version > 0
        and held is not None
        and held.entries is not None
        and held.list_version == reported_version
    )
    if force != "Full" and knows:
        assert held is not None and held.entries is not None
        diff = changes(held.entries, desired)
        if not diff:
            return Plan([], "UpToDate", f"the station holds version {reported_version} with these entries")
        return Plan(_chunks("Differential", diff, base, max_send))
    full: list[tuple[str, dict[str, Any] | None]] = sorted(desired.items())
    return Plan(_chunks("Full", full, base, max_send))


def _chunks(
    first: UpdateType, entries: list[tuple[str, dict[str, Any] | None]], base: int, max_send: int | None
) -> list[Send]:
    size = max(1, max_send) if max_send is not None else max(1, len(entries))
    parts = [entries[i : i + size] for i in range(0, len(entries), size)] or [[]]
    if base + len(parts) > INT32_MAX:
        base = 0  # a version is only compared for equality and order by the station; wrap, Full first
        first = "Full"
    return [Send(base + i + 1, first if i == 0 else "Differential", part) for i, part in enumerate(parts)]


def apply(held: Entries, send: Send) -> dict[str, dict[str, Any]]:
    """What the station holds after accepting ``send`` (Full replaces, Differential patches)."""
    result = {} if send.update_type == "Full" else dict(held)
    for tag, info in send.entries:
        if info is None:
            result.pop(tag, None)
        else:
            result[tag] = info
    return result

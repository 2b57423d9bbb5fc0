"""Background pushes, the pure part: their state, ``evolve``, and what the runner decides.

A push is done for a station once a :class:`StationPushed` says so, whatever the result: a station
that failed is reported, not retried (the operator pushes again). A runner that took over skips
what its predecessor recorded; pushing a station twice is harmless (the second is UpToDate).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from services.locallists.events import PushEvent, PushFinished, PushRequested, StationPushed
from services.locallists.plan import UpdateType
from shared.decision import Decision


@dataclass
class Push:
    push_id: str
    station_ids: list[str]
    force: UpdateType | None
    done: set[str] = field(default_factory=set)
    finished: bool = False


class PushResult(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """What pushing one station's list did: the API's answer to a push to one station, and each
    station's entry in a background push (stored as is in ``StationPushed.result``)."""

    station_id: str
    entries: int | None = None  # how many entries the station's list should hold
    # Accepted / UpToDate (it holds the list), the station's SendLocalList answer, a planning outcome
    # (e.g. TooLarge), a command outcome (timeout, not_connected, ...), InvalidAnswer or Error.
    status: str
    update_type: str | None = None
    # The station held another version than we knew: the list was replaced as a whole.
    version_mismatch: bool | None = None
    list_version: int | None = None
    detail: Any = None  # why, when it did not work (text, or the station's answer)
    messages: int | None = None  # SendLocalList CALLs sent


Pushes = dict[str, Push]  # push id -> its progress


@dataclass(frozen=True)
class StationResult:
    """What the pusher reports for one station of a push (status, updateType, listVersion, ...)."""

    push_id: str
    station_id: str
    result: PushResult


def evolve(pushes: Pushes, event: PushEvent) -> None:
    if isinstance(event, PushRequested):
        pushes.setdefault(event.push_id, Push(event.push_id, event.station_ids, event.force))
        return
    push = pushes.get(event.push_id)
    if push is None:
        return
    if isinstance(event, StationPushed):
        push.done.add(event.station_id)
    else:
        push.finished = True


SUCCEEDED = ("Accepted", "UpToDate")  # the station holds the list (UpToDate: nothing had to be sent)


def remaining(push: Push) -> list[str]:
    """The stations of ``push`` nobody recorded a result for yet, in the order requested."""
    return [s for s in push.station_ids if s not in push.done]


def station_pushed(pushes: Pushes, message: StationResult, now_ms: int) -> Decision[None, PushEvent]:
    """A station's result, recorded once (a second result for it, e.g. after a takeover, is not)."""
    push = pushes.get(message.push_id)
    if push is None or push.finished or message.station_id in push.done:
        return None, []
    result = msgspec.to_builtins(message.result)
    pushed = StationPushed(
        push_id=message.push_id, station_id=message.station_id, result=result, at_ms=now_ms
    )
    return None, [pushed]


def finished(pushes: Pushes, push_id: str, now_ms: int) -> Decision[None, PushEvent]:
    """The push ends when every station has its result."""
    push = pushes.get(push_id)
    if push is None or push.finished or remaining(push):
        return None, []
    return None, [PushFinished(push_id=push_id, at_ms=now_ms)]


def failed(station_id: str, error: Exception) -> PushResult:
    """The result of a station whose push raised: reported, so one station never ends the push."""
    return PushResult(station_id=station_id, status="Error", detail=str(error))

"""Background pushes, the pure part: their state, ``evolve``, and what the runner decides.

A push is done for a station once a :class:`StationPushed` says so, whatever the result: a station
that failed is reported, not retried (the operator pushes again). A runner that took over skips
what its predecessor recorded; pushing a station twice is harmless (the second is UpToDate).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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


Pushes = dict[str, Push]  # push id -> its progress


@dataclass(frozen=True)
class StationResult:
    """What the pusher reports for one station of a push (status, updateType, listVersion, ...)."""

    push_id: str
    station_id: str
    result: dict[str, Any]


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


def succeeded(result: dict[str, Any]) -> bool:
    return result.get("status") in SUCCEEDED


def remaining(push: Push) -> list[str]:
    """The stations of ``push`` nobody recorded a result for yet, in the order requested."""
    return [s for s in push.station_ids if s not in push.done]


def station_pushed(pushes: Pushes, message: StationResult, now_ms: int) -> Decision[None, PushEvent]:
    """A station's result, recorded once (a second result for it, e.g. after a takeover, is not)."""
    push = pushes.get(message.push_id)
    if push is None or push.finished or message.station_id in push.done:
        return None, []
    pushed = StationPushed(
        push_id=message.push_id, station_id=message.station_id, result=message.result, at_ms=now_ms
    )
    return None, [pushed]


def finished(pushes: Pushes, push_id: str, now_ms: int) -> Decision[None, PushEvent]:
    """The push ends when every station has its result."""
    push = pushes.get(push_id)
    if push is None or push.finished or remaining(push):
        return None, []
    return None, [PushFinished(push_id=push_id, at_ms=now_ms)]


def failed(station_id: str, error: Exception) -> dict[str, Any]:
    """The result of a station whose push raised: reported, so one station never ends the push."""
    return {"stationId": station_id, "status": "Error", "detail": str(error)}

"""Background local-list pushes, the pure part (services/locallists/pushes.py): each station's
result is recorded once, and the push finishes when every station has one."""

from __future__ import annotations

from services.locallists.events import PushFinished, PushRequested, StationPushed
from services.locallists.pushes import (
    Pushes,
    StationResult,
    evolve,
    failed,
    finished,
    remaining,
    station_pushed,
    succeeded,
)


def requested(*stations: str) -> Pushes:
    pushes: Pushes = {}
    evolve(pushes, PushRequested(push_id="P", station_ids=list(stations), force=None, at_ms=1))
    return pushes


def test_each_station_is_recorded_once_then_the_push_finishes() -> None:
    pushes = requested("A", "B")
    assert remaining(pushes["P"]) == ["A", "B"]
    assert finished(pushes, "P", 5) == (None, [])  # B has no result yet
    reply, events = station_pushed(pushes, StationResult("P", "A", {"status": "Accepted"}), 2)
    assert reply is None
    assert events == [StationPushed(push_id="P", station_id="A", result={"status": "Accepted"}, at_ms=2)]
    for event in events:
        evolve(pushes, event)
    # A second result for A (a runner that took over pushed it again) is not recorded.
    assert station_pushed(pushes, StationResult("P", "A", {"status": "UpToDate"}), 3) == (None, [])
    assert remaining(pushes["P"]) == ["B"]
    for event in station_pushed(pushes, StationResult("P", "B", failed("B", RuntimeError("gone"))), 4)[1]:
        evolve(pushes, event)
    _, done = finished(pushes, "P", 5)
    assert done == [PushFinished(push_id="P", at_ms=5)]
    evolve(pushes, done[0])
    assert pushes["P"].finished and finished(pushes, "P", 6) == (None, [])
    assert station_pushed(pushes, StationResult("P", "C", {}), 7) == (None, [])


def test_an_unknown_push_decides_nothing() -> None:
    pushes: Pushes = {}
    assert station_pushed(pushes, StationResult("X", "A", {}), 1) == (None, [])
    assert finished(pushes, "X", 1) == (None, [])
    evolve(pushes, PushFinished(push_id="X", at_ms=1))
    assert pushes == {}


def test_a_failed_station_is_reported_not_succeeded() -> None:
    result = failed("A", RuntimeError("connection reset"))
    assert result == {"stationId": "A", "status": "Error", "detail": "connection reset"}
    assert not succeeded(result) and succeeded({"status": "UpToDate"}) and succeeded({"status": "Accepted"})

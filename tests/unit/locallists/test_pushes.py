"""Background local-list pushes, the pure part (services/locallists/pushes.py): each station's
result is recorded once, and the push finishes when every station has one."""

from __future__ import annotations

import msgspec

from services.locallists.events import PushFinished, PushRequested, StationPushed
from services.locallists.pushes import (
    SUCCEEDED,
    Pushes,
    PushResult,
    StationResult,
    evolve,
    failed,
    finished,
    remaining,
    station_pushed,
)


def requested(*stations: str) -> Pushes:
    pushes: Pushes = {}
    evolve(pushes, PushRequested(push_id="P", station_ids=list(stations), force=None, at_ms=1))
    return pushes


def test_each_station_is_recorded_once_then_the_push_finishes() -> None:
    pushes = requested("A", "B")
    assert remaining(pushes["P"]) == ["A", "B"]
    assert finished(pushes, "P", 5) == (None, [])  # B has no result yet
    reply, events = station_pushed(
        pushes, StationResult("P", "A", PushResult(station_id="A", entries=2, status="Accepted")), 2
    )
    assert reply is None
    stored = {"stationId": "A", "entries": 2, "status": "Accepted"}  # as the read model keeps it
    assert events == [StationPushed(push_id="P", station_id="A", result=stored, at_ms=2)]
    for event in events:
        evolve(pushes, event)
    # A second result for A (a runner that took over pushed it again) is not recorded.
    assert station_pushed(
        pushes, StationResult("P", "A", PushResult(station_id="A", status="UpToDate")), 3
    ) == (None, [])
    assert remaining(pushes["P"]) == ["B"]
    for event in station_pushed(pushes, StationResult("P", "B", failed("B", RuntimeError("gone"))), 4)[1]:
        evolve(pushes, event)
    _, done = finished(pushes, "P", 5)
    assert done == [PushFinished(push_id="P", at_ms=5)]
    evolve(pushes, done[0])
    assert pushes["P"].finished and finished(pushes, "P", 6) == (None, [])
    assert station_pushed(
        pushes, StationResult("P", "C", PushResult(station_id="C", status="Accepted")), 7
    ) == (None, [])


def test_an_unknown_push_decides_nothing() -> None:
    pushes: Pushes = {}
    assert station_pushed(
        pushes, StationResult("X", "A", PushResult(station_id="A", status="Accepted")), 1
    ) == (None, [])
    assert finished(pushes, "X", 1) == (None, [])
    evolve(pushes, PushFinished(push_id="X", at_ms=1))
    assert pushes == {}


def test_a_failed_station_is_reported_with_why() -> None:
    result = failed("A", RuntimeError("connection reset"))
    assert msgspec.to_builtins(result) == {"stationId": "A", "status": "Error", "detail": "connection reset"}
    assert result.status not in SUCCEEDED

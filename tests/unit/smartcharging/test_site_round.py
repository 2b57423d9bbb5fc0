"""A site's allocation round: planned by pure functions, recorded, then sent (site_round, sites.py)."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from services.smartcharging import site_round
from services.smartcharging.allocation import Change, Demand
from services.smartcharging.events import (
    AllocationEntry,
    EntryStatus,
    LimitsPlanned,
    PlannedLimit,
    SiteAllocated,
    SmartChargingEvent,
)
from services.smartcharging.sites import SiteManager, _Site
from shared.config import Settings
from shared.events.commands import CommandOutcome, OutcomeStatus
from shared.events.sites import SiteRecord

SITE = SiteRecord(site_id="S", grid_limit=32.0, station_max=32.0, min_charging_rate=6.0, deadband=0.5)


def sessions(*stations: str) -> dict[tuple[str, int], site_round.Session]:
    return {(s, 1): site_round.Session(transaction_id=i + 1, order=i) for i, s in enumerate(stations)}


def members(*stations: str) -> list[Demand]:
    return site_round.demands(SITE, sessions(*stations), lambda _: "S", {})


def test_demands_are_the_sites_sessions_capped_by_station_limits() -> None:
    site = msgspec.structs.replace(SITE, station_limits={"B": 20.0})
    found = site_round.demands(
        site,
        {**sessions("A", "B"), ("B", 2): site_round.Session(9, 5), ("X", 1): site_round.Session(7, 6)},
        lambda station: None if station == "X" else "S",
        {("A", 1): 10.0},
    )
    by_key = {d.key: d for d in found}
    assert set(by_key) == {("A", 1), ("B", 1), ("B", 2)}
    assert by_key[("A", 1)].cap == 32.0 and by_key[("A", 1)].drawing == 10.0
    assert by_key[("B", 1)].cap == by_key[("B", 2)].cap == 10.0  # 20 A shared by its two connectors


def test_first_limits_are_planned_as_an_event_before_anything_is_sent() -> None:
    state = site_round.SiteState()
    found = members("A", "B")
    down = site_round.plan_decreases(SITE, found, state, 1000)
    assert down.changes == [] and down.event is None  # nothing in force: nothing to lower
    up = site_round.plan_increases(SITE, found, state, down.targets, 1000)
    assert [(c.key, c.limit) for c in up.changes] == [(("A", 1), 16.0), (("B", 1), 16.0)]
    assert up.event == LimitsPlanned(
        site_id="S",
        at_ms=1000,
        limits=[
            PlannedLimit(station_id="A", connector_id=1, transaction_id=1, limit=16.0),
            PlannedLimit(station_id="B", connector_id=1, transaction_id=2, limit=16.0),
        ],
    )


def test_a_newcomer_is_made_room_for_by_decreases_first() -> None:
    state = site_round.SiteState(applied={("A", 1): (1, 32.0)})
    found = members("A", "B")
    down = site_round.plan_decreases(SITE, found, state, 0)
    assert [(c.key, c.limit) for c in down.changes] == [(("A", 1), 16.0)]
    assert down.event is not None and down.event.limits[0].limit == 16.0
    # Until A's answer is in, there is no room for B: its first limit would be 0 (it waits).
    early = site_round.plan_increases(SITE, found, state, down.targets, 0).changes
    assert [(c.key, c.limit) for c in early] == [(("B", 1), 0.0)]
    assert site_round.answered(state, down.changes, [(None, "")]) == []
    up = site_round.plan_increases(SITE, found, state, down.targets, 0)
    assert [(c.key, c.limit) for c in up.changes] == [(("B", 1), 16.0)]


def test_answers_record_limits_in_force_and_refusals() -> None:
    state = site_round.SiteState()
    changes = [Change(("A", 1), 1, 10.0), Change(("B", 1), 2, 12.0)]
    refusals = site_round.answered(state, changes, [(None, ""), ("rejected", "no")], raised_at=5)
    assert refusals == [(changes[1], "rejected", "no")]
    assert state.applied == {("A", 1): (1, 10.0)} and state.last_raised == {("A", 1): 5}
    assert state.refused == {("B", 1): (2, "rejected", "no")}


def test_what_ended_is_forgotten() -> None:
    state = site_round.SiteState(
        applied={("A", 1): (1, 10.0), ("B", 1): (2, 10.0)},
        refused={("C", 1): (3, "rejected", "")},
        last_raised={("D", 1): 1},
        drawing={("D", 1): 3.0},
    )
    site_round.forget_ended(state, {("A", 1): 1, ("B", 1): 7})  # B runs another transaction, D none
    assert state.applied == {("A", 1): (1, 10.0)}
    assert not state.refused and not state.last_raised and not state.drawing


@pytest.mark.parametrize(
    ("outcome", "answer"),
    [
        (
            CommandOutcome(
                command_id="c",
                station_id="A",
                status=OutcomeStatus.RESULT,
                payload=msgspec.Raw(b'{"status":"Accepted"}'),
            ),
            (None, ""),
        ),
        (
            CommandOutcome(
                command_id="c",
                station_id="A",
                status=OutcomeStatus.RESULT,
                payload=msgspec.Raw(b'{"status":"Rejected"}'),
            ),
            ("rejected", "station answered Rejected"),
        ),
        (
            CommandOutcome(
                command_id="c",
                station_id="A",
                status=OutcomeStatus.ERROR,
                error_code="NotSupported",
                error_description="no",
            ),
            ("rejected", "CALLERROR NotSupported: no"),
        ),
        (
            CommandOutcome(
                command_id="c", station_id="A", status=OutcomeStatus.INVALID, error_description="bad"
            ),
            ("rejected", "bad"),
        ),
        (
            CommandOutcome(command_id="c", station_id="A", status=OutcomeStatus.TIMEOUT),
            ("unreachable", "timeout"),
        ),
    ],
)
def test_how_a_station_took_its_limit(outcome: CommandOutcome, answer: site_round.Answer) -> None:
    assert site_round.answer_of(outcome) == answer


def test_the_profile_is_a_relative_tx_profile_of_the_transaction() -> None:
    request = site_round.profile_request(SITE, Change(("A", 2), 42, 15.04))
    profile = request["csChargingProfiles"]
    assert request["connectorId"] == 2
    assert profile["chargingProfileId"] == site_round.PROFILE_ID_BASE + 2
    assert profile["transactionId"] == 42 and profile["chargingProfilePurpose"] == "TxProfile"
    assert profile["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 15.0}]


def allocated(limit: float | None, status: EntryStatus = "limited") -> SiteAllocated:
    entry = AllocationEntry(
        station_id="A", connector_id=1, transaction_id=1, target=limit, limit=limit, status=status
    )
    return SiteAllocated(site_id="S", at_ms=1, grid_limit=32.0, unit="A", entries=[entry])


def planned(limit: float, station: str = "A", tx: int = 1) -> LimitsPlanned:
    return LimitsPlanned(
        site_id="S",
        at_ms=2,
        limits=[PlannedLimit(station_id=station, connector_id=1, transaction_id=tx, limit=limit)],
    )


def test_a_planned_limit_whose_answer_was_never_recorded_counts_at_the_higher_value() -> None:
    """The allocator died between a send and its answer: a raise may be in force, a decrease may not."""
    for newer, in_force in [(20.0, 20.0), (4.0, 10.0)]:
        history = site_round.History()
        for event in (allocated(10.0), planned(newer)):
            site_round.remember(history, event)
        assert site_round.restore(history).applied == {("A", 1): (1, in_force)}
    # A first limit stays unconfirmed: the successor sends it again.
    history = site_round.History()
    site_round.remember(history, planned(16.0, station="B", tx=2))
    assert site_round.restore(history).applied == {}
    # An allocation after the plan supersedes it.
    site_round.remember(history, allocated(10.0, "rejected"))
    restored = site_round.restore(history)
    assert history.planned == [] and restored.applied == {("A", 1): (1, 10.0)}
    assert restored.refused == {("A", 1): (1, "rejected", "")}


def test_an_allocation_that_decides_nothing_new_is_not_recorded_again() -> None:
    event = allocated(10.0)
    drew = msgspec.structs.replace(
        event, at_ms=9, entries=[msgspec.structs.replace(event.entries[0], drawing=3.0)]
    )
    assert site_round.decided_the_same(event, drew)
    assert not site_round.decided_the_same(None, drew)
    assert not site_round.decided_the_same(event, allocated(12.0))


async def test_a_round_records_each_plan_before_it_sends_a_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapter's order (issue 13): plan (pure), record, send, then the next phase."""
    manager = SiteManager(Settings())
    manager.sites["S"] = (0, SITE)
    manager._sessions.update(sessions("A", "B"))
    monkeypatch.setattr(manager, "_site_of", lambda _: "S")
    happened: list[str] = []

    async def append(event: SmartChargingEvent) -> None:
        manager._remember(event)
        happened.append(f"record {type(event).__name__}")

    async def set_limit(site: SiteRecord, change: Change) -> site_round.Answer:
        await asyncio.sleep(0)
        happened.append(f"send {change.key[0]} {change.limit}")
        return None, ""

    monkeypatch.setattr(manager, "_append", append)
    monkeypatch.setattr(manager, "_set_limit", set_limit)
    managed = manager._state["S"] = _Site(site_round.SiteState(applied={("A", 1): (1, 32.0)}))
    await manager._round("S", managed)
    assert happened == [
        "record LimitsPlanned",
        "send A 16.0",
        "record LimitsPlanned",
        "send B 16.0",
        "record SiteAllocated",
    ]
    assert manager.limits("S") == {("A", 1): 16.0, ("B", 1): 16.0}
    await manager._round("S", managed)  # nothing changed: nothing planned, sent or recorded
    assert len(happened) == 5
    await manager._producer.stop()  # never started, but a producer warns when left unclosed

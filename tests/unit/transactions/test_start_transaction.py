"""StartTransaction (OCPP 1.6 4.10, 6.45): the decision, its event, repeats and concurrency."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest

from services.transactions.events import TransactionStarted
from services.transactions.state import RECENT_STARTS
from shared.events.idtags import IdTagRecord
from shared.ocpp.v16.constraints import INT32_MAX
from shared.ocpp.v16.messages import (
    StartTransactionRequest,
)
from tests.unit.transactions.builders import NOW, PARTITIONS, System, only_stopped


def test_start_transaction_emits_started_event_with_the_decision() -> None:
    system = System()
    response, events = system.start("CHILD", connector=2, meter_start=123, partition=2)
    assert response.transaction_id == 3
    assert response.id_tag_info.status == "Accepted"
    assert response.id_tag_info.parent_id_tag == "PARENT"
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, TransactionStarted)
    assert event.transaction_id == 3
    assert event.partition == 2
    assert event.station_id == "CP1"
    assert event.connector_id == 2
    assert event.id_tag == "CHILD"
    assert event.meter_start == 123
    assert event.started_at == NOW
    assert event.id_tag_status == "Accepted"
    assert event.parent_id_tag == "PARENT"
    assert event.reservation_id is None
    assert event.frame_offset == 0
    assert system.state.is_known(3)
    assert system.state.active[3].station_id == "CP1"


def test_repeated_start_returns_the_same_id_and_status_without_an_event() -> None:
    system = System()
    first, events = system.start("GOOD", connector=1, meter_start=500)
    assert len(events) == 1
    retry, retry_events = system.start("GOOD", connector=1, meter_start=500)
    assert retry_events == []
    assert retry.transaction_id == first.transaction_id
    assert retry.id_tag_info.status == first.id_tag_info.status == "Accepted"
    # The same instant written in another time zone is the same start.
    plus_two = NOW.astimezone(timezone(timedelta(hours=2)))
    again, again_events = system.start("GOOD", connector=1, meter_start=500, timestamp=plus_two)
    assert again_events == []
    assert again.transaction_id == first.transaction_id
    assert system.state.allocate(0) == 5  # only one id was consumed


def test_repeated_start_keeps_the_first_status_even_if_the_tag_changed() -> None:
    system = System()
    first, _ = system.start("GOOD")
    system.tags["GOOD"] = IdTagRecord(id_tag="GOOD", status="Blocked")
    retry, events = system.start("GOOD")
    assert events == []
    assert retry.transaction_id == first.transaction_id
    assert retry.id_tag_info.status == "Accepted"


def test_repeated_concurrent_start_answers_concurrent_again() -> None:
    system = System()
    system.start("GOOD", station="CP1")
    first, _ = system.start("GOOD", station="CP2")
    assert first.id_tag_info.status == "ConcurrentTx"
    retry, events = system.start("GOOD", station="CP2")
    assert events == []
    assert retry.transaction_id == first.transaction_id
    assert retry.id_tag_info.status == "ConcurrentTx"


def test_a_different_start_gets_a_new_id() -> None:
    system = System()
    first, _ = system.start("GOOD", connector=1, meter_start=500)
    for kwargs in (
        {"meter_start": 501},
        {"timestamp": NOW + timedelta(seconds=1)},
    ):
        response, events = system.start("GOOD", connector=1, **kwargs)
        assert len(events) == 1
        assert response.transaction_id != first.transaction_id
    # The same start data from another station is another transaction.
    other, events = system.start("GOOD", connector=1, meter_start=500, station="CP9")
    assert len(events) == 1
    assert other.transaction_id != first.transaction_id


def test_the_most_recent_starts_of_a_station_are_recognised() -> None:
    system = System()
    ids = [system.start("GOOD", meter_start=m)[0].transaction_id for m in range(RECENT_STARTS)]
    for m, tx in enumerate(ids):
        retry, events = system.start("GOOD", meter_start=m)
        assert events == []
        assert retry.transaction_id == tx


def test_start_with_unknown_tag_gets_a_positive_id_and_invalid() -> None:
    system = System()
    response, events = system.start("NOBODY", partition=1)
    assert response.transaction_id > 0
    assert response.transaction_id == 2
    assert response.id_tag_info.status == "Invalid"
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, TransactionStarted)
    assert event.id_tag_status == "Invalid"
    assert event.parent_id_tag is None
    assert system.state.is_known(2)


def test_start_with_blocked_or_expired_tag_still_gets_an_id() -> None:
    system = System()
    blocked, _ = system.start("BLOCKED", connector=1)
    expired, _ = system.start("OLD", connector=2)
    assert blocked.id_tag_info.status == "Blocked"
    assert expired.id_tag_info.status == "Expired"
    assert {blocked.transaction_id, expired.transaction_id} == {1, 5}


def test_start_with_a_tag_active_on_another_station_is_concurrent() -> None:
    system = System()
    system.start("GOOD", station="CP1", connector=1)
    response, events = system.start("GOOD", station="CP2", connector=1)
    assert response.id_tag_info.status == "ConcurrentTx"
    assert response.transaction_id > 0
    assert len(events) == 1 and isinstance(events[0], TransactionStarted)
    assert events[0].id_tag_status == "ConcurrentTx"


def test_start_with_a_tag_active_on_another_connector_is_concurrent() -> None:
    system = System()
    system.start("GOOD", connector=1)
    response, _ = system.start("GOOD", connector=2, meter_start=7)
    assert response.id_tag_info.status == "ConcurrentTx"


def test_start_on_the_same_connector_is_not_concurrent() -> None:
    system = System()
    system.start("GOOD", connector=1, meter_start=1)
    response, events = system.start("GOOD", connector=1, meter_start=2)
    assert len(events) == 1
    assert response.id_tag_info.status == "Accepted"


def test_start_after_the_other_transaction_stopped_is_accepted() -> None:
    system = System()
    first, _ = system.start("GOOD", station="CP1")
    system.stop(first.transaction_id, station="CP1")
    response, _ = system.start("GOOD", station="CP2")
    assert response.id_tag_info.status == "Accepted"


def test_start_of_another_tag_is_not_concurrent() -> None:
    system = System()
    system.start("GOOD", station="CP1")
    response, _ = system.start("OTHER", station="CP2")
    assert response.id_tag_info.status == "Accepted"


def test_start_passes_the_reservation_id_to_the_event() -> None:
    system = System()
    request = StartTransactionRequest(
        connector_id=1, id_tag="GOOD", meter_start=0, timestamp=NOW, reservation_id=42
    )
    _, events = system.call("StartTransaction", request)
    assert len(events) == 1 and isinstance(events[0], TransactionStarted)
    assert events[0].reservation_id == 42


def test_start_overflow_propagates_when_the_stripe_is_exhausted() -> None:
    system = System()
    system.state.next_seq[3] = (INT32_MAX - 3) // PARTITIONS  # next id of stripe 3 is 2**31
    with pytest.raises(OverflowError):
        system.start("GOOD", partition=3)


def test_a_newer_start_on_the_same_connector_supersedes_a_lost_transaction() -> None:
    """A station that lost a transaction (no stop ever came) must not block its tag forever."""
    system = System()
    lost, _ = system.start("GOOD", connector=1, station="CP1")
    assert system.authorize("GOOD", station="CP2").id_tag_info.status == "ConcurrentTx"
    newer, _ = system.start("OTHER", connector=1, station="CP1", meter_start=5000)
    assert lost.transaction_id not in system.state.active
    assert newer.transaction_id in system.state.active
    assert system.authorize("GOOD", station="CP2").id_tag_info.status == "Accepted"
    # The lost one is still known: its late stop is recorded and matched, once.
    assert system.state.is_known(lost.transaction_id)
    stopped = only_stopped(system.stop(lost.transaction_id, meter_stop=1500)[1])
    assert stopped.known and stopped.anomaly is None
    assert system.stop(lost.transaction_id, meter_stop=1500)[1] == []
    assert newer.transaction_id in system.state.active

"""StopTransaction (OCPP 1.6 4.11, 6.49): the decision and its event, for known and unknown ids."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest
from msgspec import UNSET

from shared.ocpp.v16.messages import (
    StopTransactionRequest,
    StopTransactionResponse,
)
from tests.unit.transactions.builders import NOW, System, only_stopped


@pytest.mark.parametrize("transaction_id", [0, -1, 999, 1])
def test_stop_of_an_unknown_id_is_recorded_as_not_known(transaction_id: int) -> None:
    system = System()  # nothing started: even 1 was never handed out
    response, events = system.stop(transaction_id, meter_stop=42)
    assert response == StopTransactionResponse()
    assert response.id_tag_info is UNSET
    event = only_stopped(events)
    assert event.known is False
    assert event.transaction_id == transaction_id
    assert event.meter_stop == 42
    assert event.station_id == "CP1"
    assert event.anomaly is None
    assert event.frame_offset == 0


def test_stop_of_an_active_transaction_ends_it() -> None:
    system = System()
    start, _ = system.start("GOOD", meter_start=1000)
    request = StopTransactionRequest(
        meter_stop=2500,
        timestamp=NOW + timedelta(hours=2),
        transaction_id=start.transaction_id,
        reason="Local",
    )
    response, events = system.call("StopTransaction", request)
    assert response == StopTransactionResponse()
    event = only_stopped(events)
    assert event.known is True
    assert event.transaction_id == start.transaction_id
    assert event.meter_stop == 2500
    assert event.stopped_at == NOW + timedelta(hours=2)
    assert event.reason == "Local"
    assert event.id_tag is None
    assert event.anomaly is None
    assert event.frame_offset == 1
    assert start.transaction_id not in system.state.active
    assert "GOOD" not in system.state.by_tag


def test_stop_of_an_already_stopped_transaction_produces_no_event() -> None:
    system = System()
    start, _ = system.start("GOOD")
    _, first = system.stop(start.transaction_id)
    assert len(first) == 1
    response, again = system.stop(start.transaction_id)
    assert again == []
    assert response == StopTransactionResponse()
    # Still answered with the idTagInfo when the retry carries an idTag.
    with_tag, again_with_tag = system.stop(start.transaction_id, id_tag="GOOD")
    assert again_with_tag == []
    assert isinstance(with_tag.id_tag_info, msgspec.Struct)
    assert with_tag.id_tag_info.status == "Accepted"


def test_stop_with_meter_below_start_is_flagged() -> None:
    system = System()
    start, _ = system.start("GOOD", meter_start=1000)
    _, events = system.stop(start.transaction_id, meter_stop=999)
    event = only_stopped(events)
    assert event.known is True
    assert event.anomaly is not None
    assert "999" in event.anomaly and "1000" in event.anomaly
    assert start.transaction_id not in system.state.active


def test_stop_with_meter_equal_to_start_is_not_flagged() -> None:
    system = System()
    start, _ = system.start("GOOD", meter_start=1000)
    _, events = system.stop(start.transaction_id, meter_stop=1000)
    assert only_stopped(events).anomaly is None


def test_stop_with_id_tag_answers_id_tag_info() -> None:
    system = System()
    start, _ = system.start("CHILD")
    response, events = system.stop(start.transaction_id, id_tag="CHILD")
    info = response.id_tag_info
    assert not isinstance(info, type(UNSET))
    assert info.status == "Accepted"
    assert info.parent_id_tag == "PARENT"
    assert info.expiry_date == NOW + timedelta(days=30)
    assert only_stopped(events).id_tag == "CHILD"


def test_stop_with_unknown_id_tag_answers_invalid() -> None:
    system = System()
    start, _ = system.start("GOOD")
    response, events = system.stop(start.transaction_id, id_tag="NOBODY")
    assert not isinstance(response.id_tag_info, type(UNSET))
    assert response.id_tag_info.status == "Invalid"
    assert only_stopped(events).known is True


def test_stop_without_id_tag_has_no_id_tag_info() -> None:
    system = System()
    start, _ = system.start("GOOD")
    response, events = system.stop(start.transaction_id)
    assert response.id_tag_info is UNSET
    assert msgspec.json.encode(response) == b"{}"
    assert only_stopped(events).id_tag is None


def test_stop_of_another_stations_transaction_is_not_matched() -> None:
    system = System()
    start, _ = system.start("GOOD", station="CP1")
    _, events = system.stop(start.transaction_id, station="CP2", meter_stop=0)
    event = only_stopped(events)
    assert event.known is False
    assert event.station_id == "CP2"
    assert event.anomaly is None  # not compared with another station's meterStart
    # CP1's transaction is untouched.
    assert start.transaction_id in system.state.active
    assert system.state.by_tag["GOOD"] == {start.transaction_id}

"""Authorize (OCPP 1.6 4.1, 6.1): reservation-free idTagInfo, no state change."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.transactions.builders import NOW, System


def test_authorize_known_unknown_and_expired_tags() -> None:
    system = System()
    assert system.authorize("GOOD").id_tag_info.status == "Accepted"
    assert system.authorize("NOBODY").id_tag_info.status == "Invalid"
    assert system.authorize("OLD").id_tag_info.status == "Expired"
    assert system.authorize("BLOCKED").id_tag_info.status == "Blocked"
    child = system.authorize("CHILD").id_tag_info
    assert child.parent_id_tag == "PARENT"
    assert child.expiry_date == NOW + timedelta(days=30)


def test_authorize_is_concurrent_only_when_charging_at_another_station() -> None:
    system = System()
    start, _ = system.start("GOOD", station="CP1", connector=1)
    # At the same station (e.g. to stop it, or on another connector) the tag is accepted.
    assert system.authorize("GOOD", station="CP1").id_tag_info.status == "Accepted"
    assert system.authorize("GOOD", station="CP2").id_tag_info.status == "ConcurrentTx"
    # Another tag is not affected.
    assert system.authorize("OTHER", station="CP2").id_tag_info.status == "Accepted"
    system.stop(start.transaction_id, station="CP1")
    assert system.authorize("GOOD", station="CP2").id_tag_info.status == "Accepted"


def test_authorize_does_not_change_the_state() -> None:
    system = System()
    system.authorize("GOOD")
    assert system.state.active == {}
    assert system.state.next_seq == {}
    assert system.state.allocate(0) == 1

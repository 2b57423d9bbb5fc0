"""Who may charge on a reservation made with a parentIdTag, and who uses it up (issue 11.1, ADR 0012).

OCPP 1.6 5.13: the Charge Point "SHALL refuse charging for all incoming idTags on the reserved
connector, except when the incoming idTag or the parent idTag match the idTag or parent idTag of the
reservation", and a reservation is terminated when "a transaction is started for the reserved idTag
or parent idTag and on the reserved connector or any connector when the reserved connectorId is 0".
The whole matrix: the pure rule, the StartTransaction verdict of the transactions service, and the
``used`` life cycle decided by the reservations service.
"""

from __future__ import annotations

import pytest

from shared.events.idtags import IdTagRecord
from shared.reservations.events import ReservationEnded, ReservationEvent
from shared.reservations.state import admitted
from tests.unit.reservations import test_reservations as base

TAGS = {
    "GROUP": IdTagRecord(id_tag="GROUP", status="Accepted"),
    "OWNER": IdTagRecord(id_tag="OWNER", status="Accepted", parent_id_tag="GROUP"),
    "SIBLING": IdTagRecord(id_tag="SIBLING", status="Accepted", parent_id_tag="GROUP"),
    "CHILD": IdTagRecord(id_tag="CHILD", status="Accepted", parent_id_tag="OWNER"),
    "OUTSIDER": IdTagRecord(id_tag="OUTSIDER", status="Accepted", parent_id_tag="OTHER"),
    "STRANGER": IdTagRecord(id_tag="STRANGER", status="Accepted"),
}
# A reservation for OWNER with parentIdTag GROUP: admitted are the reserved tag, the parent tag
# itself (its idTag is the reservation's parentIdTag), a sibling (same parent), a child of the
# reserved tag (its parent is the reservation's idTag); not an unrelated tag or another group.
GROUP_RESERVATION = {
    "OWNER": True,
    "GROUP": True,
    "SIBLING": True,
    "CHILD": True,
    "OUTSIDER": False,
    "STRANGER": False,
}


@pytest.fixture(autouse=True)
def tags(monkeypatch: pytest.MonkeyPatch) -> None:
    """The base module's ``Log`` and ``start_verdict`` look their tags up here."""
    monkeypatch.setattr(base, "TAGS", TAGS)


def ended(events: list[ReservationEvent]) -> list[ReservationEnded]:
    assert all(isinstance(e, ReservationEnded) for e in events), events
    return [e for e in events if isinstance(e, ReservationEnded)]


def parent(tag: str) -> str | None:
    return TAGS[tag].parent_id_tag


@pytest.mark.parametrize(("tag", "expected"), GROUP_RESERVATION.items())
def test_rule_matches_either_incoming_tag_against_either_reserved_tag(tag: str, expected: bool) -> None:
    assert admitted(tag, parent(tag), "OWNER", "GROUP") is expected
    assert admitted(tag.lower(), parent(tag), "OWNER", "group") is expected  # CiString20


def test_rule_without_a_reservation_parent_compares_the_reserved_tag_only() -> None:
    """No parentIdTag in ReserveNow: the group of the reserved tag in our registry does not count."""
    assert admitted("OWNER", "GROUP", "OWNER", None)
    assert not admitted("GROUP", None, "OWNER", None)
    assert not admitted("SIBLING", "GROUP", "OWNER", None)
    assert admitted("CHILD", "OWNER", "OWNER", None)
    # A reservation for the parent tag itself admits its whole group.
    assert admitted("OWNER", "GROUP", "GROUP", None) and admitted("SIBLING", "GROUP", "GROUP", None)
    assert not admitted("STRANGER", None, "GROUP", None)


@pytest.mark.parametrize(("tag", "expected"), GROUP_RESERVATION.items())
def test_start_on_the_reserved_connector_follows_the_rule(tag: str, expected: bool) -> None:
    log = base.Log()
    log.reserve(30, parentIdTag="GROUP")
    assert base.start_verdict(log.state, tag) == ("Accepted" if expected else "Invalid")
    assert base.start_verdict(log.state, tag, reservation_id=30) == ("Accepted" if expected else "Invalid")
    assert base.start_verdict(log.state, tag, connector=2) == "Accepted"  # not reserved


@pytest.mark.parametrize(("tag", "expected"), GROUP_RESERVATION.items())
def test_start_under_a_whole_station_reservation_is_left_to_the_station(tag: str, expected: bool) -> None:
    """connectorId 0: the station keeps a connector free (5.13) and only it knows which; we refuse
    only a start that names the reservation for a tag it does not admit."""
    log = base.Log()
    log.reserve(31, connector=0, parentIdTag="GROUP")
    assert base.start_verdict(log.state, tag, connector=2) == "Accepted"
    named = base.start_verdict(log.state, tag, connector=2, reservation_id=31)
    assert named == ("Accepted" if expected else "Invalid")


@pytest.mark.parametrize(("tag", "expected"), GROUP_RESERVATION.items())
def test_connector_reservation_is_used_by_exactly_the_tags_it_admits(tag: str, expected: bool) -> None:
    log = base.Log()
    log.reserve(32, parentIdTag="GROUP")
    assert log.start(2, tag) == []  # not the reserved connector
    used = log.start(1, tag)
    if expected:
        assert [(e.status, e.id_tag, e.connector_id) for e in ended(used)] == [("used", tag, 1)]
    else:
        assert used == []
    assert log.state.reservations[32].status == ("used" if expected else "active")


@pytest.mark.parametrize(("tag", "expected"), GROUP_RESERVATION.items())
def test_station_reservation_is_used_on_any_connector_by_the_tags_it_admits(tag: str, expected: bool) -> None:
    log = base.Log()
    log.reserve(33, connector=0, parentIdTag="GROUP")
    used = log.start(2, tag)
    if expected:
        assert [(e.status, e.id_tag, e.connector_id) for e in ended(used)] == [("used", tag, 2)]
    else:
        assert used == []
    assert log.state.reservations[33].status == ("used" if expected else "active")

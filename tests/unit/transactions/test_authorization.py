"""authorization.id_tag_info: the idTagInfo a tag gets (OCPP 1.6 7.30), shared by the three actions that answer one."""

from __future__ import annotations

from datetime import timedelta

from msgspec import UNSET

from shared.events.idtags import IdTagRecord, id_tag_info
from tests.unit.transactions.builders import NOW, TAGS


def test_unknown_tag_is_invalid() -> None:
    info = id_tag_info(None, NOW)
    assert info.status == "Invalid"
    assert info.expiry_date is UNSET and info.parent_id_tag is UNSET


def test_accepted_tag_past_its_expiry_is_expired() -> None:
    assert id_tag_info(TAGS["OLD"], NOW).status == "Expired"
    at_expiry = IdTagRecord(id_tag="X", status="Accepted", expiry_date=NOW)
    assert id_tag_info(at_expiry, NOW).status == "Expired"
    # Expired wins over ConcurrentTx: the tag is no longer valid at all.
    assert id_tag_info(TAGS["OLD"], NOW, charging_elsewhere=True).status == "Expired"


def test_accepted_tag_charging_elsewhere_is_concurrent() -> None:
    assert id_tag_info(TAGS["GOOD"], NOW).status == "Accepted"
    assert id_tag_info(TAGS["GOOD"], NOW, charging_elsewhere=True).status == "ConcurrentTx"
    # Only an Accepted tag can become ConcurrentTx.
    assert id_tag_info(TAGS["BLOCKED"], NOW, charging_elsewhere=True).status == "Blocked"


def test_parent_id_tag_and_expiry_date_are_passed_through() -> None:
    info = id_tag_info(TAGS["CHILD"], NOW)
    assert info.status == "Accepted"
    assert info.expiry_date == NOW + timedelta(days=30)
    assert info.parent_id_tag == "PARENT"
    expired = id_tag_info(TAGS["OLD"], NOW)
    assert expired.expiry_date == NOW - timedelta(seconds=1)
    assert expired.parent_id_tag is UNSET
    plain = id_tag_info(TAGS["GOOD"], NOW)
    assert plain.expiry_date is UNSET and plain.parent_id_tag is UNSET


def test_operator_status_other_than_accepted_is_kept() -> None:
    for status in ("Blocked", "Expired", "Invalid"):
        record = IdTagRecord(id_tag="T", status=status)
        assert id_tag_info(record, NOW).status == status

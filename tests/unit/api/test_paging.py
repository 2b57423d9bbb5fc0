"""Cursor encoding and validation, and the stations filters' SQL (ADR 0016): pure, no database."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from services.api.errors import ApiError
from services.api.paging import (
    MAX_CURSOR,
    Page,
    decode_cursor,
    encode_cursor,
    in_memory,
    reject_unknown,
    split,
)
from services.api.station_filters import BOOT_FIELDS, CONNECTOR_STATUSES, station_query
from shared.events.envelope import StationRegistration
from shared.ocpp.v16.messages import BootNotificationRequest
from shared.views import newest_first

AT = dt.datetime(2026, 12, 2, 13, 4, 1, 123456, tzinfo=dt.UTC)


def test_cursor_round_trips_the_key_exactly() -> None:
    for key, types in (
        (("CP-1",), (str,)),
        ((AT, 42), (dt.datetime, int)),
        ((AT, 7, "uid/é"), (dt.datetime, int, str)),
    ):
        cursor = encode_cursor("x", key)
        assert "=" not in cursor and "/" not in cursor and "+" not in cursor  # safe in a query string
        assert decode_cursor("x", cursor, types) == key


def _code(name: str, cursor: str, types: tuple[type, ...]) -> tuple[int, str | None]:
    with pytest.raises(ApiError) as err:
        decode_cursor(name, cursor, types)
    return err.value.status, err.value.extra.get("field")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64 !",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        encode_cursor("x", ("a", "b")),  # too many key parts
        encode_cursor("x", (1,)),  # wrong type
        encode_cursor("x", ()),  # no key
        "A" * (MAX_CURSOR + 1),
    ],
)
def test_a_cursor_that_is_not_ours_is_400_naming_cursor(cursor: str) -> None:
    assert _code("x", cursor, (str,)) == (400, "cursor")


def test_a_cursor_of_another_list_is_refused() -> None:
    assert _code("stations", encode_cursor("idTags", ("T1",)), (str,)) == (400, "cursor")


def test_a_naive_time_in_a_cursor_is_refused() -> None:
    naive = base64.urlsafe_b64encode(b'["t","2026-12-02T13:04:01",1]').decode()
    assert _code("t", naive, (dt.datetime, int)) == (400, "cursor")


def test_split_gives_a_next_cursor_only_when_a_row_is_left() -> None:
    page = Page("k", 2, None)
    assert split(page, ["a", "b"], lambda r: (r,)) == (["a", "b"], None)
    shown, cursor = split(page, ["a", "b", "c"], lambda r: (r,))
    assert shown == ["a", "b"] and cursor is not None and decode_cursor("k", cursor, (str,)) == ("b",)


def test_in_memory_pages_walk_every_key_once_in_order() -> None:
    keys = [f"k{i:03d}" for i in range(250, -1, -1)]  # unsorted input
    walked: list[str] = []
    after: tuple[str, ...] | None = None
    while True:
        shown, cursor = in_memory(Page("k", 7, after), keys)
        walked.extend(shown)
        if cursor is None:
            break
        after = decode_cursor("k", cursor, (str,))
    assert walked == sorted(keys)


def test_newest_first_condition() -> None:
    assert newest_first("t", "i", 3) == "(t < $3 OR (t = $3 AND i > $4))"


def test_unknown_parameters_are_named() -> None:
    with pytest.raises(ApiError) as err:
        reject_unknown({"limit": "1", "conected": "true"}, ("limit",))
    assert err.value.extra == {"field": "conected"}


def test_station_filters_build_one_parameterised_query() -> None:
    q = station_query(
        {
            "connected": "true",
            "bootStatus": "Pending",
            "site": "depot",
            "vendor": "Acme",
            "firmwareVersion": "1.0",
            "connectorStatus": "Charging",
        }
    )
    sql, args = q.sql("CP-9", 101)
    assert args == ["CP-9", True, "Pending", "depot", "Acme", "1.0", "Charging", 101]
    assert "s.station_id > $1" in sql and sql.endswith("ORDER BY s.station_id LIMIT $8")
    assert "s.boot ->> 'chargePointVendor' = $5" in sql and "c.status = $7" in sql
    assert not q.registry_applies()
    assert station_query({}).sql(None, 5) == (
        (
            "SELECT s.station_id, s.boot, s.boot_status, s.boot_at, s.last_seen, s.site FROM stations s"
            " ORDER BY s.station_id LIMIT $1"
        ),
        [5],
    )


def test_only_the_site_filter_can_match_a_bare_registration() -> None:
    reg = StationRegistration(
        station_id="CP", password_hash=None, site="depot", boot_status="Accepted", at_ms=0
    )
    assert (
        station_query({"site": "depot"}).admits(reg) and station_query({"site": "depot"}).registry_applies()
    )
    assert not station_query({"site": "other"}).admits(reg)
    assert not station_query({"vendor": "Acme"}).registry_applies()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("connected", "1"),
        ("bootStatus", "accepted"),
        ("connectorStatus", "Broken"),
        ("vendor", "x" * 21),
        ("model", ""),
        ("firmwareVersion", "x" * 51),
        ("site", "bad\nsite"),
        ("stationId", "CP"),
    ],
)
def test_bad_filter_values_are_400_naming_the_field(name: str, value: str) -> None:
    with pytest.raises(ApiError) as err:
        station_query({name: value})
    assert (err.value.status, err.value.extra["field"]) == (400, name)


def test_filters_name_real_ocpp_fields() -> None:
    """BootNotification.req field names (OCPP 1.6 §6.3) and ChargePointStatus values (§7.7)."""
    assert {w for w, _ in BOOT_FIELDS.values()} <= set(BootNotificationRequest.__struct_encode_fields__)
    assert "SuspendedEVSE" in CONNECTOR_STATUSES and len(CONNECTOR_STATUSES) == 9

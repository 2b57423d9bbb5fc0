"""The typed views encode to the JSON the operator API has always served (ADR 0032): times as
``isoformat()`` text, nulls present, an absent ``numberPhases`` omitted, fields in their order."""

from __future__ import annotations

import datetime as dt

import msgspec

from services.smartcharging.queries import PeriodView, period_view
from services.stations.queries import StationRow, station_view
from services.transactions.queries import TransactionDetail, id_tag_view
from shared.events.envelope import StationRegistration
from shared.events.idtags import IdTagRecord
from shared.smartcharging.composite import Period

AT = dt.datetime(2026, 12, 3, 6, 0, 0, 123456, tzinfo=dt.UTC)


def test_times_keep_the_isoformat_text() -> None:
    record = IdTagRecord(id_tag="T1", status="Accepted", expiry_date=AT)
    assert msgspec.json.encode(id_tag_view(record)) == (
        b'{"idTag":"T1","status":"Accepted","expiryDate":"2026-12-03T06:00:00.123456+00:00","parentIdTag":null}'
    )


def test_a_station_without_a_read_model_row_has_nulls_not_missing_fields() -> None:
    reg = StationRegistration(station_id="CP1", site="depot")
    view = station_view("CP1", None, [], connected=False, registration=reg, security=None)
    assert msgspec.json.encode(view) == (
        b'{"stationId":"CP1","connected":false,"boot":null,"bootStatus":null,"lastSeen":null,'
        b'"registration":{"site":"depot","passwordSet":false,"bootStatus":"Accepted","autoRegistered":false},'
        b'"security":{"securityProfile":0,"pendingSecurityProfile":null,"serialNumber":null},'
        b'"connectors":[]}'
    )
    booted = StationRow(boot={"chargePointVendor": "Acme"}, boot_status="Accepted", last_seen=AT.isoformat())
    decoded = msgspec.json.decode(
        msgspec.json.encode(station_view("CP1", booted, [], connected=True, registration=None, security=None))
    )
    assert decoded["boot"] == {"chargePointVendor": "Acme"} and decoded["registration"] is None


def test_a_period_without_phases_omits_number_phases() -> None:
    assert msgspec.json.encode(period_view(Period(0, 6.04, None, 60))) == (
        b'{"startPeriod":0,"endPeriod":60,"limit":6.0}'
    )
    assert msgspec.json.decode(msgspec.json.encode(period_view(Period(0, 6.0, 3, 60))), type=PeriodView) == (
        PeriodView(start_period=0, end_period=60, limit=6.0, number_phases=3)
    )


def test_a_transaction_lists_its_meter_values_last() -> None:
    names = [f.encode_name for f in msgspec.structs.fields(TransactionDetail)]
    assert names[0] == "transactionId" and names[-2:] == ["anomaly", "meterValues"]

"""The read views encode to the JSON the API has always served (rows faked, no PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from services.firmware import queries

AT = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)


class FakeDb:
    """``fetchrow`` / ``fetch`` / ``fetchval`` answered from canned rows, whatever the SQL."""

    def __init__(self, row: dict[str, Any] | None, rows: list[dict[str, Any]] | None = None) -> None:
        self.row, self.rows = row, rows or []

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        return self.row

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return self.rows

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return self.row["status"] if self.row is not None else None


def json_of(view: msgspec.Struct) -> Any:
    return msgspec.json.decode(msgspec.json.encode(view))


async def test_an_image() -> None:
    row = {
        "image_id": "i",
        "name": "fw.bin",
        "version": None,
        "size": 3,
        "sha256": "s",
        "created_at": AT,
        "signature": None,
    }
    view = await queries.image(FakeDb(row), "i")
    assert view is not None
    assert json_of(view) == {
        "imageId": "i",
        "name": "fw.bin",
        "version": None,
        "size": 3,
        "sha256": "s",
        "signed": False,
        "createdAt": "2026-01-02T03:04:05.678000+00:00",
    }
    assert await queries.image(FakeDb(None), "i") is None
    [(key, _)] = await queries.images(FakeDb(None, [row]), after=None, limit=2)
    assert key == (AT, "i")


async def test_a_campaign_counts_every_state() -> None:
    row = {
        "image_id": "i",
        "status": "Running",
        "pause_reason": None,
        "target": '{"stations":["S"]}',
        "transport": "http",
        "retrieve_date": None,
        "retries": 2,
        "retry_interval": None,
        "policy": '{"batch_size":1,"max_in_flight":1,"failure_threshold":0.5}',  # before offline_wait_s
        "created_at": AT,
        "updated_at": AT,
    }
    station = {
        "station_id": "S",
        "batch": 0,
        "state": "Sent",
        "last_status": None,
        "reason": None,
        "booted_version": "2.0",
        "signed": True,
        "dispatched_at": AT,
        "updated_at": None,
    }
    view = await queries.campaign(FakeDb(row, [station]), "c")
    assert view is not None
    body = json_of(view)
    assert body["counts"] == {state: int(state == "Sent") for state in queries.STATES}
    assert body["policy"] == {
        "batchSize": 1,
        "maxInFlight": 1,
        "failureThreshold": 0.5,
        "offlineWaitSeconds": 3600.0,
    }
    assert body["target"] == {"stations": ["S"]} and body["retries"] == 2
    assert body["stations"] == [
        {
            "stationId": "S",
            "batch": 0,
            "state": "Sent",
            "lastStatus": None,
            "reason": None,
            "bootedFirmwareVersion": "2.0",
            "signed": True,
            "dispatchedAt": "2026-01-02T03:04:05.678000+00:00",
            "updatedAt": None,
        }
    ]
    assert await queries.campaign_status(FakeDb(row), "c") == "Running"


async def test_diagnostics_with_and_without_a_file() -> None:
    row: dict[str, Any] = {
        "request_id": "r",
        "station_id": "S",
        "transport": "ftp",
        "status": "Uploaded",
        "start_time": None,
        "stop_time": None,
        "file_name": "d.log",
        "error": None,
        "size": 3,
        "sha256": "s",
        "storage_key": "diagnostics/r/d.log",
        "uploaded_via": "ftp",
        "uploaded_at": AT,
        "log_type": None,
        "log_request_id": None,
        "requested_at": AT,
        "updated_at": AT,
    }
    found = await queries.diagnostics(FakeDb(row), "r")
    assert found is not None and found.view.kind == "diagnostics"
    assert found is not None and found.storage_key == "diagnostics/r/d.log"
    assert json_of(found.view)["file"] == {
        "size": 3,
        "sha256": "s",
        "uploadedVia": "ftp",
        "uploadedAt": "2026-01-02T03:04:05.678000+00:00",
        "href": "/api/v1/diagnostics/r/file",
    }
    row["storage_key"] = None
    listed = await queries.diagnostics_requests(FakeDb(None, [row]), station_id=None, after=None, limit=1)
    [(key, view)] = listed
    assert key == (AT, "r") and json_of(view)["file"] is None
    row.update(log_type="SecurityLog", log_request_id=42)
    [(_, log)] = await queries.diagnostics_requests(FakeDb(None, [row]), station_id=None, after=None, limit=1)
    assert (log.kind, log.log_type, log.log_request_id) == ("log", "SecurityLog", 42)

"""GetLog end to end (OCTT TC_079, whitepaper N01): the operator asks for a station's security log;
the system sends GetLog with its own upload location and requestId, follows LogStatusNotification by
that requestId, stores the file the station uploads and lists it beside diagnostics."""

from __future__ import annotations

import os
from typing import Any

import aiohttp
import pytest
from ocpp.v16 import call, call_result

from tests.e2e.conftest import Api, System, unique_station
from tests.e2e.station import TestStation
from tests.e2e.test_firmware import download, fw_station, received

pytestmark = pytest.mark.e2e


async def log_status(cp: TestStation, status: str, request_id: int) -> None:
    assert await cp.call(call.LogStatusNotification(status=status, request_id=request_id)) is not None


def remote_location(req: dict[str, Any]) -> str:
    log = req["log"]
    location: str = log.get("remote_location") or log["remoteLocation"]
    return location


async def test_tc_079_get_security_log_uploaded_over_http(system: System, api: Api) -> None:
    station_id = unique_station("LG")
    content = os.urandom(10_000) + b"\nsecurity log end"
    async with fw_station(system, station_id) as cp:
        cp.answering("GetLog", call_result.GetLog(status="Accepted", filename="security-79.log"))
        code, body = await api.post(
            f"/api/v1/stations/{station_id}/logs",
            {"logType": "SecurityLog", "oldestTimestamp": "2026-01-01T00:00:00Z", "retries": 1},
        )
        assert code == 202, body
        assert body["kind"] == "log" and body["logType"] == "SecurityLog"
        request_id, log_request_id = body["requestId"], body["logRequestId"]
        req = await received(cp, "GetLog")
        assert req["log_type"] == "SecurityLog" and req["request_id"] == log_request_id
        assert req["retries"] == 1
        location = remote_location(req)
        assert f"/diagnostics/{request_id}/" in location
        await api.until(f"/api/v1/diagnostics/{request_id}", lambda b: b["status"] == "Accepted")
        await log_status(cp, "Uploading", log_request_id)
        await api.until(f"/api/v1/diagnostics/{request_id}", lambda b: b["status"] == "Uploading")
        async with (
            aiohttp.ClientSession() as session,
            session.put(location + "security-79.log", data=content) as resp,
        ):
            assert resp.status == 201
        await log_status(cp, "Uploaded", log_request_id)
    view = await api.until(
        f"/api/v1/diagnostics/{request_id}", lambda b: b["status"] == "Uploaded" and b["file"] is not None
    )
    assert view["fileName"] == "security-79.log" and view["file"]["size"] == len(content)
    code, listed = await api.get("/api/v1/diagnostics", stationId=station_id, kind="log")
    assert code == 200 and [d["requestId"] for d in listed["diagnostics"]] == [request_id]
    code, none = await api.get("/api/v1/diagnostics", stationId=station_id, kind="diagnostics")
    assert code == 200 and none["diagnostics"] == []
    assert await download(api, view["file"]["href"]) == content


async def test_a_rejected_get_log_and_bad_bodies(system: System, api: Api) -> None:
    station_id = unique_station("LG")
    async with fw_station(system, station_id) as cp:
        cp.answering("GetLog", call_result.GetLog(status="Rejected"))
        code, body = await api.post(f"/api/v1/stations/{station_id}/logs", {"logType": "DiagnosticsLog"})
        assert code == 202, body
        await api.until(f"/api/v1/diagnostics/{body['requestId']}", lambda b: b["status"] == "Rejected")
        code, second = await api.post(f"/api/v1/stations/{station_id}/logs", {"logType": "SecurityLog"})
        assert code == 202 and second["logRequestId"] != body["logRequestId"], second
        # Paged by kind: newest first, one a page.
        code, page = await api.get("/api/v1/diagnostics", stationId=station_id, kind="log", limit="1")
        assert code == 200 and [d["requestId"] for d in page["diagnostics"]] == [second["requestId"]]
        code, rest = await api.get(
            "/api/v1/diagnostics", stationId=station_id, kind="log", limit="1", cursor=page["next"]
        )
        assert code == 200 and [d["requestId"] for d in rest["diagnostics"]] == [body["requestId"]], rest
        code, err = await api.post(f"/api/v1/stations/{station_id}/logs", {"logType": "OtherLog"})
        assert code == 422, err
        code, err = await api.post(
            f"/api/v1/stations/{station_id}/logs",
            {
                "logType": "SecurityLog",
                "oldestTimestamp": "2026-02-01T00:00:00Z",
                "latestTimestamp": "2026-01-01T00:00:00Z",
            },
        )
        assert code == 422 and err["error"]["field"] == "latestTimestamp", err
    code, err = await api.get("/api/v1/diagnostics", kind="other")
    assert code == 400, err

"""Firmware management end to end: OCTT TC_044/TC_045 with the independent `ocpp` client, a 20-station
campaign of simulated stations under a rollout policy (checked on ``ocpp.frames``), and diagnostics
files that arrive byte-identical over HTTP and FTP.

Path: operator API -> ``firmware.events`` -> firmware service -> gateway -> station; station ->
gateway -> ``ocpp.frames`` -> (stations service answers) firmware service -> events -> PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ftplib
import json
import os
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import jsonschema
import pytest
from ocpp.v16 import call, call_result

from services.firmware import main as firmware
from services.firmware.events import event_decoder
from services.firmware.frames import FirmwareFrames
from services.firmware.projection import FirmwareProjection
from services.firmware.service import FirmwareService
from services.firmware.state import State, evolve
from services.simulator import firmware as sim_firmware
from services.simulator.config import FleetConfig
from services.simulator.fleet import Fleet
from shared.projection.pool import DbTarget, connect_pool
from shared.projection.rebuild import rebuild
from shared.service import FrameServiceRunner, run_until
from shared.tables import LogFollower
from tests.e2e.conftest import Api, System, eventually, frames_consumer, topics, unique_station
from tests.e2e.station import Response, TestStation, now, station
from tests.e2e.station import iso as iso_at

pytestmark = pytest.mark.e2e

TERMINAL_FSN = {"Installed", "DownloadFailed", "InstallationFailed"}


# -- helpers ------------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fw_station(
    system: System, station_id: str, *, boot: bool = True, answers: Mapping[str, Response] | None = None
) -> AsyncIterator[TestStation]:
    """A test station, once the API sees it connected (presence trails the boot answer by a hop).
    ``answers`` are routed before the first frame is read: a command the system holds for the
    station (an update waiting for it to come back) may arrive before the API sees it."""
    async with station(system.station_url(station_id), boot=False) as cp:
        for action, response in (answers or {}).items():  # before the listener's first read
            cp.answering(action, response)
        if boot:
            await cp.boot()
        await eventually(lambda: system.api.commands.where(station_id) is not None)
        yield cp


async def upload_image(api: Api, content: bytes, name: str, version: str | None) -> dict[str, Any]:
    params = {"name": name, **({"version": version} if version else {})}
    async with api.session.post(api.base + "/api/v1/firmware", data=content, params=params) as resp:
        body: dict[str, Any] = await resp.json()
        assert resp.status == 201, body
        return body


def image_bytes(version: str, size: int = 5000) -> bytes:
    return f"CSMS-SIM-FW {version}\n".encode() + os.urandom(size)


async def received(cp: TestStation, action: str) -> dict[str, Any]:
    await eventually(lambda: any(a == action for a, _ in cp.received), timeout=15, what=action)
    return cp.last(action)


async def ranged_get(location: str) -> bytes:
    """Download as a station that resumes: the first part, then the rest with a Range request."""
    async with aiohttp.ClientSession() as session:
        async with session.get(location, headers={"Range": "bytes=0-99"}) as resp:
            assert resp.status == 206, resp.status
            assert resp.headers["Content-Range"].startswith("bytes 0-99/")
            first = await resp.read()
        async with session.get(location, headers={"Range": "bytes=100-"}) as resp:
            assert resp.status == 206
            rest = await resp.read()
    return first + rest


async def fsn(cp: TestStation, status: str) -> None:
    assert (
        await cp.call(call.FirmwareStatusNotification(status=status)) is not None
    )  # answered, not CALLERROR


async def install(cp: TestStation, version: str) -> None:
    """What a station does after UpdateFirmware when all goes well: the statuses, then it boots."""
    for status in ("Downloading", "Downloaded", "Installing", "Installed"):
        await fsn(cp, status)
    await cp.call(
        call.BootNotification(
            charge_point_model="Sim-1", charge_point_vendor="Acme", firmware_version=version
        )
    )


async def dsn(cp: TestStation, status: str) -> None:
    assert await cp.call(call.DiagnosticsStatusNotification(status=status)) is not None


async def new_campaign(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    campaign: dict[str, Any]
    code, campaign = await api.post("/api/v1/firmware-campaigns", body)
    assert code == 201, campaign
    return campaign


async def finished(api: Api, campaign_id: str, timeout: float = 20.0) -> dict[str, Any]:
    body: dict[str, Any] = await api.until(
        f"/api/v1/firmware-campaigns/{campaign_id}", lambda b: b["status"] == "Completed", timeout=timeout
    )
    return body


# -- OCTT TC_044: UpdateFirmware --------------------------------------------------------------------------


async def test_tc_044_1_download_and_install(system: System, api: Api) -> None:
    image = image_bytes("2.0.0")
    img = await upload_image(api, image, "fw-2.0.0.bin", "2.0.0")
    assert img["size"] == len(image) and len(img["sha256"]) == 64
    station_id = unique_station("FW")
    async with fw_station(system, station_id) as cp:
        cp.answering("UpdateFirmware", call_result.UpdateFirmware())
        campaign = await new_campaign(
            api, {"imageId": img["imageId"], "stations": [station_id], "retries": 3, "retryInterval": 30}
        )
        assert campaign["counts"]["Pending"] + campaign["counts"]["Sent"] == 1
        req = await received(cp, "UpdateFirmware")
        assert req["retries"] == 3 and req["retry_interval"] == 30 and req["retrieve_date"]
        assert await ranged_get(req["location"]) == image  # served with Range: a resumed download
        await fsn(cp, "Downloading")
        await fsn(cp, "Downloaded")
        for connector in (1, 2):
            await cp.status(connector, "Unavailable")
        await fsn(cp, "Installing")
        boot = await cp.call(
            call.BootNotification(
                charge_point_model="Sim-1", charge_point_vendor="Acme", firmware_version="2.0.0"
            )
        )
        assert boot.status == "Accepted"
        for connector in (1, 2):
            await cp.status(connector, "Available")
        await fsn(cp, "Installed")
        body = await finished(api, campaign["campaignId"])
    assert body["counts"]["Succeeded"] == 1 and body["counts"]["Failed"] == 0
    [detail] = body["stations"]
    assert detail["stationId"] == station_id and detail["state"] == "Succeeded"
    assert detail["bootedFirmwareVersion"] == "2.0.0" and detail["lastStatus"] == "Installed"


@pytest.mark.parametrize(
    ("case", "statuses", "reason"),
    [
        ("TC_044_2", ["Downloading", "DownloadFailed"], "DownloadFailed"),
        ("TC_044_3", ["Downloading", "Downloaded", "Installing", "InstallationFailed"], "InstallationFailed"),
    ],
)
async def test_tc_044_2_and_3_failures(
    system: System, api: Api, case: str, statuses: list[str], reason: str
) -> None:
    img = await upload_image(api, image_bytes("2.1"), "fw-2.1.bin", "2.1")
    station_id = unique_station("FW")
    async with fw_station(system, station_id) as cp:
        cp.answering("UpdateFirmware", call_result.UpdateFirmware())
        campaign = await new_campaign(api, {"imageId": img["imageId"], "stations": [station_id]})
        await received(cp, "UpdateFirmware")
        for status in statuses:
            await fsn(cp, status)
        body = await finished(api, campaign["campaignId"])
    assert body["counts"]["Failed"] == 1 and body["counts"]["Succeeded"] == 0, case
    assert body["stations"][0]["reason"] == reason


async def test_a_silent_station_times_out_and_an_offline_one_waits(system: System, api: Api) -> None:
    """A station that stops reporting fails with Timeout (5 s in the tests). An offline one waits for
    its connection (it gets its update when it is back) and fails as Offline after the policy's wait."""
    img = await upload_image(api, image_bytes("2.2"), "fw-2.2.bin", "2.2")
    station_id = unique_station("FW")
    async with fw_station(system, station_id) as cp:
        cp.answering("UpdateFirmware", call_result.UpdateFirmware())
        campaign = await new_campaign(api, {"imageId": img["imageId"], "stations": [station_id]})
        await received(cp, "UpdateFirmware")
        await fsn(cp, "Downloading")
        body = await finished(
            api, campaign["campaignId"], timeout=system.settings.firmware_station_timeout + 10
        )
    [detail] = body["stations"]
    assert detail["state"] == "Failed" and detail["reason"].startswith("Timeout")
    assert "Downloading" in detail["reason"]
    away, gone = unique_station("FW"), unique_station("FW")
    for offline in (away, gone):
        async with fw_station(system, offline):
            pass

        def disconnected(station: str = offline) -> bool:
            """Gone for the API and for the firmware service, which reads presence on its own.
            Its record says so: a view that has not seen the connection yet would also answer
            "not connected", and then see it connected (the race this test once lost)."""
            views = [
                system.api.commands,
                *(r.commands for r in system.runners if isinstance(r, FirmwareService)),
            ]
            records = [view.presence.get(station) for view in views]
            return all(r is not None and not r.connected for r in records)

        await eventually(disconnected)
    back = await new_campaign(api, {"imageId": img["imageId"], "stations": [away]})
    path = f"/api/v1/firmware-campaigns/{back['campaignId']}"
    body = await api.until(path, lambda b: b["stations"][0]["state"] == "Waiting")
    assert body["stations"][0]["reason"] == "NotConnected" and body["status"] == "Running"
    # Back online: the update goes out as soon as the firmware service sees the connection, which
    # can be before the API does (fw_station waits for that), so the station answers from its start.
    answers = {"UpdateFirmware": call_result.UpdateFirmware()}
    async with fw_station(system, away, answers=answers) as cp:
        await received(cp, "UpdateFirmware")
        await install(cp, "2.2")
        body = await finished(api, back["campaignId"])
    assert body["stations"][0]["state"] == "Succeeded"
    never = await new_campaign(
        api, {"imageId": img["imageId"], "stations": [gone], "policy": {"offlineWaitSeconds": 1}}
    )
    body = await finished(api, never["campaignId"])
    assert body["stations"][0]["state"] == "Failed"
    assert body["stations"][0]["reason"] == "Offline: not connected within 1s"


# -- OCTT TC_045: GetDiagnostics ----------------------------------------------------------------------------


async def test_tc_045_1_get_diagnostics_uploaded_over_http(system: System, api: Api) -> None:
    station_id = unique_station("DG")
    content = os.urandom(20_000) + b"\x00\r\n end"
    async with fw_station(system, station_id) as cp:
        cp.answering("GetDiagnostics", call_result.GetDiagnostics(file_name="diag-45-1.log"))
        start, stop = iso_at(now().replace(microsecond=0)), iso_at(now().replace(microsecond=0))
        code, body = await api.post(
            f"/api/v1/stations/{station_id}/diagnostics",
            {"startTime": start, "stopTime": stop, "retries": 2, "retryInterval": 15},
        )
        assert code == 202, body
        request_id = body["requestId"]
        req = await received(cp, "GetDiagnostics")
        assert req["retries"] == 2 and req["retry_interval"] == 15 and req["start_time"] and req["stop_time"]
        await dsn(cp, "Uploading")
        async with (
            aiohttp.ClientSession() as session,
            session.put(req["location"] + "diag-45-1.log", data=content) as resp,
        ):
            assert resp.status == 201
        await dsn(cp, "Uploaded")
    view = await api.until(
        f"/api/v1/diagnostics/{request_id}", lambda b: b["status"] == "Uploaded" and b["file"] is not None
    )
    assert view["fileName"] == "diag-45-1.log" and view["file"]["size"] == len(content)
    code, listed = await api.get("/api/v1/diagnostics", stationId=station_id)
    assert code == 200 and [d["requestId"] for d in listed["diagnostics"]] == [request_id]
    assert await download(api, view["file"]["href"]) == content


async def test_tc_045_2_upload_failed(system: System, api: Api) -> None:
    station_id = unique_station("DG")
    async with fw_station(system, station_id) as cp:
        cp.answering("GetDiagnostics", call_result.GetDiagnostics(file_name="diag-45-2.log"))
        code, body = await api.post(f"/api/v1/stations/{station_id}/diagnostics", {})
        assert code == 202, body
        await received(cp, "GetDiagnostics")
        await dsn(cp, "Uploading")
        await dsn(cp, "UploadFailed")
    view = await api.until(
        f"/api/v1/diagnostics/{body['requestId']}",
        # The answer (fileName) and the notifications travel different paths: wait for both.
        lambda b: b["status"] == "UploadFailed" and b["fileName"] is not None,
    )
    assert view["file"] is None and view["fileName"] == "diag-45-2.log"
    code, err = await api.get(f"/api/v1/diagnostics/{body['requestId']}/file")
    assert code == 404 and err["error"]["code"] == "NoFile"


async def download(api: Api, href: str) -> bytes:
    async with api.session.get(api.base + href) as resp:
        assert resp.status == 200
        return await resp.read()


# -- simulated stations: diagnostics over HTTP and FTP, and a fleet campaign --------------------------------


async def ready(system: System, fleet: Fleet) -> None:
    """Every station booted and visible to the API (presence trails the boot answer by a hop, ADR 0002)."""
    await asyncio.wait_for(fleet.ready.wait(), 30)
    await eventually(lambda: all(system.api.commands.where(st.station_id) for st in fleet.stations))


def fleet_config(system: System, stations: int) -> FleetConfig:
    return FleetConfig(
        url=f"ws://127.0.0.1:{system.gateway.port}/ocpp",
        prefix=unique_station("FWSIM") + "-",
        stations=stations,
        ramp=100,
        duration=120,
        scenario="idle",
    )


@pytest.mark.parametrize("transport", ["http", "ftp"])
async def test_simulated_station_uploads_diagnostics_byte_identical(
    system: System, api: Api, transport: str
) -> None:
    fleet = Fleet(fleet_config(system, 1))
    run = asyncio.create_task(fleet.run())
    try:
        await ready(system, fleet)
        st = fleet.stations[0]
        code, body = await api.post(f"/api/v1/stations/{st.station_id}/diagnostics", {"transport": transport})
        assert code == 202, body
        view = await api.until(
            f"/api/v1/diagnostics/{body['requestId']}",
            lambda b: b["status"] == "Uploaded" and b["file"] is not None,
        )
        uploaded = sim_firmware.memory(st).uploaded
        assert uploaded is not None and len(uploaded) > 4000
        assert view["file"]["uploadedVia"] == transport and view["file"]["size"] == len(uploaded)
        assert await download(api, view["file"]["href"]) == uploaded
    finally:
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run


async def fleet_frames(system: System, station_ids: set[str], done: int) -> dict[str, list[dict[str, Any]]]:
    """The stations' ``ocpp.frames`` records, read with a plain consumer until ``done`` of them finished."""
    consumer = await frames_consumer(system.settings)
    frames: dict[str, list[dict[str, Any]]] = defaultdict(list)
    finished_stations: set[str] = set()
    try:
        async with asyncio.timeout(30):
            while len(finished_stations) < done:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for msg in records:
                        if msg.key is None or msg.key.decode() not in station_ids:
                            continue
                        record = json.loads(msg.value)
                        frames[record["station_id"]].append(record)
                        if fsn_status(record) in TERMINAL_FSN:
                            finished_stations.add(record["station_id"])
    finally:
        await consumer.stop()
    return frames


def fsn_status(record: dict[str, Any]) -> str | None:
    if record.get("type") != "frame" or record["direction"] != "in" or record.get("message_type") != 2:
        return None
    if record.get("action") != "FirmwareStatusNotification":
        return None
    status: str = json.loads(record["raw"])[3]["status"]
    return status


async def test_fleet_campaign_obeys_the_rollout_policy(system: System, api: Api) -> None:
    """20 simulated stations, 10 % scripted to fail: batches of 5 in order, at most 3 in flight."""
    fleet = Fleet(fleet_config(system, 20))
    run = asyncio.create_task(fleet.run())
    try:
        await ready(system, fleet)
        ids = [st.station_id for st in fleet.stations]
        sim_firmware.script(fleet.stations[3], fail_download=True)  # batch 0
        sim_firmware.script(fleet.stations[12], fail_install=True)  # batch 2
        image = image_bytes("3.1.4", 20_000)
        img = await upload_image(api, image, "fw-3.1.4.bin", "3.1.4")
        campaign = await new_campaign(
            api,
            {
                "imageId": img["imageId"],
                "stations": ids,
                "transport": "http",
                "policy": {"batchSize": 5, "maxInFlight": 3, "failureThreshold": 0.25},
            },
        )
        body = await finished(api, campaign["campaignId"], timeout=50)
        frames = await fleet_frames(system, set(ids), done=20)
    finally:
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
    # The outcome: exactly the scripted stations failed, each for its reason.
    assert body["counts"]["Succeeded"] == 18 and body["counts"]["Failed"] == 2, body["counts"]
    failed = {s["stationId"]: s["reason"] for s in body["stations"] if s["state"] == "Failed"}
    assert failed == {ids[3]: "DownloadFailed", ids[12]: "InstallationFailed"}
    assert all(s["bootedFirmwareVersion"] == "3.1.4" for s in body["stations"] if s["state"] == "Succeeded")
    for i, st in enumerate(fleet.stations):
        if i != 3:
            assert sim_firmware.memory(st).downloaded == image  # every downloader got the exact bytes
    # The policy, from the frames: one UpdateFirmware each; at most 3 in flight; batch k after k-1.
    sent: dict[str, int] = {}
    done: dict[str, int] = {}
    for station_id, records in frames.items():
        calls = [
            r
            for r in records
            if r.get("type") == "frame"
            and r["direction"] == "out"
            and r.get("message_type") == 2
            and r.get("action") == "UpdateFirmware"
        ]
        assert len(calls) == 1, (station_id, len(calls))
        sent[station_id] = calls[0]["at_ms"]
        done[station_id] = min(r["at_ms"] for r in records if fsn_status(r) in TERMINAL_FSN)
    timeline = sorted(
        [(t, 1) for t in sent.values()] + [(t, -1) for t in done.values()], key=lambda e: (e[0], e[1])
    )
    in_flight = peak = 0
    for _, delta in timeline:
        in_flight += delta
        peak = max(peak, in_flight)
    assert peak <= 3, f"{peak} updates in flight"
    assert peak >= 2  # the policy allowed parallelism and it was used
    for batch in range(1, 4):
        previous, current = ids[(batch - 1) * 5 : batch * 5], ids[batch * 5 : (batch + 1) * 5]
        assert min(sent[s] for s in current) >= max(done[s] for s in previous), f"batch {batch} started early"


async def test_the_failure_threshold_pauses_and_the_operator_resumes(system: System, api: Api) -> None:
    fleet = Fleet(fleet_config(system, 4))
    run = asyncio.create_task(fleet.run())
    try:
        await ready(system, fleet)
        ids = [st.station_id for st in fleet.stations]
        sim_firmware.script(fleet.stations[0], fail_download=True)
        img = await upload_image(api, image_bytes("4.0"), "fw-4.0.bin", "4.0")
        campaign = await new_campaign(
            api,
            {
                "imageId": img["imageId"],
                "stations": ids,
                "transport": "ftp",
                "policy": {"batchSize": 2, "maxInFlight": 2, "failureThreshold": 0.4},
            },
        )
        path = f"/api/v1/firmware-campaigns/{campaign['campaignId']}"
        paused = await api.until(path, lambda b: b["status"] == "Paused")
        assert "batch 0" in paused["pauseReason"]
        await asyncio.sleep(0.6)  # a few ticks: nothing of batch 1 is sent while paused
        still = (await api.get(path))[1]
        assert still["status"] == "Paused" and all(s["state"] == "Pending" for s in still["stations"][2:])
        code, resumed = await api.post(path + "/resume", None)
        assert code == 202 and resumed["status"] in ("Running", "Completed")
        code, err = await api.post(path + "/resume", None)
        assert code == 409 and err["error"]["code"] == "InvalidState"
        body = await finished(api, campaign["campaignId"])
    finally:
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
    assert body["counts"]["Succeeded"] == 3 and body["counts"]["Failed"] == 1
    assert sim_firmware.memory(fleet.stations[1]).version == "4.0"  # downloaded over FTP and installed


# -- operator API: bad input is refused precisely -------------------------------------------------------------


async def test_bad_requests_get_precise_errors(system: System, api: Api) -> None:
    async with api.session.post(api.base + "/api/v1/firmware", data=b"x", params={"name": "../etc"}) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "InvalidQuery"
    async with api.session.post(api.base + "/api/v1/firmware", data=b"", params={"name": "a.bin"}) as resp:
        assert resp.status == 422 and (await resp.json())["error"]["code"] == "EmptyImage"
    img = await upload_image(api, image_bytes("5"), "fw-5.bin", "5")
    unknown = uuid.uuid4().hex
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"stations": ["X"]}, 422, "InvalidBody"),  # no imageId
        ({"imageId": unknown, "stations": ["X"]}, 422, "UnknownImage"),
        ({"imageId": img["imageId"]}, 422, "InvalidBody"),  # no target
        ({"imageId": img["imageId"], "stations": ["A"], "site": "s"}, 422, "InvalidBody"),
        ({"imageId": img["imageId"], "site": f"nosite-{unknown}"}, 422, "NoTargets"),
        ({"imageId": img["imageId"], "stations": [f"ghost-{unknown[:8]}"]}, 404, "UnknownStation"),
        ({"imageId": img["imageId"], "stations": ["A"], "policy": {"batchSize": 0}}, 422, "InvalidBody"),
        (
            {"imageId": img["imageId"], "stations": ["A"], "policy": {"failureThreshold": 2}},
            422,
            "InvalidBody",
        ),
        ({"imageId": img["imageId"], "stations": ["A"], "transport": "smtp"}, 422, "InvalidBody"),
        ({"imageId": img["imageId"], "filter": {}}, 422, "InvalidBody"),
    ]
    for body, status, error_code in cases:
        got, err = await api.post("/api/v1/firmware-campaigns", body)
        assert (got, err["error"]["code"]) == (status, error_code), (body, err)
    assert (await api.get(f"/api/v1/firmware-campaigns/{unknown}"))[0] == 404
    assert (await api.post(f"/api/v1/firmware-campaigns/{unknown}/pause", None))[0] == 404
    got, err = await api.post(f"/api/v1/stations/{unique_station('DG')}/diagnostics", {})
    assert got == 404 and err["error"]["code"] == "UnknownStation"
    station_id = unique_station("DG")
    async with fw_station(system, station_id):
        got, err = await api.post(
            f"/api/v1/stations/{station_id}/diagnostics",
            {"startTime": "2026-01-02T00:00:00Z", "stopTime": "2026-01-01T00:00:00Z"},
        )
        assert got == 422 and err["error"]["field"] == "stopTime"
    assert (await api.get(f"/api/v1/diagnostics/{unknown}"))[0] == 404
    code, doc = await api.get("/openapi.json")
    assert code == 200 and "/api/v1/firmware-campaigns/{campaignId}" in doc["paths"]


# -- more of the contract: upload limits and forms, targeting, operator control -------------------------------


async def diagnostics_location(api: Api, cp: TestStation, station_id: str, transport: str) -> tuple[str, str]:
    cp.received.clear()
    code, body = await api.post(f"/api/v1/stations/{station_id}/diagnostics", {"transport": transport})
    assert code == 202, body
    location: str = (await received(cp, "GetDiagnostics"))["location"]
    return body["requestId"], location


async def test_diagnostics_uploads_are_size_limited_and_may_be_multipart(system: System, api: Api) -> None:
    limit = system.settings.diagnostics_max_bytes
    station_id = unique_station("DG")
    async with fw_station(system, station_id) as cp:
        cp.answering("GetDiagnostics", call_result.GetDiagnostics(file_name="big.log"))
        request_id, location = await diagnostics_location(api, cp, station_id, "http")
        async with api.session.put(location + "big.log", data=os.urandom(limit + 1)) as resp:
            assert resp.status == 413
        async with api.session.put(location + "..", data=b"x") as resp:
            assert resp.status in (400, 404)  # never outside the request's directory
        async with api.session.put(location.replace("/diagnostics/", "/diagnostics/x"), data=b"x") as resp:
            assert resp.status == 404  # wrong request id / token
        content = os.urandom(limit // 2)
        form = aiohttp.FormData()
        form.add_field("file", content, filename="form.log", content_type="application/octet-stream")
        async with api.session.post(location, data=form) as resp:
            assert resp.status == 201
        view = await api.until(f"/api/v1/diagnostics/{request_id}", lambda b: b["file"] is not None)
        assert view["file"]["size"] == len(content) and await download(api, view["file"]["href"]) == content

        request_id, location = await diagnostics_location(api, cp, station_id, "ftp")
        with pytest.raises((ftplib.error_perm, ftplib.error_temp, OSError)):
            await asyncio.to_thread(sim_firmware._ftp_store, location, "big.log", os.urandom(limit * 3))
        small = os.urandom(1000)
        await asyncio.to_thread(sim_firmware._ftp_store, location, "small.log", small)
        view = await api.until(f"/api/v1/diagnostics/{request_id}", lambda b: b["file"] is not None)
        assert view["file"]["size"] == len(small) and view["file"]["uploadedVia"] == "ftp"  # not big.log
    with pytest.raises(ftplib.error_perm):  # a wrong password
        await asyncio.to_thread(sim_firmware._ftp_store, location.replace("@", "x@", 1), "x.log", b"x")


async def test_campaign_targets_by_site_and_by_filter(system: System, api: Api) -> None:
    img = await upload_image(api, image_bytes("6.0"), "fw-6.0.bin", "6.0")
    site, version = f"site-{uuid.uuid4().hex[:8]}", f"v-{uuid.uuid4().hex[:8]}"
    on_site, other = unique_station("FW"), unique_station("FW")
    assert (await api.put(f"/api/v1/stations/{on_site}", {"site": site}))[0] == 201
    async with fw_station(system, on_site) as a, fw_station(system, other, boot=False) as b:
        booted = await b.call(
            call.BootNotification(
                charge_point_model="M-9", charge_point_vendor="Acme", firmware_version=version
            )
        )
        assert booted.status == "Accepted"
        await api.until(f"/api/v1/stations/{other}", lambda s: s.get("boot") is not None)
        for cp in (a, b):
            cp.answering("UpdateFirmware", call_result.UpdateFirmware())
        by_site = await new_campaign(api, {"imageId": img["imageId"], "site": site})
        assert [s["stationId"] for s in by_site["stations"]] == [on_site]
        by_filter = await new_campaign(
            api, {"imageId": img["imageId"], "filter": {"firmwareVersion": version, "model": "M-9"}}
        )
        assert [s["stationId"] for s in by_filter["stations"]] == [other]
        assert by_filter["target"] == {"model": "M-9", "firmwareVersion": version}
        await received(a, "UpdateFirmware")
        await received(b, "UpdateFirmware")


async def test_operator_pauses_resumes_and_aborts(system: System, api: Api) -> None:
    img = await upload_image(api, image_bytes("7.0"), "fw-7.0.bin", "7.0")
    ids = [unique_station("FW") for _ in range(3)]
    async with (
        fw_station(system, ids[0]) as a,
        fw_station(system, ids[1]) as b,
        fw_station(system, ids[2]) as c,
    ):
        for cp in (a, b, c):
            cp.answering("UpdateFirmware", call_result.UpdateFirmware())
        campaign = await new_campaign(
            api, {"imageId": img["imageId"], "stations": ids, "policy": {"batchSize": 1, "maxInFlight": 1}}
        )
        path = f"/api/v1/firmware-campaigns/{campaign['campaignId']}"
        await received(a, "UpdateFirmware")
        code, paused = await api.post(path + "/pause", None)
        assert (
            code == 202 and paused["status"] == "Paused" and paused["pauseReason"] == "paused by the operator"
        )
        await fsn(a, "Installed")  # no version confirmation yet: still Installed
        await api.until(path, lambda x: x["stations"][0]["state"] == "Installed")
        await a.call(
            call.BootNotification(charge_point_model="M", charge_point_vendor="V", firmware_version="7.0")
        )
        await api.until(path, lambda x: x["stations"][0]["state"] == "Succeeded")
        await asyncio.sleep(0.6)  # ticks pass; paused: b gets nothing
        assert not any(act == "UpdateFirmware" for act, _ in b.received)
        assert (await api.post(path + "/resume", None))[0] == 202
        await received(b, "UpdateFirmware")
        code, aborted = await api.post(path + "/abort", None)
        assert code == 202 and aborted["status"] == "Aborted"
        assert aborted["counts"]["Skipped"] == 1 and aborted["stations"][2]["state"] == "Skipped"
        await fsn(b, "DownloadFailed")  # sent before the abort: still followed
        body = await api.until(path, lambda x: x["stations"][1]["state"] == "Failed")
        assert body["status"] == "Aborted" and not any(act == "UpdateFirmware" for act, _ in c.received)
        code, err = await api.post(path + "/resume", None)
        assert code == 409 and "Aborted" in err["error"]["description"]


async def test_state_and_read_models_rebuild_from_the_log(system: System, api: Api) -> None:
    """Event sourcing: replaying ``firmware.events`` gives the live read model and the live state."""
    img = await upload_image(api, image_bytes("8.0"), "fw-8.0.bin", "8.0")
    station_id = unique_station("FW")
    async with fw_station(system, station_id) as cp:
        cp.answering("UpdateFirmware", call_result.UpdateFirmware())
        campaign = await new_campaign(api, {"imageId": img["imageId"], "stations": [station_id]})
        await received(cp, "UpdateFirmware")
        await fsn(cp, "Downloading")
        await fsn(cp, "DownloadFailed")
        live = await finished(api, campaign["campaignId"])
    schema = f"fw_replay_{uuid.uuid4().hex[:8]}"
    target = DbTarget(system.settings.database_url, schema)
    await rebuild([FirmwareProjection(topics(system))], system.settings.kafka_bootstrap, target)
    pool = await connect_pool(target)
    try:
        sql = "SELECT {} FROM {} WHERE campaign_id = $1 ORDER BY 1"
        for table, columns in (
            ("fw_campaigns", "status, pause_reason, target, policy, created_at, updated_at"),
            ("fw_campaign_stations", "station_id, state, last_status, reason, dispatched_at, updated_at"),
        ):
            replayed = [dict(r) for r in await pool.fetch(sql.format(columns, table), campaign["campaignId"])]
            async with (await system.api.pool()).acquire() as conn:
                original = [
                    dict(r) for r in await conn.fetch(sql.format(columns, table), campaign["campaignId"])
                ]
            assert replayed == original and replayed, table
        async with pool.acquire() as conn:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await pool.close()
    # The service's state, rebuilt by following the topic from the beginning, agrees with the API.
    state = State()
    follower = LogFollower(
        system.settings.kafka_bootstrap,
        topics(system).domain("firmware"),
        lambda _p, _k, v: evolve(state, event_decoder.decode(v)) if v is not None else None,
    )
    await follower.start()
    await follower.stop()
    run = state.campaigns[campaign["campaignId"]].stations[station_id]
    assert (run.step.value, run.reason) == (live["stations"][0]["state"], live["stations"][0]["reason"])
    assert state.campaigns[campaign["campaignId"]].status.value == live["status"] == "Completed"


# -- replicas -----------------------------------------------------------------------------------------------


async def update_all(api: Api, cps: list[TestStation], version: str) -> dict[str, Any]:
    """One campaign over ``cps``; each station installs and boots with ``version``."""
    img = await upload_image(api, image_bytes(version), f"fw-{version}.bin", version)
    campaign = await new_campaign(
        api, {"imageId": img["imageId"], "stations": [cp.id for cp in cps], "policy": {"batchSize": len(cps)}}
    )
    for cp in cps:
        await received(cp, "UpdateFirmware")
        await install(cp, version)
        cp.received.clear()
    return await finished(api, campaign["campaignId"])


async def test_a_second_replica_neither_duplicates_nor_stalls_campaigns(system: System, api: Api) -> None:
    """Two firmware replicas: one drives (the lease holder), both follow frames and serve files; each
    station is sent its update once; when a replica leaves, the campaigns go on."""
    replica = firmware.runners(
        dataclasses.replace(
            system.settings,
            instance_id=f"{system.settings.instance_id}-r2",
            files_http_port=0,
            files_ftp_port=0,
            projections=False,
        )
    )
    services = [r for r in [*system.runners, *replica] if isinstance(r, FirmwareService)]
    stop = asyncio.Event()
    running = asyncio.create_task(run_until(replica, stop))
    try:
        await eventually(lambda: sum(s.lease.holding for s in services) == 1, timeout=30, what="one driver")
        ids = [unique_station("FW") for _ in range(3)]
        async with contextlib.AsyncExitStack() as stack:
            cps = [await stack.enter_async_context(fw_station(system, sid)) for sid in ids]
            for cp in cps:
                cp.answering("UpdateFirmware", call_result.UpdateFirmware())
            body = await update_all(api, cps, "5.0")
            assert body["counts"]["Succeeded"] == 3
            frames = await fleet_frames(system, set(ids), done=3)
            for station_id, records in frames.items():
                sent = [
                    r for r in records if r.get("message_type") == 2 and r.get("action") == "UpdateFirmware"
                ]
                assert len(sent) == 1, (station_id, len(sent))
            # The second replica leaves (holding the lease or not): the next campaign still runs.
            stop.set()
            await asyncio.wait_for(running, 30)
            await eventually(lambda: services[0].lease.holding, timeout=30, what="the first replica drives")
            # The lease moves at once, the frames group after a rebalance (a heartbeat away): a
            # campaign started before it ends would see no news from the replica's partitions for
            # longer than the tests' 5 s station timeout (the race this test once lost).
            [follower] = [
                r
                for r in system.runners
                if isinstance(r, FrameServiceRunner) and isinstance(r.handler, FirmwareFrames)
            ]
            await eventually(
                lambda: len(follower.assigned) == system.settings.frame_partitions,
                timeout=30,
                what="the first replica follows every partition's frames",
            )
            body = await update_all(api, cps, "5.1")
            assert body["counts"]["Succeeded"] == 3, [(s["state"], s["reason"]) for s in body["stations"]]
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(running, 30)


# -- the contract document describes the bodies ----------------------------------------------------------


def openapi_validator(doc: dict[str, Any], path: str) -> jsonschema.Draft202012Validator:
    """The validator of the 200 body of ``GET path`` as /openapi.json describes it (its ``$ref``s
    resolve into the document's components)."""
    schema = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema != {"type": "object"}, f"GET {path}: the 200 body is not described"
    return jsonschema.Draft202012Validator({**schema, "components": doc["components"]})


async def test_firmware_and_diagnostics_bodies_validate_against_openapi(system: System, api: Api) -> None:
    """Every firmware, campaign and diagnostics GET answers what its schema in /openapi.json says,
    with the optional parts filled in too (a finished station, an uploaded file, a next cursor)."""
    img = await upload_image(api, image_bytes("7.0"), "fw-7.0.bin", "7.0")
    await upload_image(api, image_bytes("7.1"), "fw-7.1.bin", None)
    station_id = unique_station("FW")
    async with fw_station(system, station_id) as cp:
        cp.answering("UpdateFirmware", call_result.UpdateFirmware())
        cp.answering("GetDiagnostics", call_result.GetDiagnostics(file_name="d.log"))
        campaign = await new_campaign(api, {"imageId": img["imageId"], "stations": [station_id]})
        await received(cp, "UpdateFirmware")
        await install(cp, "7.0")
        await finished(api, campaign["campaignId"])
        await new_campaign(api, {"imageId": img["imageId"], "filter": {"firmwareVersion": "7.0"}})
        request_id, location = await diagnostics_location(api, cp, station_id, "http")
        async with aiohttp.ClientSession() as session, session.put(location + "d.log", data=b"log") as resp:
            assert resp.status == 201
        await diagnostics_location(api, cp, station_id, "http")
    await api.until(f"/api/v1/diagnostics/{request_id}", lambda b: b["file"] is not None)
    code, doc = await api.get("/openapi.json")
    assert code == 200
    gets = [
        ("/api/v1/firmware", "/api/v1/firmware", {}),
        ("/api/v1/firmware", "/api/v1/firmware", {"limit": "1"}),
        ("/api/v1/firmware/{imageId}", f"/api/v1/firmware/{img['imageId']}", {}),
        ("/api/v1/firmware-campaigns", "/api/v1/firmware-campaigns", {}),
        ("/api/v1/firmware-campaigns", "/api/v1/firmware-campaigns", {"limit": "1"}),
        (
            "/api/v1/firmware-campaigns/{campaignId}",
            f"/api/v1/firmware-campaigns/{campaign['campaignId']}",
            {},
        ),
        ("/api/v1/diagnostics", "/api/v1/diagnostics", {"stationId": station_id}),
        ("/api/v1/diagnostics", "/api/v1/diagnostics", {"limit": "1"}),
        ("/api/v1/diagnostics/{requestId}", f"/api/v1/diagnostics/{request_id}", {}),
    ]
    for template, path, params in gets:
        code, body = await api.get(path, **params)
        assert code == 200, (path, body)
        errors = [e.message for e in openapi_validator(doc, template).iter_errors(body)]
        assert not errors, (path, params, errors)
    _, paged = await api.get("/api/v1/firmware", limit="1")
    assert paged["next"] is not None  # the page with a cursor was among those checked
    _, detail = await api.get(f"/api/v1/firmware-campaigns/{campaign['campaignId']}")
    assert detail["stations"][0]["dispatchedAt"] is not None

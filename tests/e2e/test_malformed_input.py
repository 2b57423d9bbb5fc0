"""Hostile input at the edge (issue 12): deeply nested JSON and invalid UTF-8 get a precise answer.

OCPP-J 1.6 section 4.2.3: a message whose content "does not meet the requirements for a proper
message" is answered with a CALLERROR; a frame whose id cannot be read is answered with id ``-1``
(shared/ocpp/frames.py). The operator API answers 400, never 500.
"""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.client import connect

from tests.e2e.conftest import Api, System, read_frames, unique_station
from tests.e2e.station import OCPP16, boot_raw

pytestmark = pytest.mark.e2e

DEPTH = 5000  # well past msgspec's recursion limit (it raised RecursionError before the fix)


async def test_deeply_nested_frame_gets_callerror_and_is_logged(system: System) -> None:
    station_id = unique_station("NEST")
    unreadable = "[" * DEPTH
    with_id = '[2,"nest-1","Heartbeat",' + "[" * DEPTH + "]" * DEPTH + "]"
    async with connect(system.station_url(station_id), subprotocols=OCPP16) as ws:
        await boot_raw(ws)
        await ws.send(unreadable)
        assert json.loads(await ws.recv())[:3] == [4, "-1", "FormationViolation"]
        await ws.send(with_id)
        assert json.loads(await ws.recv())[:3] == [4, "nest-1", "FormationViolation"]
        # The connection survived (it was closed with 1011 before): a Heartbeat is still answered.
        await ws.send('[2,"hb-1","Heartbeat",{}]')
        answer = json.loads(await ws.recv())
        assert answer[:2] == [3, "hb-1"] and "currentTime" in answer[2]

    def logged(records: list[dict[str, object]]) -> bool:
        raws = [r.get("raw") for r in records if r["type"] == "frame" and r["direction"] == "in"]
        return unreadable in raws and with_id in raws

    records = await read_frames(system.settings, station_id, logged)
    inbound = {r["raw"]: r for r in records if r["type"] == "frame" and r["direction"] == "in"}
    assert inbound[unreadable]["error_code"] == "FormationViolation"
    assert inbound[unreadable]["error_description"] == "message is nested too deeply"
    assert inbound[with_id]["unique_id"] == "nest-1"
    assert inbound[with_id]["error_code"] == "FormationViolation"


async def test_api_invalid_utf8_body_is_400_and_nested_body_is_4xx(api: Api) -> None:
    url = api.base + "/api/v1/stations/" + unique_station("APIN")
    headers = {"Content-Type": "application/json"}
    async with api.session.put(url, data=b'{"site": "\xff\xfe"}', headers=headers) as resp:
        assert resp.status == 400, await resp.text()
        error = (await resp.json())["error"]
        assert error["code"] == "MalformedJson" and "UTF-8" in error["description"]
    # A typed body stops at the first value of the wrong shape: 422, never a RecursionError.
    async with api.session.put(url, data=b"[" * DEPTH, headers=headers) as resp:
        assert resp.status == 422, await resp.text()
        assert (await resp.json())["error"]["code"] == "InvalidBody"


async def test_api_deeply_nested_command_payload_is_422(system: System, api: Api) -> None:
    station_id = unique_station("APIC")
    async with connect(system.station_url(station_id), subprotocols=OCPP16) as ws:
        await ws.send('[2,"b1","BootNotification",{"chargePointVendor":"v","chargePointModel":"m"}]')
        assert json.loads(await ws.recv())[:2] == [3, "b1"]
        await api.until(f"/api/v1/stations/{station_id}", lambda s: bool(s.get("connected")))
        url = f"{api.base}/api/v1/stations/{station_id}/commands/Reset"
        async with api.session.post(url, data=b'{"type":' + b"[" * DEPTH) as resp:
            assert resp.status == 422, await resp.text()
            error = (await resp.json())["error"]
            assert error["code"] == "FormationViolation" and "nested too deeply" in error["description"]

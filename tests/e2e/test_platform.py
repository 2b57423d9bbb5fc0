"""Issue 2 done-when: an independent client boots, heartbeats, gets the right CALLERROR for every kind of
malformed frame while its connection stays up, and every one of those frames is in ``ocpp.frames``."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import pytest
from ocpp.v16 import ChargePoint, call
from websockets.asyncio.client import connect

from tests.e2e.conftest import System, frames_consumer, read_frames, unique_station
from tests.e2e.station import OCPP16

pytestmark = pytest.mark.e2e

# (frame sent by the station, expected CALLERROR code, expected message id of the answer)
MALFORMED = [
    ("this is not json", "FormationViolation", "-1"),
    ('{"not": "an array"}', "FormationViolation", "-1"),
    ('[2, "m1", "FlyToTheMoon", {}]', "NotImplemented", "m1"),
    ('[2, "m2", "BootNotification", {"chargePointVendor": "Acme"}]', "OccurenceConstraintViolation", "m2"),
    (
        '[2, "m3", "StatusNotification", {"connectorId": "1", "errorCode": "NoError", "status": "Charging"}]',
        "TypeConstraintViolation",
        "m3",
    ),
    (
        '[2, "m4", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Exploded"}]',
        "PropertyConstraintViolation",
        "m4",
    ),
    ('[2, "m5", "Heartbeat", {"unexpected": true}]', "FormationViolation", "m5"),
    ('[2, "m6", "Heartbeat"]', "ProtocolError", "m6"),
    ('[2, "m7", "Reset", {"type": "Soft"}]', "NotSupported", "m7"),
    ('[2, "' + "x" * 37 + '", "Heartbeat", {}]', "FormationViolation", "x" * 37),
]


async def test_boot_heartbeat_and_malformed_frames_are_answered_and_logged(system: System) -> None:
    station_id = unique_station()
    async with connect(system.station_url(station_id), subprotocols=OCPP16) as ws:
        assert ws.subprotocol == "ocpp1.6"
        cp = ChargePoint(station_id, ws)
        listener = asyncio.create_task(cp.start())
        boot = await cp.call(call.BootNotification(charge_point_model="Sim-1", charge_point_vendor="Acme"))
        assert boot.status == "Accepted" and boot.interval > 0
        datetime.fromisoformat(boot.current_time)
        beat = await cp.call(call.Heartbeat())
        datetime.fromisoformat(beat.current_time)
        listener.cancel()

        for frame, code, answer_id in MALFORMED:
            await ws.send(frame)
            answer = json.loads(await asyncio.wait_for(ws.recv(), 15))
            assert answer[0] == 4, (frame, answer)
            assert answer[1] == answer_id and answer[2] == code, (frame, answer)
            assert (isinstance(answer[3], str) and answer[4] == {}) or isinstance(answer[4], dict)

        # A message type other than 2/3/4 is ignored (no answer) but logged; the connection still works.
        await ws.send('[7, "m8", "Whatever", {}]')
        await ws.send('[2, "hb-after", "Heartbeat", {}]')
        answer = json.loads(await asyncio.wait_for(ws.recv(), 15))
        assert answer[0] == 3 and answer[1] == "hb-after"

    # Every frame of the session, both directions, is in ocpp.frames in order.
    sent_by_station = 2 + len(MALFORMED) + 2
    expected = 2 + 2 * sent_by_station - 1
    records = await read_frames(system.settings, station_id, lambda r: len(r) >= expected)
    kinds = [r["type"] for r in records]
    assert kinds[0] == "opened"
    frames = [r for r in records if r["type"] == "frame"]
    inbound = [r["raw"] for r in frames if r["direction"] == "in"]
    for frame, _, _ in MALFORMED:
        assert frame in inbound
    assert '[7, "m8", "Whatever", {}]' in inbound
    errors = {
        r["unique_id"]: r["error_code"] for r in frames if r["direction"] == "in" and r.get("error_code")
    }
    for _, code, answer_id in MALFORMED:
        if answer_id != "-1":
            assert errors[answer_id] == code
    outbound = [json.loads(r["raw"]) for r in frames if r["direction"] == "out"]
    assert [o[2] for o in outbound if o[0] == 4] == [code for _, code, _ in MALFORMED]
    assert kinds[-1] == "closed"


async def test_a_call_answered_at_the_gateway_is_logged_with_its_answer_in_one_append(system: System) -> None:
    """ADR 0044: a Heartbeat (answered by the gateway) and an invalid CALL (answered with its
    CALLERROR) are each appended together with their answer: one batch, adjacent offsets, so a
    consumer woken per record is woken once for the pair."""
    station_id = unique_station()
    async with connect(system.station_url(station_id), subprotocols=OCPP16) as ws:
        cp = ChargePoint(station_id, ws)
        listener = asyncio.create_task(cp.start())
        await cp.call(call.BootNotification(charge_point_model="Sim-1", charge_point_vendor="Acme"))
        listener.cancel()
        for frame in ('[2, "hb", "Heartbeat", {}]', '[2, "bad", "Heartbeat", {"x": 1}]'):
            await ws.send(frame)
            await asyncio.wait_for(ws.recv(), 15)
    consumer = await frames_consumer(system.settings)
    pairs: dict[str, list[tuple[int, int, str]]] = {"hb": [], "bad": []}
    try:
        async with asyncio.timeout(30):
            while any(len(found) < 2 for found in pairs.values()):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for msg in records:
                        record = json.loads(msg.value)
                        if msg.key == station_id.encode() and record.get("unique_id") in pairs:
                            pairs[record["unique_id"]].append(
                                (msg.partition, msg.offset, record["direction"])
                            )
    finally:
        await consumer.stop()
    for (p_in, at_in, d_in), (p_out, at_out, d_out) in pairs.values():
        assert (d_in, d_out) == ("in", "out") and p_in == p_out and at_out == at_in + 1

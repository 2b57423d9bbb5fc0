"""A station's CALLRESULT is validated against the 1.6 response model before anyone uses it (issue 11.4).

A station that answers ``Reset`` with ``{}`` (no ``status``, required by ResetResponse, OCPP 1.6
section 6.41) must not make the operator API answer 200 ``{"response": {}}``: that would break our own
OpenAPI contract. It is a 502 with the validation error; the frame is in ``ocpp.frames`` exactly as
received, marked; and no read model applies it as if it were valid. A plain WebSocket client plays the
station, since the ``ocpp`` package would refuse to send such an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.e2e.conftest import Api, System, read_frames, unique_station
from tests.e2e.station import OCPP16, boot_raw

pytestmark = pytest.mark.e2e


@contextlib.asynccontextmanager
async def raw_station(url: str, answers: dict[str, str]) -> AsyncIterator[ClientConnection]:
    """A booted station that answers each Central System CALL with the raw payload text given."""
    async with connect(url, subprotocols=OCPP16) as ws:
        await boot_raw(ws)

        async def answer() -> None:
            async for text in ws:
                frame = json.loads(text)
                if frame[0] == 2:
                    await ws.send(f'[3,"{frame[1]}",{answers[frame[2]]}]')

        task = asyncio.create_task(answer())
        try:
            yield ws
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_an_invalid_callresult_is_a_502_logged_as_received_and_never_applied(
    system: System, api: Api
) -> None:
    station_id = unique_station()
    answers = {
        "Reset": "{}",
        "ChangeConfiguration": '{"status":"Bogus"}',
        "ClearCache": '{"status":"Accepted"}',
    }
    async with raw_station(system.station_url(station_id), answers):
        code, body = await api.post(f"/api/v1/stations/{station_id}/commands/Reset", {"type": "Soft"})
        assert code == 502, body
        assert body["error"]["code"] == "InvalidStationResponse"
        assert body["error"]["field"] == "status"
        assert body["error"]["details"] == {"ocppError": "OccurenceConstraintViolation", "response": {}}
        assert "ResetResponse" in body["error"]["description"]

        code, body = await api.post(
            f"/api/v1/stations/{station_id}/commands/ChangeConfiguration",
            {"key": "HeartbeatInterval", "value": "60"},
        )
        assert code == 502 and body["error"]["field"] == "status", body
        # A valid answer on the same connection still passes.
        code, body = await api.post(f"/api/v1/stations/{station_id}/commands/ClearCache", {})
        assert (code, body) == (200, {"response": {"status": "Accepted"}})

    # In the log exactly as received, with the reason it is not valid.
    frames = await read_frames(
        system.settings,
        station_id,
        lambda found: sum(1 for r in found if r.get("direction") == "in" and r.get("message_type") == 3) == 3,
    )
    answered = [r for r in frames if r.get("direction") == "in" and r.get("message_type") == 3]
    reset = next(r for r in answered if r["action"] == "Reset")
    assert reset["raw"].endswith(",{}]") and reset["error_code"] == "OccurenceConstraintViolation"
    assert next(r for r in answered if r["action"] == "ClearCache").get("error_code") is None

    # The calls read model says so; the configuration read model took nothing from the bogus answer.
    calls = await api.until(
        f"/api/v1/stations/{station_id}/calls",
        lambda b: (
            {c["action"]: c["outcome"] for c in b["calls"]}
            == {"Reset": "invalid", "ChangeConfiguration": "invalid", "ClearCache": "result"}
        ),
    )
    reset_call = next(c for c in calls["calls"] if c["action"] == "Reset")
    assert reset_call["response"] == {} and reset_call["errorCode"] == "OccurenceConstraintViolation"
    # The same projection applies an accepted ChangeConfiguration: it has seen all three answers now.
    code, configuration = await api.get(f"/api/v1/stations/{station_id}/configuration")
    assert (code, configuration["configuration"]) == (200, [])

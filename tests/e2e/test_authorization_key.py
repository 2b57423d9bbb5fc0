"""AuthorizationKey rotation (security whitepaper use case A01, OCTT TC_073), end to end with the
`ocpp` client: after the station accepts the new key only the new password gets in (A01.FR.03), a
refusal keeps the old one (A01.FR.04), and the password is never in the frame log nor in a read
model (A01.FR.08/09, 7.2 write-only)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ocpp.v16 import call, call_result

from shared.ocpp.v16.write_only import REDACTED
from tests.e2e.conftest import Api, System, read_frames, unique_station
from tests.e2e.station import basic_auth, station

pytestmark = pytest.mark.e2e

OLD, NEW, OTHER = "old-password-0001", "new-password-0002", "other-password-03"


async def boots(system: System, station_id: str, password: str) -> bool:
    try:
        async with station(
            system.station_url(station_id), Authorization=basic_auth(station_id, password)
        ) as cp:
            return bool((await cp.call(call.Heartbeat())).current_time)
    except Exception as exc:  # the handshake's 401
        if "401" in str(exc):
            return False
        raise


async def test_the_new_password_is_the_only_one_after_accepted_and_never_in_the_log(
    system: System, api: Api
) -> None:
    station_id = unique_station("KEY")
    assert (await api.put(f"/api/v1/stations/{station_id}", {"password": OLD}))[0] == 201
    seen: list[dict[str, Any]] = []

    def change(request: dict[str, Any]) -> Any:
        seen.append(request)
        return call_result.ChangeConfiguration(status="Accepted")

    async with station(system.station_url(station_id), Authorization=basic_auth(station_id, OLD)) as cp:
        cp.answering("ChangeConfiguration", change)
        code, body = await api.put(f"/api/v1/stations/{station_id}/authorization-key", {"password": NEW})
        assert code == 200, body
        assert body == {"stationId": station_id, "status": "Accepted", "acceptedPassword": "new"}
        # On the wire: the UTF-8 bytes of the password in hex (A00.FR.205).
        assert seen == [{"key": "AuthorizationKey", "value": NEW.encode().hex()}]
    assert not await boots(system, station_id, OLD)
    assert await boots(system, station_id, NEW)

    frames = await read_frames(
        system.settings,
        station_id,
        lambda found: any(f.get("action") == "ChangeConfiguration" for f in found),
    )
    sent = next(f for f in frames if f.get("action") == "ChangeConfiguration" and f.get("message_type") == 2)
    assert json.loads(sent["raw"])[3] == {"key": "AuthorizationKey", "value": REDACTED}
    assert all(NEW not in json.dumps(f) and NEW.encode().hex() not in json.dumps(f) for f in frames)
    calls = await api.until(f"/api/v1/stations/{station_id}/calls", lambda b: len(b["calls"]) >= 1)
    assert calls["calls"][0]["request"] == {"key": "AuthorizationKey", "value": REDACTED}
    config = await api.until(f"/api/v1/stations/{station_id}/configuration", lambda b: True)
    assert all(
        k.get("value") is None for k in config.get("configuration", []) if k.get("key") == "AuthorizationKey"
    )


async def test_a_refused_key_keeps_the_old_password_and_the_command_endpoint_refuses_it(
    system: System, api: Api
) -> None:
    station_id = unique_station("KEY")
    assert (await api.put(f"/api/v1/stations/{station_id}", {"password": OLD}))[0] == 201
    async with station(system.station_url(station_id), Authorization=basic_auth(station_id, OLD)) as cp:
        cp.answering("ChangeConfiguration", call_result.ChangeConfiguration(status="Rejected"))
        code, body = await api.put(f"/api/v1/stations/{station_id}/authorization-key", {"password": OTHER})
        assert code == 200 and body["status"] == "Rejected" and body["acceptedPassword"] == "old", body
        # Only through the endpoint above: the generic one would carry the password in the clear.
        code, body = await api.post(
            f"/api/v1/stations/{station_id}/commands/ChangeConfiguration",
            {"key": "AuthorizationKey", "value": OTHER.encode().hex()},
        )
        assert code == 422 and body["error"]["code"] == "WriteOnlyKey", body
        code, body = await api.put(f"/api/v1/stations/{station_id}/authorization-key", {"password": "short"})
        assert code == 422 and body["error"]["field"] == "password", body
    assert await boots(system, station_id, OLD)
    assert not await boots(system, station_id, OTHER)
    code, body = await api.put(f"/api/v1/stations/{station_id}/authorization-key", {"password": NEW})
    assert code == 409 and body["error"]["code"] == "NotConnected", body

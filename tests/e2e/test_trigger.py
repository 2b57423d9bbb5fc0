"""OCTT Remote Trigger cases for a Central System (TC_054, TC_055), end to end with the `ocpp` client.

TriggerMessage goes out through the generic command endpoint for every triggerable message, with and
without connectorId; the station then sends what was asked for, and the system handles it like any
other message (answers it, projects it). Rejected and NotImplemented answers reach the operator.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from ocpp.v16 import call, call_result

from tests.e2e.conftest import Api, System, unique_station
from tests.e2e.station import iso, now, station

pytestmark = pytest.mark.e2e


async def trigger(api: Api, station_id: str, message: str, connector_id: int | None = None) -> Any:
    body: dict[str, Any] = {"requestedMessage": message}
    if connector_id is not None:
        body["connectorId"] = connector_id
    code, result = await api.post(f"/api/v1/stations/{station_id}/commands/TriggerMessage", body)
    assert code == 200, result
    return result["response"]["status"]


async def test_every_triggerable_message_is_sent_and_processed(
    system: System, api: Api, db: asyncpg.Pool
) -> None:
    """TC_054: each trigger is Accepted, the station sends the message, the system handles it."""
    station_id = unique_station()
    async with station(system.station_url(station_id)) as cp:
        cp.answering("TriggerMessage", call_result.TriggerMessage(status="Accepted"))

        assert await trigger(api, station_id, "MeterValues", 1) == "Accepted"
        assert cp.last("TriggerMessage") == {"requested_message": "MeterValues", "connector_id": 1}
        sample = {"value": "1234", "context": "Trigger", "measurand": "Energy.Active.Import.Register"}
        await cp.call(
            call.MeterValues(
                connector_id=1, meter_value=[{"timestamp": iso(now()), "sampledValue": [sample]}]
            )
        )

        assert await trigger(api, station_id, "Heartbeat") == "Accepted"
        assert cp.last("TriggerMessage") == {"requested_message": "Heartbeat"}
        assert (await cp.call(call.Heartbeat())).current_time

        assert await trigger(api, station_id, "StatusNotification", 2) == "Accepted"
        assert cp.last("TriggerMessage") == {"requested_message": "StatusNotification", "connector_id": 2}
        await cp.status(2, "Available")
        assert await trigger(api, station_id, "StatusNotification") == "Accepted"
        await cp.status(0, "Available")

        assert await trigger(api, station_id, "DiagnosticsStatusNotification") == "Accepted"
        assert await cp.call(call.DiagnosticsStatusNotification(status="Idle")) is not None

        assert await trigger(api, station_id, "FirmwareStatusNotification") == "Accepted"
        assert await cp.call(call.FirmwareStatusNotification(status="Idle")) is not None

        assert await trigger(api, station_id, "BootNotification") == "Accepted"
        boot = await cp.call(call.BootNotification(charge_point_model="Sim-2", charge_point_vendor="Acme"))
        assert boot.status == "Accepted"

        body = await api.until(
            f"/api/v1/stations/{station_id}",
            lambda b: (b["boot"] or {}).get("chargePointModel") == "Sim-2" and len(b["connectors"]) == 2,
        )
        assert [(c["connectorId"], c["status"]) for c in body["connectors"]] == [
            (0, "Available"),
            (2, "Available"),
        ]
        async with db.acquire() as conn:
            for _ in range(100):
                row = await conn.fetchrow(
                    "SELECT transaction_id, context, value FROM meter_values WHERE station_id = $1",
                    station_id,
                )
                if row is not None:
                    break
                await asyncio.sleep(0.1)
        assert row is not None and row["transaction_id"] is None and row["context"] == "Trigger"
        assert row["value"] == "1234"
        calls = await api.until(
            f"/api/v1/stations/{station_id}/calls",
            lambda b: sum(c["action"] == "TriggerMessage" for c in b["calls"]) == 7,
        )
        assert {c["response"]["status"] for c in calls["calls"] if c["action"] == "TriggerMessage"} == {
            "Accepted"
        }


@pytest.mark.parametrize("answer", ["Rejected", "NotImplemented"])
async def test_trigger_refusals_are_reported(system: System, api: Api, answer: str) -> None:
    """TC_055 (Rejected) and a station that does not implement the message (NotImplemented)."""
    station_id = unique_station()
    async with station(system.station_url(station_id)) as cp:
        cp.answering("TriggerMessage", call_result.TriggerMessage(status=answer))
        assert await trigger(api, station_id, "MeterValues", 1) == answer
        # The CALL is listed once sent, its response once the answer is projected: wait for that.
        calls = await api.until(
            f"/api/v1/stations/{station_id}/calls",
            lambda b: any(c["action"] == "TriggerMessage" and c["response"] for c in b["calls"]),
        )
        latest = next(c for c in calls["calls"] if c["action"] == "TriggerMessage")
        assert latest["response"] == {"status": answer}


async def test_invalid_trigger_is_refused_before_sending(system: System, api: Api) -> None:
    station_id = unique_station()
    async with station(system.station_url(station_id)) as cp:
        cp.answering("TriggerMessage", call_result.TriggerMessage(status="Accepted"))
        code, body = await api.post(
            f"/api/v1/stations/{station_id}/commands/TriggerMessage", {"requestedMessage": "StartTransaction"}
        )
        assert code == 422 and body["error"]["field"] == "requestedMessage"
        assert not any(action == "TriggerMessage" for action, _ in cp.received)

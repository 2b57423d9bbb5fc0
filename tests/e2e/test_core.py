"""OCTT Core cases for a Central System, end to end with the independent `ocpp` client.

Each test drives a station over a real WebSocket through gateway -> Kafka -> service -> Kafka ->
gateway, and asserts what the station received and what the operator API (PostgreSQL read models,
fed from Kafka) shows afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta
from typing import Any

import pytest
from ocpp.exceptions import InternalError
from ocpp.v16 import call, call_result

from tests.e2e.conftest import Api, System, read_frames, unique_station
from tests.e2e.station import basic_auth, iso, now, station

pytestmark = pytest.mark.e2e


async def tag(api: Api, id_tag: str, status: str = "Accepted", **extra: Any) -> None:
    code, body = await api.put(f"/api/v1/id-tags/{id_tag}", {"status": status, **extra})
    assert code in (200, 201), body


def new_tag(prefix: str = "T") -> str:
    return unique_station(prefix)[:20]


# -- cold boot and registration ------------------------------------------------------------------


async def test_cold_boot_auto_registers_and_projects_boot_details(system: System, api: Api) -> None:
    station_id = unique_station()
    async with station(system.station_url(station_id)) as cp:
        await cp.status(0, "Available")
        await cp.status(1, "Available")
        body = await api.until(
            f"/api/v1/stations/{station_id}",
            lambda b: (
                b["boot"] is not None
                and len(b["connectors"]) == 2
                and b["registration"] is not None
                and b["connected"] is True
                and b["lastSeen"] is not None
            ),
        )
    assert body["connected"] is True
    assert body["boot"] == {"chargePointModel": "Sim-1", "chargePointVendor": "Acme"}
    assert body["bootStatus"] == "Accepted"
    assert body["registration"]["autoRegistered"] is True
    assert [(c["connectorId"], c["status"], c["errorCode"]) for c in body["connectors"]] == [
        (0, "Available", "NoError"),
        (1, "Available", "NoError"),
    ]
    assert body["lastSeen"] is not None
    listed = await api.until(
        "/api/v1/stations?limit=1000", lambda b: any(s["stationId"] == station_id for s in b["stations"])
    )
    assert listed["stations"]
    await api.until(f"/api/v1/stations/{station_id}", lambda b: b["connected"] is False)


async def test_pending_then_accepted_and_rejected_boot(system: System, api: Api) -> None:
    station_id = unique_station()
    code, body = await api.put(f"/api/v1/stations/{station_id}", {"site": "depot-1", "bootStatus": "Pending"})
    assert code == 201 and body["registration"]["bootStatus"] == "Pending"
    async with station(system.station_url(station_id), boot=False) as cp:
        boot = await cp.boot()
        assert boot.status == "Pending" and boot.interval == system.settings.boot_retry_interval
        # Nothing is sent to a Pending station unless the operator asks: no GetConfiguration on connect.
        await asyncio.sleep(1.0)
        assert cp.received == []
        assert (await api.put(f"/api/v1/stations/{station_id}", {"site": "depot-1"}))[0] == 200
        boot = await cp.boot()
        assert boot.status == "Accepted" and boot.interval == system.settings.heartbeat_interval
        await api.put(f"/api/v1/stations/{station_id}", {"bootStatus": "Rejected"})
        assert (await cp.boot()).status == "Rejected"
    body = await api.until(f"/api/v1/stations/{station_id}", lambda b: b["bootStatus"] == "Rejected")
    assert body["registration"]["site"] is None


async def test_unknown_station_is_404_and_station_bodies_are_validated(api: Api) -> None:
    code, body = await api.get(f"/api/v1/stations/{unique_station()}")
    assert code == 404 and body["error"]["code"] == "UnknownStation"
    code, body = await api.put(f"/api/v1/stations/{unique_station()}", {"site": 7})
    assert code == 422 and body["error"]["field"] == "site"
    code, body = await api.put(f"/api/v1/stations/{unique_station()}", {"bootStatus": "Maybe"})
    assert code == 422 and body["error"]["field"] == "bootStatus"
    code, body = await api.put(f"/api/v1/id-tags/{new_tag()}", {"status": "Fine"})
    assert code == 422 and body["error"]["field"] == "status"
    code, body = await api.put(f"/api/v1/id-tags/{'x' * 21}", {"status": "Accepted"})
    assert code == 400 and "CiString20" in body["error"]["description"]
    async with api.session.put(api.base + "/api/v1/id-tags/abc", data=b"{not json") as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "MalformedJson"
    code, doc = await api.get("/openapi.json")
    assert code == 200 and doc["openapi"].startswith("3.")
    assert "/api/v1/stations/{stationId}/commands/RemoteStartTransaction" in doc["paths"]


# -- authorization -------------------------------------------------------------------------------


async def test_authorize_accepted_invalid_blocked_expired_and_parent(system: System, api: Api) -> None:
    ok, blocked, expired, old, child, parent = (new_tag(p) for p in "OBEXCP")
    await tag(api, ok, expiryDate=iso(now() + timedelta(days=30)))
    await tag(api, blocked, "Blocked")
    await tag(api, expired, "Expired")
    await tag(api, old, expiryDate=iso(now() - timedelta(minutes=1)))
    await tag(api, parent)
    await tag(api, child, parentIdTag=parent)
    async with station(system.station_url(unique_station())) as cp:
        result = await cp.call(call.Authorize(id_tag=ok))
        assert result.id_tag_info["status"] == "Accepted" and "expiry_date" in result.id_tag_info
        assert (await cp.call(call.Authorize(id_tag=new_tag("U")))).id_tag_info == {"status": "Invalid"}
        assert (await cp.call(call.Authorize(id_tag=blocked))).id_tag_info["status"] == "Blocked"
        assert (await cp.call(call.Authorize(id_tag=expired))).id_tag_info["status"] == "Expired"
        assert (await cp.call(call.Authorize(id_tag=old))).id_tag_info["status"] == "Expired"
        info = (await cp.call(call.Authorize(id_tag=child))).id_tag_info
        assert info == {"status": "Accepted", "parent_id_tag": parent}


async def test_concurrent_tx_on_another_station(system: System, api: Api) -> None:
    id_tag = new_tag("C")
    await tag(api, id_tag)
    async with (
        station(system.station_url(unique_station())) as a,
        station(system.station_url(unique_station())) as b,
    ):
        started = await a.call(
            call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=0, timestamp=iso(now()))
        )
        assert started.id_tag_info["status"] == "Accepted"
        # The same tag at the station where it charges (to stop) is fine; elsewhere it is concurrent.
        assert (await a.call(call.Authorize(id_tag=id_tag))).id_tag_info["status"] == "Accepted"
        assert (await b.call(call.Authorize(id_tag=id_tag))).id_tag_info["status"] == "ConcurrentTx"
        second = await b.call(
            call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=0, timestamp=iso(now()))
        )
        assert second.id_tag_info["status"] == "ConcurrentTx"
        assert second.transaction_id > 0 and second.transaction_id != started.transaction_id
        await a.call(
            call.StopTransaction(meter_stop=10, timestamp=iso(now()), transaction_id=started.transaction_id)
        )
        assert (await b.call(call.Authorize(id_tag=id_tag))).id_tag_info["status"] == "Accepted"


# -- regular charging sessions -------------------------------------------------------------------


async def charge(cp: Any, id_tag: str, *, identification_first: bool) -> int:
    if identification_first:
        assert (await cp.call(call.Authorize(id_tag=id_tag))).id_tag_info["status"] == "Accepted"
        await cp.status(1, "Preparing")
    else:
        await cp.status(1, "Preparing")
        assert (await cp.call(call.Authorize(id_tag=id_tag))).id_tag_info["status"] == "Accepted"
    start = now()
    started = await cp.call(
        call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=1000, timestamp=iso(start))
    )
    assert started.id_tag_info["status"] == "Accepted" and started.transaction_id > 0
    tx: int = started.transaction_id
    await cp.status(1, "Charging")
    await cp.call(
        call.MeterValues(
            connector_id=1,
            transaction_id=tx,
            meter_value=[
                {
                    "timestamp": iso(start + timedelta(minutes=5)),
                    "sampledValue": [
                        {"value": "1.75", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
                        {"value": "16.1", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
                        {"value": "230.2", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
                        {"value": "55", "measurand": "SoC", "unit": "Percent", "location": "EV"},
                    ],
                }
            ],
        )
    )
    stopped = await cp.call(
        call.StopTransaction(
            meter_stop=2500,
            timestamp=iso(start + timedelta(minutes=10)),
            transaction_id=tx,
            id_tag=id_tag,
            reason="Local",
            transaction_data=[
                {
                    "timestamp": iso(start + timedelta(minutes=10)),
                    "sampledValue": [{"value": "2500", "context": "Transaction.End"}],
                }
            ],
        )
    )
    assert stopped.id_tag_info["status"] == "Accepted"
    await cp.status(1, "Finishing")
    await cp.status(1, "Available")
    return tx


@pytest.mark.parametrize("identification_first", [False, True], ids=["plug-in-first", "identification-first"])
async def test_regular_charging_session(system: System, api: Api, identification_first: bool) -> None:
    station_id, id_tag = unique_station(), new_tag("R")
    await tag(api, id_tag)
    async with station(system.station_url(station_id)) as cp:
        tx = await charge(cp, id_tag, identification_first=identification_first)
    body = await api.until(
        f"/api/v1/transactions/{tx}", lambda b: b["stoppedAt"] is not None and len(b["meterValues"]) == 5
    )
    assert body["stationId"] == station_id and body["connectorId"] == 1 and body["idTag"] == id_tag
    assert (body["meterStart"], body["meterStop"], body["energyWh"]) == (1000, 2500, 1500)
    assert body["stopReason"] == "Local" and body["anomaly"] is None
    kinds = {
        (v["measurand"], v["phase"], v["unit"], v["location"], v["context"], v["source"])
        for v in body["meterValues"]
    }
    assert ("Current.Import", "L1", "A", "Outlet", "Sample.Periodic", "MeterValues") in kinds
    assert ("SoC", None, "Percent", "EV", "Sample.Periodic", "MeterValues") in kinds
    assert (
        "Energy.Active.Import.Register",
        None,
        "Wh",
        "Outlet",
        "Transaction.End",
        "StopTransaction",
    ) in kinds
    listed = await api.until(
        "/api/v1/transactions?stationId=" + station_id + "&active=false",
        lambda b: len(b["transactions"]) == 1,
    )
    assert listed["transactions"][0]["transactionId"] == tx
    assert (await api.get("/api/v1/transactions", stationId=station_id, active="true"))[1][
        "transactions"
    ] == []
    station_view = await api.until(
        f"/api/v1/stations/{station_id}",
        lambda b: b["connectors"] and b["connectors"][0]["status"] == "Available",
    )
    assert station_view["connectors"][0]["connectorId"] == 1


async def test_running_transaction_energy_and_api_errors(system: System, api: Api) -> None:
    station_id, id_tag = unique_station(), new_tag("E")
    await tag(api, id_tag)
    async with station(system.station_url(station_id)) as cp:
        started = await cp.call(
            call.StartTransaction(connector_id=2, id_tag=id_tag, meter_start=500, timestamp=iso(now()))
        )
        await cp.call(
            call.MeterValues(
                connector_id=2,
                transaction_id=started.transaction_id,
                meter_value=[{"timestamp": iso(now()), "sampledValue": [{"value": "800"}]}],
            )
        )
        body = await api.until(
            f"/api/v1/transactions/{started.transaction_id}", lambda b: b["energyWh"] == 300
        )
        assert body["stoppedAt"] is None
        active = await api.get("/api/v1/transactions", stationId=station_id, active="true")
        assert [t["transactionId"] for t in active[1]["transactions"]] == [started.transaction_id]
    assert (await api.get("/api/v1/transactions/abc"))[0] == 400
    assert (await api.get("/api/v1/transactions/2147483000"))[0] == 404
    assert (await api.get("/api/v1/transactions", active="maybe"))[0] == 400


# -- offline behaviour ---------------------------------------------------------------------------


async def test_offline_transactions_unknown_ids_retries_and_anomalies(system: System, api: Api) -> None:
    station_id, id_tag = unique_station(), new_tag("F")
    await tag(api, id_tag)
    yesterday = now() - timedelta(days=1)
    async with station(system.station_url(station_id)) as cp:
        # A transaction started and stopped while offline arrives late, with old timestamps.
        start = call.StartTransaction(
            connector_id=1, id_tag=id_tag, meter_start=100, timestamp=iso(yesterday)
        )
        first = await cp.call(start)
        retry = await cp.call(start)  # the station never saw our answer and retries
        assert retry.transaction_id == first.transaction_id
        await cp.call(
            call.StopTransaction(
                meter_stop=50,
                timestamp=iso(yesterday + timedelta(hours=1)),
                transaction_id=first.transaction_id,
            )
        )
        # Stop and meter values for ids we never gave out get a normal answer, and their data is kept.
        for unknown in (-1, 0, 2_000_000_001):
            stopped = await cp.call(
                call.StopTransaction(
                    meter_stop=42,
                    timestamp=iso(yesterday),
                    transaction_id=unknown,
                    id_tag=id_tag,
                    reason="PowerLoss",
                )
            )
            assert stopped.id_tag_info["status"] == "Accepted"
            await cp.call(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=unknown,
                    meter_value=[{"timestamp": iso(yesterday), "sampledValue": [{"value": "42"}]}],
                )
            )
        # A second stop of the same transaction (a retry) changes nothing.
        await cp.call(
            call.StopTransaction(meter_stop=999, timestamp=iso(now()), transaction_id=first.transaction_id)
        )
        # Even a not-Accepted tag gets a transaction id (the car is already charging).
        refused = await cp.call(
            call.StartTransaction(connector_id=2, id_tag=new_tag("Z"), meter_start=0, timestamp=iso(now()))
        )
        assert refused.id_tag_info["status"] == "Invalid" and refused.transaction_id > 0
    # The refused start came after the second stop on the same station (same partition, in order):
    # once it is projected, the second stop has been applied too, and must have changed nothing.
    refused_tx = await api.until(
        f"/api/v1/transactions/{refused.transaction_id}", lambda b: b["idTagStatus"] == "Invalid"
    )
    assert refused_tx["idTagStatus"] == "Invalid"
    body = await api.until(
        f"/api/v1/transactions/{first.transaction_id}", lambda b: b["stoppedAt"] is not None
    )
    assert body["meterStop"] == 50 and body["energyWh"] is None and "below meterStart" in body["anomaly"]
    assert body["startedAt"].startswith(yesterday.date().isoformat())
    pool = await system.api.pool()
    expected = [-1, 0, 2_000_000_001]
    unmatched: list[int] = []
    samples: list[int] = []
    with contextlib.suppress(TimeoutError):  # the assertions below say what was missing
        async with asyncio.timeout(20):
            while unmatched != expected or samples != expected:
                unmatched = sorted(
                    r["transaction_id"]
                    for r in await pool.fetch(
                        "SELECT transaction_id FROM unmatched_stops WHERE station_id = $1", station_id
                    )
                )
                samples = sorted(
                    r["transaction_id"]
                    for r in await pool.fetch(
                        "SELECT transaction_id FROM meter_values WHERE station_id = $1", station_id
                    )
                )
                await asyncio.sleep(0.1)
    assert unmatched == expected
    assert samples == expected


async def test_fifty_stations_charging_at_once_get_unique_ids(system: System, api: Api) -> None:
    id_tags = [new_tag(f"M{i}") for i in range(50)]
    for t in id_tags:
        await tag(api, t)

    async def one(id_tag: str) -> int:
        async with station(system.station_url(unique_station("FLEET"))) as cp:
            result = await cp.call(
                call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=0, timestamp=iso(now()))
            )
            assert result.id_tag_info["status"] == "Accepted"
            await cp.call(
                call.StopTransaction(
                    meter_stop=100, timestamp=iso(now()), transaction_id=result.transaction_id
                )
            )
            tx: int = result.transaction_id
            return tx

    ids = await asyncio.gather(*(one(t) for t in id_tags))
    assert len(set(ids)) == 50 and all(0 < i < 2**31 for i in ids)
    for tx in ids:
        await api.until(f"/api/v1/transactions/{tx}", lambda b: b["energyWh"] == 100)


# -- central system initiated --------------------------------------------------------------------


async def command(api: Api, station_id: str, action: str, payload: Any, **params: str) -> tuple[int, Any]:
    return await api.post(f"/api/v1/stations/{station_id}/commands/{action}", payload, **params)


async def test_remote_start_and_stop_accepted_and_rejected(system: System, api: Api) -> None:
    station_id, id_tag = unique_station(), new_tag("S")
    await tag(api, id_tag)
    async with station(system.station_url(station_id)) as cp:
        code, body = await command(
            api, station_id, "RemoteStartTransaction", {"connectorId": 1, "idTag": id_tag}
        )
        assert (code, body) == (200, {"response": {"status": "Accepted"}})
        assert cp.last("RemoteStartTransaction") == {"connector_id": 1, "id_tag": id_tag}
        started = await cp.call(
            call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=0, timestamp=iso(now()))
        )
        code, body = await command(
            api, station_id, "RemoteStopTransaction", {"transactionId": started.transaction_id}
        )
        assert (code, body["response"]["status"]) == (200, "Accepted")
        assert cp.last("RemoteStopTransaction") == {"transaction_id": started.transaction_id}
        await cp.call(
            call.StopTransaction(
                meter_stop=10, timestamp=iso(now()), transaction_id=started.transaction_id, reason="Remote"
            )
        )
        cp.responses["RemoteStartTransaction"] = call_result.RemoteStartTransaction(status="Rejected")
        cp.responses["RemoteStopTransaction"] = call_result.RemoteStopTransaction(status="Rejected")
        code, body = await command(api, station_id, "RemoteStartTransaction", {"idTag": id_tag})
        assert (code, body["response"]["status"]) == (200, "Rejected")
        code, body = await command(api, station_id, "RemoteStopTransaction", {"transactionId": 123456})
        assert (code, body["response"]["status"]) == (200, "Rejected")
    body = await api.until(
        f"/api/v1/transactions/{started.transaction_id}", lambda b: b["stopReason"] == "Remote"
    )
    calls = await api.until(
        f"/api/v1/stations/{station_id}/calls",
        lambda b: len(b["calls"]) == 4 and all(c["outcome"] for c in b["calls"]),
    )
    assert [c["action"] for c in calls["calls"]][::-1] == [
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
    ]


@pytest.mark.parametrize("kind", ["Hard", "Soft"])
async def test_reset(system: System, api: Api, kind: str) -> None:
    station_id = unique_station()
    async with station(system.station_url(station_id)) as cp:
        code, body = await command(api, station_id, "Reset", {"type": kind})
        assert (code, body) == (200, {"response": {"status": "Accepted"}})
        assert cp.last("Reset") == {"type": kind}
    # The station reboots and boots again.
    async with station(system.station_url(station_id)) as cp:
        assert cp.received == []


async def test_unlock_connector_and_its_failure(system: System, api: Api) -> None:
    station_id = unique_station()
    async with station(system.station_url(station_id)) as cp:
        assert (await command(api, station_id, "UnlockConnector", {"connectorId": 1}))[1]["response"] == {
            "status": "Unlocked"
        }
        cp.responses["UnlockConnector"] = call_result.UnlockConnector(status="UnlockFailed")
        assert (await command(api, station_id, "UnlockConnector", {"connectorId": 1}))[1]["response"] == {
            "status": "UnlockFailed"
        }
        cp.responses["UnlockConnector"] = call_result.UnlockConnector(status="NotSupported")
        assert (await command(api, station_id, "UnlockConnector", {"connectorId": 2}))[1]["response"] == {
            "status": "NotSupported"
        }


async def test_get_and_change_configuration_are_projected(system: System, api: Api) -> None:
    station_id = unique_station()
    async with station(system.station_url(station_id)) as cp:
        code, body = await command(api, station_id, "GetConfiguration", {})
        assert code == 200 and {k["key"] for k in body["response"]["configurationKey"]} == {
            "HeartbeatInterval",
            "NumberOfConnectors",
        }
        code, body = await command(api, station_id, "GetConfiguration", {"key": ["HeartbeatInterval"]})
        assert cp.last("GetConfiguration") == {"key": ["HeartbeatInterval"]}
        code, body = await command(
            api, station_id, "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}
        )
        assert (code, body["response"]["status"]) == (200, "Accepted")
        cp.responses["ChangeConfiguration"] = call_result.ChangeConfiguration(status="Rejected")
        code, body = await command(
            api, station_id, "ChangeConfiguration", {"key": "NumberOfConnectors", "value": "9"}
        )
        assert body["response"]["status"] == "Rejected"
        cp.responses["ChangeConfiguration"] = call_result.ChangeConfiguration(status="NotSupported")
        code, body = await command(api, station_id, "ChangeConfiguration", {"key": "Foo", "value": "1"})
        assert body["response"]["status"] == "NotSupported"
    config = await api.until(
        f"/api/v1/stations/{station_id}/configuration",
        lambda b: {c["key"]: c["value"] for c in b["configuration"]}.get("HeartbeatInterval") == "120",
    )
    values = {c["key"]: (c["value"], c["readonly"]) for c in config["configuration"]}
    assert values == {"HeartbeatInterval": ("120", False), "NumberOfConnectors": ("2", True)}


async def test_change_availability_is_projected(system: System, api: Api) -> None:
    station_id = unique_station()
    async with station(system.station_url(station_id)) as cp:
        await cp.status(1, "Available")
        code, body = await command(
            api, station_id, "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}
        )
        assert (code, body["response"]["status"]) == (200, "Accepted")
        await cp.status(1, "Unavailable")
        cp.responses["ChangeAvailability"] = call_result.ChangeAvailability(status="Rejected")
        code, body = await command(
            api, station_id, "ChangeAvailability", {"connectorId": 1, "type": "Operative"}
        )
        assert body["response"]["status"] == "Rejected"
    view = await api.until(
        f"/api/v1/stations/{station_id}",
        lambda b: (
            b["connectors"]
            and b["connectors"][0]["status"] == "Unavailable"
            and b["connectors"][0]["availability"] == "Inoperative"
        ),
    )
    assert view["connectors"][0]["connectorId"] == 1


async def test_clear_cache_and_data_transfer_both_ways(system: System, api: Api) -> None:
    station_id = unique_station()
    async with station(system.station_url(station_id)) as cp:
        assert (await command(api, station_id, "ClearCache", {}))[1]["response"] == {"status": "Accepted"}
        cp.responses["ClearCache"] = call_result.ClearCache(status="Rejected")
        assert (await command(api, station_id, "ClearCache", {}))[1]["response"] == {"status": "Rejected"}
        code, body = await command(
            api, station_id, "DataTransfer", {"vendorId": "com.acme", "messageId": "x", "data": "hi"}
        )
        assert (code, body["response"]) == (200, {"status": "Accepted", "data": "hello"})
        assert cp.last("DataTransfer") == {"vendor_id": "com.acme", "message_id": "x", "data": "hi"}
        unknown = await cp.call(call.DataTransfer(vendor_id="com.unknown", message_id="m", data="d"))
        assert unknown.status == "UnknownVendorId"
        ping = await cp.call(call.DataTransfer(vendor_id="org.openchargealliance.csms", message_id="ping"))
        assert (ping.status, ping.data) == ("Accepted", "pong")
        other = await cp.call(call.DataTransfer(vendor_id="org.openchargealliance.csms", message_id="nope"))
        assert other.status == "UnknownMessageId"


async def test_command_error_paths(system: System, api: Api) -> None:
    station_id = unique_station()
    assert (await command(api, unique_station(), "Reset", {"type": "Hard"}))[0] == 404
    code, body = await command(api, station_id, "BootNotification", {})
    assert code == 404 and body["error"]["code"] == "UnknownCommand"
    async with station(system.station_url(station_id)) as cp:
        code, body = await command(api, station_id, "Reset", {"type": "Warm"})
        assert code == 422 and body["error"] == {
            "code": "PropertyConstraintViolation",
            "description": "type: 'Warm' is not one of ['Hard', 'Soft']",
            "field": "type",
        }
        code, body = await command(api, station_id, "ChangeAvailability", {"type": "Operative"})
        assert code == 422 and body["error"]["field"] == "connectorId"
        cp.responses["Reset"] = InternalError(description="relay stuck")
        code, body = await command(api, station_id, "Reset", {"type": "Soft"})
        assert code == 502 and body["error"]["code"] == "InternalError"

        async def never(request: dict[str, Any]) -> Any:
            await asyncio.sleep(3)
            return call_result.ClearCache(status="Accepted")

        cp.responses["ClearCache"] = never
        code, body = await command(api, station_id, "ClearCache", {}, timeout="1")
        assert code == 504 and body["error"]["code"] == "Timeout"
        assert (await command(api, station_id, "ClearCache", {}, timeout="x"))[0] == 400
        assert cp.received  # the station did get the commands it answered
    await api.until(f"/api/v1/stations/{station_id}", lambda b: b["connected"] is False)
    code, body = await command(api, station_id, "Reset", {"type": "Hard"})
    assert code == 409 and body["error"]["code"] == "NotConnected"
    frames = await read_frames(
        system.settings, station_id, lambda r: any(x.get("action") == "Reset" for x in r)
    )
    assert any(
        json.loads(f["raw"])[2] == "Reset" for f in frames if f["type"] == "frame" and f["direction"] == "out"
    )


async def test_transaction_ids_survive_a_service_restart(system: System, api: Api) -> None:
    """A fresh transactions service rebuilds its id stripes from the log: it never reuses an id."""
    from services.transactions.service import TransactionsHandler
    from shared.events.topics import Topics

    station_id, id_tag = unique_station(), new_tag("X")
    await tag(api, id_tag)
    async with station(system.station_url(station_id)) as cp:
        given = [
            (
                await cp.call(
                    call.StartTransaction(connector_id=c, id_tag=id_tag, meter_start=0, timestamp=iso(now()))
                )
            ).transaction_id
            for c in (1, 2, 3)
        ]
    restarted = TransactionsHandler()
    await restarted.start(
        Topics(system.settings.topic_prefix, system.settings.frame_partitions), system.settings
    )
    try:
        state = restarted.state
        for tx in given:
            assert tx in state.active and state.is_known(tx)
        partition = (given[0] - 1) % state.partitions
        assert state.allocate(partition) > max(given)
        assert {a.connector_id for a in state.active.values() if a.station_id == station_id} == {1, 2, 3}
    finally:
        await restarted.stop()


async def test_power_failure_stop_arrives_on_a_new_connection(system: System, api: Api) -> None:
    """TC_032_1: the station loses power while charging; after reboot, on a new connection, it sends
    StopTransaction(PowerLoss) and the old transaction is closed."""
    station_id, id_tag = unique_station(), new_tag("P")
    await tag(api, id_tag)
    async with station(system.station_url(station_id)) as cp:
        started = await cp.call(
            call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=10, timestamp=iso(now()))
        )
        await cp.status(1, "Charging")
    async with station(system.station_url(station_id)) as cp:
        await cp.status(1, "Finishing")
        await cp.status(2, "Available")
        stopped = await cp.call(
            call.StopTransaction(
                meter_stop=90,
                timestamp=iso(now()),
                transaction_id=started.transaction_id,
                reason="PowerLoss",
                id_tag=id_tag,
            )
        )
        assert stopped.id_tag_info["status"] == "Accepted"
    body = await api.until(
        f"/api/v1/transactions/{started.transaction_id}", lambda b: b["stoppedAt"] is not None
    )
    assert (body["stopReason"], body["energyWh"]) == ("PowerLoss", 80)


async def test_offline_start_with_invalid_tag_then_deauthorized_stop(system: System, api: Api) -> None:
    """TC_037_3: an offline start with an invalid tag gets Invalid with a transaction id, and the
    station's StopTransaction(DeAuthorized) for it is answered and recorded."""
    station_id, unknown = unique_station(), new_tag("N")
    async with station(system.station_url(station_id)) as cp:
        started = await cp.call(
            call.StartTransaction(
                connector_id=1, id_tag=unknown, meter_start=0, timestamp=iso(now() - timedelta(minutes=30))
            )
        )
        assert started.id_tag_info["status"] == "Invalid" and started.transaction_id > 0
        await cp.status(1, "Charging")
        stopped = await cp.call(
            call.StopTransaction(
                meter_stop=5,
                timestamp=iso(now()),
                transaction_id=started.transaction_id,
                reason="DeAuthorized",
            )
        )
        assert stopped.id_tag_info is None
    body = await api.until(
        f"/api/v1/transactions/{started.transaction_id}", lambda b: b["stoppedAt"] is not None
    )
    assert (body["idTagStatus"], body["stopReason"]) == ("Invalid", "DeAuthorized")


async def test_registered_password_is_required_at_the_handshake(system: System, api: Api) -> None:
    station_id = unique_station()
    assert (await api.put(f"/api/v1/stations/{station_id}", {"password": "s3cret-pass"}))[0] == 201
    with pytest.raises(Exception, match="401"):
        async with station(system.station_url(station_id)):
            pass
    good = basic_auth(station_id, "s3cret-pass")
    async with station(system.station_url(station_id), Authorization=good) as cp:
        assert (await cp.call(call.Heartbeat())).current_time
    body = await api.until(f"/api/v1/stations/{station_id}", lambda b: b["boot"] is not None)
    assert body["registration"]["passwordSet"] is True

"""The OCTT Smart Charging cases for a Central System (../shared/notes/ocpp16-conformance.md 1.9),
driven through the operator API against the independent `ocpp` client: what the station receives is
checked field by field, and the installed-profile read model follows the station's answers.
(TC_056 TxDefaultProfile: tests/e2e/test_smart_charging.py.)"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from ocpp.v16 import call, call_result

from tests.e2e.conftest import Api, System, unique_station
from tests.e2e.station import TestStation, iso, now, station

pytestmark = pytest.mark.e2e


async def accepted_tag(api: Api) -> str:
    tag = f"SC{uuid.uuid4().hex[:12]}"
    assert (await api.put(f"/api/v1/id-tags/{tag}", {"status": "Accepted"}))[0] == 201
    return tag


async def charging(api: Api, cp: TestStation, station_id: str, connector_id: int, tag: str) -> int:
    """Start a transaction and wait until the read models know it runs (TxProfiles need that)."""
    started = await cp.call(
        call.StartTransaction(connector_id=connector_id, id_tag=tag, meter_start=0, timestamp=iso(now()))
    )
    assert started.id_tag_info["status"] == "Accepted"
    await cp.status(connector_id, "Charging")
    tx = int(started.transaction_id)
    await api.until(f"/api/v1/transactions/{tx}", lambda b: b["stationId"] == station_id)
    return tx


def installed(body: Any) -> set[int]:
    return {p["csChargingProfiles"]["chargingProfileId"] for p in body["profiles"]}


async def send(api: Api, station_id: str, action: str, body: dict[str, Any]) -> Any:
    code, answer = await api.post(f"/api/v1/stations/{station_id}/commands/{action}", body)
    assert code == 200, answer
    return answer["response"]


async def test_tc_057_tx_profile_absolute_and_relative(system: System, api: Api) -> None:
    station_id, tag = unique_station(), await accepted_tag(api)
    async with station(system.station_url(station_id)) as cp:
        tx = await charging(api, cp, station_id, 1, tag)
        start = now().replace(microsecond=0)
        absolute = {
            "chargingProfileId": 57,
            "transactionId": tx,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Absolute",
            "validFrom": iso(start),
            "validTo": iso(start + timedelta(hours=2)),
            "chargingSchedule": {
                "duration": 3600,
                "startSchedule": iso(start),
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
            },
        }
        response = await send(
            api, station_id, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": absolute}
        )
        assert response == {"status": "Accepted"}
        sent = cp.last("SetChargingProfile")["cs_charging_profiles"]
        assert sent["transaction_id"] == tx and "recurrency_kind" not in sent
        assert {"valid_from", "valid_to"} <= sent.keys()
        assert sent["charging_schedule"]["duration"] == 3600 and "start_schedule" in sent["charging_schedule"]
        # Relative: no startSchedule; the same id replaces the absolute one.
        relative = {**absolute, "chargingProfileKind": "Relative"}
        relative["chargingSchedule"] = {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8.0}],
        }
        del relative["validFrom"], relative["validTo"]
        response = await send(
            api, station_id, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": relative}
        )
        assert response == {"status": "Accepted"}
        assert (
            "start_schedule" not in cp.last("SetChargingProfile")["cs_charging_profiles"]["charging_schedule"]
        )
        body = await api.until(
            f"/api/v1/stations/{station_id}/charging-profiles",
            lambda b: [p["csChargingProfiles"]["chargingProfileKind"] for p in b["profiles"]] == ["Relative"],
        )
        assert body["profiles"][0]["transactionId"] == tx
        composite = await api.until(
            f"/api/v1/stations/{station_id}/composite-schedule?connectorId=1&duration=600",
            lambda b: bool(b["chargingSchedulePeriod"]) and b["chargingSchedulePeriod"][0]["limit"] == 8.0,
        )
        assert composite["chargingRateUnit"] == "A"


async def test_tc_059_remote_start_with_a_tx_profile(system: System, api: Api) -> None:
    station_id, tag = unique_station(), await accepted_tag(api)
    async with station(system.station_url(station_id)) as cp:
        profile = {
            "chargingProfileId": 59,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 11.0},
                    {"startPeriod": 600, "limit": 7.0},
                ],
            },
        }
        response = await send(
            api,
            station_id,
            "RemoteStartTransaction",
            {"connectorId": 1, "idTag": tag, "chargingProfile": profile},
        )
        assert response == {"status": "Accepted"}
        sent = cp.last("RemoteStartTransaction")
        assert sent["id_tag"] == tag and "transaction_id" not in sent["charging_profile"]
        # What a station does next (TC_059): Authorize, Preparing, StartTransaction, Charging.
        authorized = await cp.call(call.Authorize(id_tag=tag))
        assert authorized.id_tag_info["status"] == "Accepted"
        await cp.status(1, "Preparing")
        started = await cp.call(
            call.StartTransaction(connector_id=1, id_tag=tag, meter_start=0, timestamp=iso(now()))
        )
        assert started.id_tag_info["status"] == "Accepted"
        await cp.status(1, "Charging")
        # The remote start's profile is now the transaction's TxProfile.
        body = await api.until(
            f"/api/v1/stations/{station_id}/charging-profiles", lambda b: installed(b) == {59}
        )
        assert body["profiles"][0]["transactionId"] == started.transaction_id
        composite = await api.until(
            f"/api/v1/stations/{station_id}/composite-schedule?connectorId=1&duration=1200",
            lambda b: len(b["chargingSchedulePeriod"]) == 2,
        )
        assert [p["limit"] for p in composite["chargingSchedulePeriod"]] == [11.0, 7.0]


async def test_tc_066_get_composite_schedule_reaches_the_caller(system: System, api: Api) -> None:
    station_id = unique_station()
    async with station(system.station_url(station_id)) as cp:
        schedule = {
            "chargingRateUnit": "W",
            "duration": 300,
            "startSchedule": iso(now().replace(microsecond=0)),
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400.0}],
        }
        cp.responses["GetCompositeSchedule"] = call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=1,
            schedule_start=schedule["startSchedule"],
            charging_schedule=schedule,
        )
        response = await send(
            api,
            station_id,
            "GetCompositeSchedule",
            {"connectorId": 1, "duration": 300, "chargingRateUnit": "W"},
        )
        assert cp.last("GetCompositeSchedule") == {
            "connector_id": 1,
            "duration": 300,
            "charging_rate_unit": "W",
        }
        assert response["status"] == "Accepted"
        assert response["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 7400.0}]


async def test_tc_067_clear_by_id_by_filters_and_all(system: System, api: Api) -> None:
    station_id, tag = unique_station(), await accepted_tag(api)
    async with station(system.station_url(station_id)) as cp:
        tx = await charging(api, cp, station_id, 1, tag)

        def profile(profile_id: int, purpose: str, **extra: Any) -> dict[str, Any]:
            return {
                "chargingProfileId": profile_id,
                "stackLevel": 2,
                "chargingProfilePurpose": purpose,
                "chargingProfileKind": "Relative",
                "chargingSchedule": {
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
                },
                **extra,
            }

        for connector_id, body in (
            (0, profile(671, "ChargePointMaxProfile")),
            (1, profile(672, "TxDefaultProfile")),
            (1, profile(673, "TxProfile", transactionId=tx)),
        ):
            response = await send(
                api,
                station_id,
                "SetChargingProfile",
                {"connectorId": connector_id, "csChargingProfiles": body},
            )
            assert response == {"status": "Accepted"}
        path = f"/api/v1/stations/{station_id}/charging-profiles"
        await api.until(path, lambda b: installed(b) == {671, 672, 673})

        assert await send(api, station_id, "ClearChargingProfile", {"id": 671}) == {"status": "Accepted"}
        assert cp.last("ClearChargingProfile") == {"id": 671}
        await api.until(path, lambda b: installed(b) == {672, 673})

        clear = {"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 2}
        assert await send(api, station_id, "ClearChargingProfile", clear) == {"status": "Accepted"}
        assert cp.last("ClearChargingProfile") == {
            "connector_id": 1,
            "charging_profile_purpose": "TxDefaultProfile",
            "stack_level": 2,
        }
        await api.until(path, lambda b: installed(b) == {673})

        assert await send(api, station_id, "ClearChargingProfile", {}) == {"status": "Accepted"}
        assert cp.last("ClearChargingProfile") == {}
        await api.until(path, lambda b: installed(b) == set())

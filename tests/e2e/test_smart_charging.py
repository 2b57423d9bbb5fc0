"""Smart charging through the whole path (issue 5, first part): profiles are checked before they are
sent, the station's answers build the installed-profile read model (replacement, clear, TxProfiles
ending with their transaction), and the system computes the composite schedule itself."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from ocpp.v16 import call, call_result

from services.simulator.config import FleetConfig
from services.simulator.fleet import Fleet
from tests.e2e.conftest import Api, System, unique_station
from tests.e2e.station import iso, now, station

pytestmark = pytest.mark.e2e


def profile(
    profile_id: int, purpose: str, limit: float, *, stack: int = 0, unit: str = "A", **extra: Any
) -> dict[str, Any]:
    return {
        "chargingProfileId": profile_id,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": unit,
            "startSchedule": iso(now().replace(microsecond=0)),
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
        },
        **extra,
    }


async def set_profile(api: Api, station_id: str, connector_id: int, body: dict[str, Any]) -> tuple[int, Any]:
    return await api.post(
        f"/api/v1/stations/{station_id}/commands/SetChargingProfile",
        {"connectorId": connector_id, "csChargingProfiles": body},
    )


async def test_tx_default_profile_is_installed_replaced_cleared_and_composed(
    system: System, api: Api
) -> None:
    station_id = unique_station()
    async with station(system.station_url(station_id)) as cp:
        # TC_056: TxDefaultProfile, Absolute, 6.0 A.
        code, body = await set_profile(api, station_id, 1, profile(1, "TxDefaultProfile", 6.0, stack=1))
        assert (code, body) == (200, {"response": {"status": "Accepted"}})
        sent = cp.last("SetChargingProfile")
        assert (
            sent["connector_id"] == 1
            and sent["cs_charging_profiles"]["charging_profile_purpose"] == "TxDefaultProfile"
        )
        # Station limit on connector 0, lower than the default profile for a while.
        code, _ = await set_profile(api, station_id, 0, profile(2, "ChargePointMaxProfile", 16.0))
        assert code == 200
        composite = await api.until(
            f"/api/v1/stations/{station_id}/composite-schedule?connectorId=1&duration=3600",
            lambda b: len(b["chargingSchedulePeriod"]) == 1,
        )
        assert composite["chargingSchedulePeriod"][0]["limit"] == 6.0
        assert composite["chargingSchedulePeriod"][0]["startPeriod"] == 0
        watts = await api.until(
            f"/api/v1/stations/{station_id}/composite-schedule?connectorId=1&duration=600&chargingRateUnit=W",
            lambda b: bool(b["chargingSchedulePeriod"]),
        )
        assert watts["chargingSchedulePeriod"][0]["limit"] == pytest.approx(6.0 * 230 * 3)
        # Same stackLevel and purpose on the same connector replaces (a new id).
        code, _ = await set_profile(api, station_id, 1, profile(3, "TxDefaultProfile", 10.0, stack=1))
        listed = await api.until(
            f"/api/v1/stations/{station_id}/charging-profiles",
            lambda b: {p["csChargingProfiles"]["chargingProfileId"] for p in b["profiles"]} == {2, 3},
        )
        assert len(listed["profiles"]) == 2
        # A station that rejects is recorded, nothing is installed.
        cp.responses["SetChargingProfile"] = call_result.SetChargingProfile(status="Rejected")
        code, body = await set_profile(api, station_id, 1, profile(4, "TxDefaultProfile", 8.0, stack=2))
        assert body["response"]["status"] == "Rejected"
        listed = await api.until(
            f"/api/v1/stations/{station_id}/charging-profiles",
            lambda b: any(o["chargingProfileId"] == 4 and o["status"] == "Rejected" for o in b["outcomes"]),
        )
        assert 4 not in {p["csChargingProfiles"]["chargingProfileId"] for p in listed["profiles"]}
        # Clear by purpose: the TxDefault goes, the ChargePointMax stays.
        code, body = await api.post(
            f"/api/v1/stations/{station_id}/commands/ClearChargingProfile",
            {"chargingProfilePurpose": "TxDefaultProfile"},
        )
        assert body["response"]["status"] == "Accepted"
        await api.until(
            f"/api/v1/stations/{station_id}/charging-profiles",
            lambda b: [p["csChargingProfiles"]["chargingProfileId"] for p in b["profiles"]] == [2],
        )
        composite = await api.get(
            f"/api/v1/stations/{station_id}/composite-schedule", connectorId="1", duration="600"
        )
        assert composite[1]["chargingSchedulePeriod"][0]["limit"] == 16.0


async def test_profiles_breaking_the_rules_are_refused_with_422(system: System, api: Api) -> None:
    station_id = unique_station()
    async with station(system.station_url(station_id)) as cp:
        code, body = await set_profile(api, station_id, 1, profile(1, "ChargePointMaxProfile", 32.0))
        assert code == 422 and body["error"]["field"] == "connectorId"
        code, body = await set_profile(api, station_id, 1, profile(2, "TxProfile", 10.0))
        assert code == 422 and "no transaction is running" in body["error"]["description"]
        bad = profile(3, "TxDefaultProfile", 10.0)
        bad["chargingSchedule"]["chargingSchedulePeriod"] = [
            {"startPeriod": 0, "limit": 8},
            {"startPeriod": 0, "limit": 6},
        ]
        code, body = await set_profile(api, station_id, 1, bad)
        assert code == 422 and "increase" in body["error"]["description"]
        # Once the station reported its limits (GetConfiguration), they are enforced too.
        cp.responses["GetConfiguration"] = call_result.GetConfiguration(
            configuration_key=[
                {"key": "ChargeProfileMaxStackLevel", "readonly": True, "value": "3"},
                {"key": "ChargingScheduleAllowedChargingRateUnit", "readonly": True, "value": "Current"},
            ]
        )
        assert (await api.post(f"/api/v1/stations/{station_id}/commands/GetConfiguration", {}))[0] == 200
        await api.until(
            f"/api/v1/stations/{station_id}/configuration", lambda b: len(b["configuration"]) == 2
        )
        code, body = await set_profile(api, station_id, 1, profile(4, "TxDefaultProfile", 10.0, stack=4))
        assert code == 422 and "ChargeProfileMaxStackLevel 3" in body["error"]["description"]
        code, body = await set_profile(api, station_id, 1, profile(5, "TxDefaultProfile", 7000.0, unit="W"))
        assert code == 422 and body["error"]["field"].endswith("chargingRateUnit")
        code, body = await api.post(
            f"/api/v1/stations/{station_id}/commands/RemoteStartTransaction",
            {"idTag": "X", "chargingProfile": profile(6, "TxDefaultProfile", 10.0)},
        )
        assert code == 422 and "TxProfile" in body["error"]["description"]
        assert not any(action == "SetChargingProfile" for action, _ in cp.received)


async def test_tx_profile_ends_with_its_transaction(system: System, api: Api) -> None:
    station_id, id_tag = unique_station(), unique_station("SC")[:20]
    await api.put(f"/api/v1/id-tags/{id_tag}", {"status": "Accepted"})
    async with station(system.station_url(station_id)) as cp:
        started = await cp.call(
            call.StartTransaction(connector_id=2, id_tag=id_tag, meter_start=0, timestamp=iso(now()))
        )
        tx = started.transaction_id

        async def accepted_once_running() -> tuple[int, Any]:
            for _ in range(100):
                code, body = await set_profile(
                    api, station_id, 2, profile(7, "TxProfile", 12.0, transactionId=tx)
                )
                if code == 200:
                    return code, body
                await asyncio.sleep(0.1)  # the read model learns of the start through Kafka
            return code, body

        code, body = await accepted_once_running()
        assert (code, body["response"]["status"]) == (200, "Accepted")
        composite = await api.until(
            f"/api/v1/stations/{station_id}/composite-schedule?connectorId=2&duration=600",
            lambda b: bool(b["chargingSchedulePeriod"]),
        )
        assert composite["chargingSchedulePeriod"][0]["limit"] == 12.0
        await cp.call(call.StopTransaction(meter_stop=100, timestamp=iso(now()), transaction_id=tx))
        await api.until(f"/api/v1/stations/{station_id}/charging-profiles", lambda b: b["profiles"] == [])


async def test_computed_schedule_matches_the_simulated_stations_own_answer(system: System, api: Api) -> None:
    """The system's calculator and the station's independent one (services/simulator/schedule.py)
    agree on the same installed profiles: stacking, purposes and the station limit."""
    config = FleetConfig(
        url=f"ws://127.0.0.1:{system.gateway.port}/ocpp",
        prefix=unique_station("SCS") + "-",
        stations=1,
        duration=60,
    )
    fleet = Fleet(config)
    run = asyncio.create_task(fleet.run())
    try:
        await asyncio.wait_for(fleet.ready.wait(), 20)
        station_id = fleet.stations[0].station_id
        default = profile(11, "TxDefaultProfile", 16.0, stack=0)
        default["chargingSchedule"]["chargingSchedulePeriod"] = [
            {"startPeriod": 0, "limit": 16.0},
            {"startPeriod": 1200, "limit": 10.0},
        ]
        override = profile(12, "TxDefaultProfile", 20.0, stack=3)
        override["chargingSchedule"]["duration"] = 600
        station_max = profile(13, "ChargePointMaxProfile", 13.0)
        for connector_id, body in ((1, default), (1, override), (0, station_max)):
            code, answer = await set_profile(api, station_id, connector_id, body)
            assert (code, answer["response"]["status"]) == (200, "Accepted"), answer
        await api.until(f"/api/v1/stations/{station_id}/charging-profiles", lambda b: len(b["profiles"]) == 3)
        ours = (
            await api.get(
                f"/api/v1/stations/{station_id}/composite-schedule", connectorId="1", duration="3600"
            )
        )[1]
        code, theirs = await api.post(
            f"/api/v1/stations/{station_id}/commands/GetCompositeSchedule",
            {"connectorId": 1, "duration": 3600, "chargingRateUnit": "A"},
        )
        assert code == 200 and theirs["response"]["status"] == "Accepted"
        station_periods = theirs["response"]["chargingSchedule"]["chargingSchedulePeriod"]
        # Both start "now" (seconds apart at most): compare the limits in order and the breakpoints within 2 s.
        assert [p["limit"] for p in ours["chargingSchedulePeriod"]] == [p["limit"] for p in station_periods]
        for a, b in zip(ours["chargingSchedulePeriod"], station_periods, strict=True):
            assert abs(a["startPeriod"] - b["startPeriod"]) <= 2
        assert [p["limit"] for p in station_periods] == [13.0, 10.0]  # min(20 | 16, 13) then min(10, 13)
    finally:
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run

"""Every response the domains' typed views describe (ADR 0032) matches its schema in /openapi.json.

Data comes from a real station and the API: a booted station with two connectors, its configuration,
a charging profile, a reservation, a transaction with meter values, an id tag, a site, local lists
and a push. Each covered endpoint is then read (list and item) and its body validated against the
schema of that operation, made strict: a field the schema does not name fails as much as a missing
one, so the document and the views cannot drift apart.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import jsonschema
import pytest
from ocpp.v16 import call, call_result

from tests.e2e.conftest import Api, System, unique_station
from tests.e2e.station import iso, now, station
from tests.e2e.test_reservations import ReservationsProcess

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def reservations(system: System) -> AsyncIterator[None]:
    """The reservations service is not one of the session's: run it for this module."""
    process = ReservationsProcess(system)
    await process.start()
    yield
    await process.stop()


def strict(schema: Any) -> Any:
    """``schema`` with ``additionalProperties: false`` on every object that lists its properties."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


class Contract:
    """The schemas of /openapi.json, to validate response bodies with."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.components = strict(copy.deepcopy(doc["components"]))
        self.checked: set[tuple[str, str, str]] = set()

    def check(self, method: str, template: str, status: int, body: Any) -> None:
        response = self.doc["paths"][template][method]["responses"][str(status)]
        schema = response["content"]["application/json"]["schema"]
        assert schema != {"type": "object"}, f"{method} {template} {status} is not described"
        root = {**strict(schema), "components": self.components}
        try:
            jsonschema.Draft202012Validator(root).validate(body)
        except jsonschema.ValidationError as exc:
            raise AssertionError(
                f"{method.upper()} {template} {status}: {exc.message} at {exc.json_path}"
            ) from None
        self.checked.add((method, template, str(status)))


async def test_responses_match_their_openapi_schemas(system: System, api: Api, reservations: None) -> None:
    code, doc = await api.get("/openapi.json")
    assert code == 200
    contract = Contract(doc)

    async def get(template: str, path: str, **params: str) -> Any:
        code, body = await api.get(path, **params)
        assert code == 200, (path, body)
        contract.check("get", template, 200, body)
        return body

    async def put(template: str, path: str, body: Any) -> Any:
        code, answer = await api.put(path, body)
        assert code in (200, 201), (path, answer)
        contract.check("put", template, code, answer)
        return answer

    station_id, site_id = unique_station(), unique_station("SITE")
    id_tag, reserved_tag = unique_station("T")[:20], unique_station("R")[:20]
    expiry = iso(now() + timedelta(days=1))
    await put(
        "/api/v1/sites/{siteId}",
        f"/api/v1/sites/{site_id}",
        {"gridLimit": 64, "stationLimits": {station_id: 16}},
    )
    await put("/api/v1/stations/{stationId}", f"/api/v1/stations/{station_id}", {"site": site_id})
    await put(
        "/api/v1/id-tags/{idTag}", f"/api/v1/id-tags/{id_tag}", {"status": "Accepted", "expiryDate": expiry}
    )
    await put("/api/v1/id-tags/{idTag}", f"/api/v1/id-tags/{reserved_tag}", {"status": "Accepted"})
    await put(
        "/api/v1/local-lists/stations/{name}",
        f"/api/v1/local-lists/stations/{station_id}",
        {"idTags": [id_tag]},
    )
    await put(
        "/api/v1/local-lists/sites/{name}", f"/api/v1/local-lists/sites/{site_id}", {"idTags": [reserved_tag]}
    )

    async with station(system.station_url(station_id)) as cp:
        cp.answering("ReserveNow", call_result.ReserveNow(status="Accepted"))
        cp.answering("CancelReservation", call_result.CancelReservation(status="Accepted"))
        cp.answering("GetLocalListVersion", call_result.GetLocalListVersion(list_version=0))
        cp.answering("SendLocalList", call_result.SendLocalList(status="Accepted"))
        for connector in (1, 2):
            await cp.status(connector, "Available")
        code, _ = await api.post(f"/api/v1/stations/{station_id}/commands/GetConfiguration", {})
        assert code == 200
        code, _ = await api.post(
            f"/api/v1/stations/{station_id}/commands/SetChargingProfile",
            {
                "connectorId": 1,
                "csChargingProfiles": {
                    "chargingProfileId": 7,
                    "stackLevel": 1,
                    "chargingProfilePurpose": "TxDefaultProfile",
                    "chargingProfileKind": "Absolute",
                    "chargingSchedule": {
                        "chargingRateUnit": "A",
                        "startSchedule": iso(now().replace(microsecond=0)),
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0, "numberPhases": 3}],
                    },
                },
            },
        )
        assert code == 200
        await cp.call(
            call.SecurityEventNotification(type="SettingSystemTime", timestamp=iso(now()), tech_info=None)
        )
        code, reserved = await api.post(
            "/api/v1/reservations",
            {"stationId": station_id, "connectorId": 2, "idTag": reserved_tag, "expiryDate": expiry},
        )
        assert code == 201, reserved
        contract.check("post", "/api/v1/reservations", 201, reserved)
        code, pushed = await api.post(f"/api/v1/stations/{station_id}/local-list/push", {})
        assert code == 200 and pushed["status"] == "Accepted", pushed
        contract.check("post", "/api/v1/stations/{stationId}/local-list/push", 200, pushed)
        code, job = await api.post("/api/v1/local-list-pushes", {"stationIds": [station_id]})
        assert code == 202, job
        contract.check("post", "/api/v1/local-list-pushes", 202, job)

        started = await cp.call(
            call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=1000, timestamp=iso(now()))
        )
        tid = started.transaction_id
        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=tid,
                meter_value=[
                    {
                        "timestamp": iso(now()),
                        "sampled_value": [
                            {"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                            {"value": "7.5", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
                        ],
                    }
                ],
            )
        )

        # The read models converge through Kafka: wait for what each endpoint should show.
        await api.until(f"/api/v1/transactions/{tid}", lambda b: len(b["meterValues"]) == 2)
        await api.until(
            f"/api/v1/reservations/{reserved['reservationId']}", lambda b: b["status"] == "active"
        )
        await api.until(f"/api/v1/stations/{station_id}/charging-profiles", lambda b: bool(b["profiles"]))
        await api.until(f"/api/v1/stations/{station_id}/configuration", lambda b: bool(b["configuration"]))
        await api.until(f"/api/v1/stations/{station_id}/local-list", lambda b: b["held"] is not None)
        await api.until(f"/api/v1/local-list-pushes/{job['pushId']}", lambda b: b["finished"])
        await api.until(f"/api/v1/stations/{station_id}", lambda b: len(b["connectors"]) == 2)
        await api.until(f"/api/v1/stations/{station_id}/calls", lambda b: len(b["calls"]) >= 5)

        one = await get("/api/v1/stations/{stationId}", f"/api/v1/stations/{station_id}")
        assert one["registration"]["site"] == site_id and one["boot"] is not None
        listed = await get("/api/v1/stations", "/api/v1/stations", site=site_id)
        assert [s["stationId"] for s in listed["stations"]] == [station_id]
        await get("/api/v1/stations", "/api/v1/stations", limit="2")
        await get(
            "/api/v1/stations/{stationId}/configuration", f"/api/v1/stations/{station_id}/configuration"
        )
        calls = await get(
            "/api/v1/stations/{stationId}/calls", f"/api/v1/stations/{station_id}/calls", limit="2"
        )
        assert calls["next"] is not None
        await get(
            "/api/v1/stations/{stationId}/calls", f"/api/v1/stations/{station_id}/calls", cursor=calls["next"]
        )
        await get(
            "/api/v1/stations/{stationId}/charging-profiles",
            f"/api/v1/stations/{station_id}/charging-profiles",
        )
        await get(
            "/api/v1/stations/{stationId}/composite-schedule",
            f"/api/v1/stations/{station_id}/composite-schedule",
            connectorId="1",
            duration="600",
        )
        await api.until(
            f"/api/v1/security-events?stationId={station_id}", lambda b: len(b["securityEvents"]) == 1
        )
        await get("/api/v1/security-events", "/api/v1/security-events", stationId=station_id)
        await get("/api/v1/id-tags", "/api/v1/id-tags", limit="3")
        await get("/api/v1/id-tags/{idTag}", f"/api/v1/id-tags/{id_tag}")
        await get("/api/v1/sites", "/api/v1/sites")
        await get("/api/v1/sites/{siteId}", f"/api/v1/sites/{site_id}")
        running = await get("/api/v1/transactions", "/api/v1/transactions", stationId=station_id)
        assert running["transactions"][0]["energyWh"] == 500
        await get("/api/v1/transactions", "/api/v1/transactions", limit="1")
        await get("/api/v1/transactions/{transactionId}", f"/api/v1/transactions/{tid}")
        await get("/api/v1/reservations", "/api/v1/reservations", stationId=station_id)
        await get("/api/v1/reservations/{reservationId}", f"/api/v1/reservations/{reserved['reservationId']}")
        await get("/api/v1/local-lists", "/api/v1/local-lists")
        await get("/api/v1/local-lists/stations/{name}", f"/api/v1/local-lists/stations/{station_id}")
        await get("/api/v1/local-lists/sites/{name}", f"/api/v1/local-lists/sites/{site_id}")
        await get("/api/v1/stations/{stationId}/local-list", f"/api/v1/stations/{station_id}/local-list")
        await get("/api/v1/local-list-pushes/{pushId}", f"/api/v1/local-list-pushes/{job['pushId']}")

        rid = reserved["reservationId"]
        code, cancelled = await api.post(f"/api/v1/reservations/{rid}/cancel", {})
        assert code == 200, cancelled
        contract.check("post", "/api/v1/reservations/{reservationId}/cancel", 200, cancelled)
        await cp.call(
            call.StopTransaction(meter_stop=2000, timestamp=iso(now()), transaction_id=tid, reason="Local")
        )
        stopped = await api.until(f"/api/v1/transactions/{tid}", lambda b: b["stoppedAt"] is not None)
        contract.check("get", "/api/v1/transactions/{transactionId}", 200, stopped)

    # The ``all`` scope applies to every station: defined only for as long as it is read.
    await put("/api/v1/local-lists/all", "/api/v1/local-lists/all", {"idTags": [id_tag]})
    await get("/api/v1/local-lists/all", "/api/v1/local-lists/all")
    await api.request("DELETE", "/api/v1/local-lists/all")
    await api.request("DELETE", f"/api/v1/local-lists/sites/{site_id}")
    await api.request("DELETE", f"/api/v1/sites/{site_id}")
    # The API's tokens and its audit trail (ADR 0036).
    code, created = await api.post("/api/v1/tokens", {"name": "schemas", "role": "viewer"})
    assert code == 201
    contract.check("post", "/api/v1/tokens", 201, created)
    await get("/api/v1/tokens", "/api/v1/tokens", limit="2")
    await get("/api/v1/audit", "/api/v1/audit", limit="2")
    # Every GET the views describe was read (firmware and diagnostics are described elsewhere).
    gets = {
        path
        for path, ops in doc["paths"].items()
        if "get" in ops and path != "/openapi.json" and "firmware" not in path and "diagnostics" not in path
    }
    assert gets <= {t for m, t, _ in contract.checked if m == "get"}

"""OCTT Local Authorization List cases for a Central System (TC_042, TC_043), end to end.

The operator defines which tags belong on lists (all stations, a site, a station); the system asks
the station its version, sends a Full or a Differential update (asserted on the frames in
``ocpp.frames``), handles Failed / NotSupported / VersionMismatch, respects the station's reported
maximum lengths, and pushes to many stations in the background with visible progress.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from operator import itemgetter
from typing import Any

import aiohttp
import pytest
from ocpp.v16 import call_result

from services.api.app import OperatorApi
from tests.e2e.conftest import Api, System, bearer, read_frames, unique_station
from tests.e2e.station import TestStation, station

pytestmark = pytest.mark.e2e


class FakeList:
    """A station's local list as the station keeps it (OCPP 1.6 5.15), answers scriptable."""

    def __init__(self, cp: TestStation, *, version: int = 0, supported: bool = True) -> None:
        self.version, self.supported = version, supported
        self.entries: dict[str, dict[str, Any]] = {}
        self.answers: list[str] = []  # forced answers to the next SendLocalList requests
        for action, handler in (("GetLocalListVersion", self.get_version), ("SendLocalList", self.send)):
            cp.answering(action, handler)

    def get_version(self, req: dict[str, Any]) -> Any:
        return call_result.GetLocalListVersion(list_version=self.version if self.supported else -1)

    def send(self, req: dict[str, Any]) -> Any:
        if self.answers:
            return call_result.SendLocalList(status=self.answers.pop(0))
        if not self.supported:
            return call_result.SendLocalList(status="NotSupported")
        if req["update_type"] == "Full":
            self.entries = {}
        elif req["list_version"] <= self.version:
            return call_result.SendLocalList(status="VersionMismatch")
        for entry in req.get("local_authorization_list", []):
            if "id_tag_info" in entry:
                self.entries[entry["id_tag"]] = entry["id_tag_info"]
            else:
                self.entries.pop(entry["id_tag"], None)
        self.version = req["list_version"]
        return call_result.SendLocalList(status="Accepted")


@pytest.fixture(autouse=True)
async def no_list_for_all_stations(api: Api) -> AsyncIterator[None]:
    """The ``all`` scope applies to every station of every test: each test starts without it."""
    await api.request("DELETE", "/api/v1/local-lists/all")
    yield
    await api.request("DELETE", "/api/v1/local-lists/all")


async def tag(api: Api, id_tag: str, status: str = "Accepted", **extra: Any) -> None:
    code, body = await api.put(f"/api/v1/id-tags/{id_tag}", {"status": status, **extra})
    assert code in (200, 201), body


def new_tag(prefix: str = "L") -> str:
    return unique_station(prefix)[:20]


async def push(api: Api, station_id: str, **body: Any) -> Any:
    code, result = await api.post(f"/api/v1/stations/{station_id}/local-list/push", body)
    assert code == 200, result
    return result


async def sent_lists(system: System, station_id: str, count: int) -> list[dict[str, Any]]:
    """The SendLocalList payloads as they crossed the wire, from ocpp.frames."""

    def calls(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            json.loads(r["raw"])[3]
            for r in records
            if r.get("type") == "frame"
            and r["direction"] == "out"
            and r.get("message_type") == 2
            and r.get("action") == "SendLocalList"
        ]

    return calls(await read_frames(system.settings, station_id, lambda found: len(calls(found)) >= count))


async def test_version_not_supported_and_empty(system: System, api: Api) -> None:
    """TC_042_1 (-1: no list on the station) and TC_042_2 (0: empty list)."""
    for supported in (False, True):
        station_id = unique_station()
        async with station(system.station_url(station_id)) as cp:
            FakeList(cp, supported=supported)
            code, body = await api.post(f"/api/v1/stations/{station_id}/commands/GetLocalListVersion", {})
            assert code == 200 and body["response"] == {"listVersion": -1 if supported is False else 0}
            held = await api.until(
                f"/api/v1/stations/{station_id}/local-list", lambda b: b["held"] is not None
            )
            assert held["held"]["supported"] is supported
            assert held["held"]["entries"] == (None if not supported else {})
            if not supported:
                result = await push(api, station_id)
                assert result["status"] == "NotSupported"
                assert not any(a == "SendLocalList" for a, _ in cp.received)


async def test_full_then_differential_with_only_the_changes(system: System, api: Api) -> None:
    """TC_043_4 (Full, every entry with idTagInfo) then TC_043_5 (Differential: only what changed)."""
    station_id = unique_station()
    keep, change, drop, add = (new_tag(p) for p in "KCDA")
    for t in (keep, change, drop, add):
        await tag(api, t)
    code, _ = await api.put(f"/api/v1/local-lists/stations/{station_id}", {"idTags": [keep, change, drop]})
    assert code == 201
    async with station(system.station_url(station_id)) as cp:
        fake = FakeList(cp)
        result = await push(api, station_id)
        assert result == {
            "stationId": station_id,
            "entries": 3,
            "status": "Accepted",
            "updateType": "Full",
            "versionMismatch": False,
            "listVersion": 1,
            "messages": 1,
        }
        assert set(fake.entries) == {keep, change, drop}
        assert [a for a, _ in cp.received] == ["GetLocalListVersion", "SendLocalList"]
        await api.until(
            f"/api/v1/stations/{station_id}/local-list", lambda b: (b["held"] or {}).get("listVersion") == 1
        )

        await tag(api, change, "Blocked")
        code, _ = await api.put(f"/api/v1/local-lists/stations/{station_id}", {"idTags": [keep, change, add]})
        assert code == 200
        result = await push(api, station_id)
        assert result["status"] == "Accepted" and result["updateType"] == "Differential"
        assert result["listVersion"] == 2 and fake.version == 2
        assert (
            fake.entries[change]["status"] == "Blocked" and drop not in fake.entries and add in fake.entries
        )
        # Nothing changed since: nothing is sent.
        assert (await push(api, station_id))["status"] == "UpToDate"

    full, differential = await sent_lists(system, station_id, 2)
    assert full["updateType"] == "Full" and full["listVersion"] == 1
    assert sorted(e["idTag"] for e in full["localAuthorizationList"]) == sorted([keep, change, drop])
    assert all(e["idTagInfo"]["status"] == "Accepted" for e in full["localAuthorizationList"])
    assert differential == {
        "listVersion": 2,
        "updateType": "Differential",
        "localAuthorizationList": [
            *sorted(
                [
                    {"idTag": add, "idTagInfo": {"status": "Accepted"}},
                    {"idTag": change, "idTagInfo": {"status": "Blocked"}},
                ],
                key=itemgetter("idTag"),
            ),
            {"idTag": drop},
        ],
    }
    held = await api.until(
        f"/api/v1/stations/{station_id}/local-list", lambda b: b["held"]["listVersion"] == 2
    )
    assert set(held["held"]["entries"]) == {keep, change, add}


@pytest.mark.parametrize("answer", ["NotSupported", "Failed"])
async def test_send_local_list_refusals_are_reported(system: System, api: Api, answer: str) -> None:
    """TC_043_1 (NotSupported) and TC_043_3 (Failed): a Full update, the answer reported."""
    station_id = unique_station()
    t = new_tag()
    await tag(api, t)
    await api.put(f"/api/v1/local-lists/stations/{station_id}", {"idTags": [t]})
    async with station(system.station_url(station_id)) as cp:
        fake = FakeList(cp)
        fake.answers = [answer]
        result = await push(api, station_id)
        assert result["status"] == answer and result["updateType"] == "Full"
        assert cp.last("SendLocalList")["update_type"] == "Full"
        held = await api.until(
            f"/api/v1/stations/{station_id}/local-list",
            lambda b: b["held"] is not None and b["held"]["lastStatus"] == answer,
        )
        assert held["held"]["supported"] is (answer != "NotSupported")


async def test_version_mismatch_leads_to_a_full_update(system: System, api: Api) -> None:
    station_id = unique_station()
    a, b = new_tag("A"), new_tag("B")
    await tag(api, a)
    await tag(api, b)
    await api.put(f"/api/v1/local-lists/stations/{station_id}", {"idTags": [a]})
    async with station(system.station_url(station_id)) as cp:
        fake = FakeList(cp)
        assert (await push(api, station_id))["listVersion"] == 1
        await api.put(f"/api/v1/local-lists/stations/{station_id}", {"idTags": [a, b]})
        fake.answers = ["VersionMismatch"]
        result = await push(api, station_id)
        assert result["status"] == "Accepted" and result["updateType"] == "Full" and result["versionMismatch"]
        sends = [r for act, r in cp.received if act == "SendLocalList"]
        assert [s["update_type"] for s in sends] == ["Full", "Differential", "Full"]
        assert sends[2]["list_version"] > sends[1]["list_version"]
        assert set(fake.entries) == {a, b}


async def test_max_lengths_reported_by_the_station_are_respected(system: System, api: Api) -> None:
    station_id = unique_station()
    tags = [new_tag(str(i)) for i in range(5)]
    for t in tags:
        await tag(api, t)
    await api.put(f"/api/v1/local-lists/stations/{station_id}", {"idTags": tags})
    async with station(system.station_url(station_id)) as cp:
        fake = FakeList(cp)
        config = [
            {"key": "SendLocalListMaxLength", "readonly": True, "value": "2"},
            {"key": "LocalAuthListMaxLength", "readonly": True, "value": "5"},
        ]
        cp.responses["GetConfiguration"] = call_result.GetConfiguration(configuration_key=config)
        assert (await api.post(f"/api/v1/stations/{station_id}/commands/GetConfiguration", {}))[0] == 200
        await api.until(
            f"/api/v1/stations/{station_id}/configuration", lambda b: len(b["configuration"]) == 2
        )
        result = await push(api, station_id)
        assert result["status"] == "Accepted" and result["messages"] == 3 and result["listVersion"] == 3
        sends = [r for act, r in cp.received if act == "SendLocalList"]
        assert [(s["update_type"], len(s["local_authorization_list"])) for s in sends] == [
            ("Full", 2),
            ("Differential", 2),
            ("Differential", 1),
        ]
        assert set(fake.entries) == set(tags)
        extra = new_tag("X")
        await tag(api, extra)
        await api.put(f"/api/v1/local-lists/stations/{station_id}", {"idTags": [*tags, extra]})
        result = await push(api, station_id)
        assert result["status"] == "ListTooLong" and "LocalAuthListMaxLength 5" in result["detail"]
        assert len([a for a, _ in cp.received if a == "SendLocalList"]) == 3


async def test_background_push_to_a_site_and_everyone(system: System, api: Api) -> None:
    """Lists per site and for all stations, pushed in the background; progress via the API."""
    site = unique_station("site")
    stations_ = [unique_station() for _ in range(3)]
    for s in stations_:
        assert (await api.put(f"/api/v1/stations/{s}", {"site": site}))[0] == 201
    everyone, local = new_tag("E"), new_tag("S")
    await tag(api, everyone)
    await tag(api, local)
    code, _ = await api.put("/api/v1/local-lists/all", {"idTags": [everyone]})
    assert code in (200, 201)
    assert (await api.put(f"/api/v1/local-lists/sites/{site}", {"idTags": [local]}))[0] == 201
    async with station(system.station_url(stations_[0])) as a, station(system.station_url(stations_[1])) as b:
        fakes = [FakeList(a), FakeList(b)]
        code, job = await api.post("/api/v1/local-list-pushes", {"site": site})
        assert code == 202 and job["total"] == 3
        done = await api.until(f"/api/v1/local-list-pushes/{job['pushId']}", lambda j: j["finished"])
        by_station = {r["stationId"]: r["status"] for r in done["results"]}
        assert by_station == {
            stations_[0]: "Accepted",
            stations_[1]: "Accepted",
            stations_[2]: "NotConnected",
        }
        assert done["done"] == 3 and done["succeeded"] == 2
        for fake in fakes:
            assert set(fake.entries) >= {everyone, local}
    code, body = await api.get(f"/api/v1/local-lists/sites/{site}")
    assert code == 200 and body == {"scope": f"site:{site}", "idTags": [local]}
    assert (await api.request("DELETE", f"/api/v1/local-lists/sites/{site}"))[0] == 204
    assert (await api.get(f"/api/v1/local-lists/sites/{site}"))[0] == 404
    assert (await api.get("/api/v1/local-list-pushes/nope"))[0] == 404
    code, body = await api.put("/api/v1/local-lists/all", {"idTags": ["x" * 21]})
    assert code == 422 and body["error"]["field"] == "idTags[0]"


async def test_a_background_push_is_visible_from_every_api_replica(system: System, api: Api) -> None:
    """The push runs in the locallists service and its progress is in the read model: another API
    replica than the one that was asked shows it too."""
    station_id = unique_station()
    assert (await api.put(f"/api/v1/stations/{station_id}", {}))[0] == 201
    assert (await api.put(f"/api/v1/local-lists/stations/{station_id}", {"idTags": [new_tag("R")]}))[0] == 201
    other = OperatorApi(
        dataclasses.replace(system.settings, instance_id=f"{system.settings.instance_id}-api2")
    )
    await other.start()
    try:
        async with (
            aiohttp.ClientSession(headers=bearer(system.api_token)) as session,
            station(system.station_url(station_id)) as cp,
        ):
            FakeList(cp)
            second = Api(session, f"http://127.0.0.1:{other.port}")
            code, job = await api.post("/api/v1/local-list-pushes", {"stationIds": [station_id]})
            assert code == 202 and job["total"] == 1
            done = await second.until(f"/api/v1/local-list-pushes/{job['pushId']}", lambda j: j["finished"])
            assert done["succeeded"] == 1 and done["results"][0]["stationId"] == station_id
            assert done["finishedAt"] is not None
    finally:
        await other.stop()

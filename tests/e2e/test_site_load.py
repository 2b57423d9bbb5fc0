"""Site load management end to end (issue 5): ten stations of the independent `ocpp` client share a
grid connection; the allocator keeps the limits it sends under the grid limit at every moment, gives
every car its minimum, redistributes what a stopped or slower car leaves, and reports a station
that refuses its limit instead of asking it again and again."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from ocpp.v16 import call, call_result

from services.smartcharging.sites import SiteManager
from tests.e2e.conftest import Api, System, unique_station
from tests.e2e.station import TestStation, iso, now, station

pytestmark = pytest.mark.e2e

GRID, CAP, MINIMUM = 100.0, 32.0, 6.0


class Limits:
    """Every SetChargingProfile the stations received, and the highest sum of accepted limits in force."""

    def __init__(self, refuser: str) -> None:
        self.refuser = refuser
        self.received: list[tuple[str, int, float]] = []
        self.in_force: dict[str, float] = {}
        self.worst = 0.0

    def responder(self, station_id: str) -> Callable[[dict[str, Any]], Any]:
        def respond(request: dict[str, Any]) -> Any:
            profile = request["cs_charging_profiles"]
            limit = float(profile["charging_schedule"]["charging_schedule_period"][0]["limit"])
            self.received.append((station_id, profile["transaction_id"], limit))
            refuse = station_id == self.refuser
            if not refuse:
                self.in_force[station_id] = limit
            self.worst = max(self.worst, sum(self.in_force.values()))
            return call_result.SetChargingProfile(status="Rejected" if refuse else "Accepted")

        return respond

    def ended(self, station_id: str) -> None:
        self.in_force.pop(station_id, None)


def by_station(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["stationId"]: a for a in body["allocation"]}


def settled(expected: dict[str, float], refuser: str) -> Callable[[Any], bool]:
    """The allocation read model shows exactly these limits in force, and the refuser as rejected."""

    def check(body: Any) -> bool:
        rows = by_station(body)
        if set(rows) != {*expected, refuser} or rows[refuser]["status"] != "rejected":
            return False
        return all(rows[s]["limit"] == pytest.approx(v) for s, v in expected.items())

    return check


async def start(cp: TestStation, id_tag: str) -> int:
    result = await cp.call(
        call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=0, timestamp=iso(now()))
    )
    assert result.id_tag_info["status"] == "Accepted"
    return int(result.transaction_id)


@pytest.fixture
async def sites(api: Api) -> AsyncIterator[Callable[[], str]]:
    """New site ids, deleted after the test: a managed site would outlive it in the shared broker
    (and `make run`'s allocator would go on managing the test's stations)."""
    made: list[str] = []

    def new() -> str:
        made.append(f"site-{uuid.uuid4().hex[:8]}")
        return made[-1]

    yield new
    for site in made:
        await api.request("DELETE", f"/api/v1/sites/{site}")


async def test_ten_stations_share_a_grid_limit(system: System, api: Api, sites: Callable[[], str]) -> None:
    site = sites()
    ids = [unique_station("SITE") for _ in range(10)]
    refuser = ids[-1]
    for sid in ids:
        assert (await api.put(f"/api/v1/stations/{sid}", {"site": site}))[0] in (200, 201)
    code, body = await api.put(
        f"/api/v1/sites/{site}",
        {
            "gridLimit": GRID,
            "stationMax": CAP,
            "minChargingRate": MINIMUM,
            "minIntervalSeconds": 0.5,
            "deadband": 0.1,
        },
    )
    assert code == 201 and body["gridLimit"] == GRID
    tags = [f"T{uuid.uuid4().hex[:12]}" for _ in ids]
    for tag in tags:
        assert (await api.put(f"/api/v1/id-tags/{tag}", {"status": "Accepted"}))[0] == 201

    limits = Limits(refuser)
    async with contextlib.AsyncExitStack() as stack:
        cps = [await stack.enter_async_context(station(system.station_url(sid))) for sid in ids]
        for cp in cps:
            cp.responses["SetChargingProfile"] = limits.responder(cp.id)
        txs = {cp.id: await start(cp, tag) for cp, tag in zip(cps, tags, strict=True)}

        # Ten cars, one station refusing (it counts at its cap): the other nine share 68 A.
        share = 7.5  # floor((100 - 32) / 9, 0.1)
        body = await api.until(
            f"/api/v1/sites/{site}", settled(dict.fromkeys(ids[:-1], share), refuser), timeout=60
        )
        rows = by_station(body)
        assert "Rejected" in rows[refuser]["reason"]
        assert all(rows[s]["transactionId"] == txs[s] for s in ids)
        assert body["stations"] == sorted(ids)

        # A car stops: its share goes to the others.
        await cps[0].call(
            call.StopTransaction(meter_stop=1000, timestamp=iso(now()), transaction_id=txs[ids[0]])
        )
        limits.ended(ids[0])
        await api.until(f"/api/v1/sites/{site}", settled(dict.fromkeys(ids[1:-1], 8.5), refuser), timeout=20)

        # A slower car (drawing 3 A) keeps its minimum; what it leaves goes to the others.
        await cps[1].call(
            call.MeterValues(
                connector_id=1,
                transaction_id=txs[ids[1]],
                meter_value=[
                    {
                        "timestamp": iso(now()),
                        "sampledValue": [{"value": "3.0", "measurand": "Current.Import", "unit": "A"}],
                    }
                ],
            )
        )
        fast = dict.fromkeys(ids[2:-1], 8.8)  # floor((100 - 32 - 6) / 7, 0.1)
        await api.until(f"/api/v1/sites/{site}", settled({ids[1]: MINIMUM, **fast}, refuser), timeout=20)

    # Never over the grid limit, every car at least its minimum, the refuser asked exactly once.
    assert limits.worst <= GRID + 1e-6, limits.worst
    assert all(limit >= MINIMUM for _, _, limit in limits.received), limits.received
    assert [r[:2] for r in limits.received if r[0] == refuser] == [(refuser, txs[refuser])]


async def test_sites_are_managed_through_the_api_with_clear_errors(system: System, api: Api) -> None:
    site = f"site-{uuid.uuid4().hex[:8]}"
    code, body = await api.put(f"/api/v1/sites/{site}", {"gridLimit": -5})
    assert code == 422 and body["error"]["field"] == "gridLimit"
    code, body = await api.put(f"/api/v1/sites/{site}", {"gridLimit": 50, "unit": "kW"})
    assert code == 422 and body["error"]["field"] == "unit"
    code, body = await api.put(f"/api/v1/sites/{site}", {"gridLimit": 50, "minChargingRate": 40})
    assert code == 422 and body["error"]["field"] == "minChargingRate"
    code, body = await api.put(f"/api/v1/sites/{site}", {"gridLimit": 50, "colour": "red"})
    assert code == 422 and body["error"]["field"] == "colour"
    assert (await api.get(f"/api/v1/sites/{site}"))[0] == 404

    code, body = await api.put(
        f"/api/v1/sites/{site}", {"gridLimit": 22000, "unit": "W", "stationLimits": {"CP-1": 11000}}
    )
    assert code == 201 and body["stationLimits"] == {"CP-1": 11000}
    assert (await api.put(f"/api/v1/sites/{site}", {"gridLimit": 20000, "unit": "W"}))[0] == 200
    code, body = await api.get(f"/api/v1/sites/{site}")
    assert code == 200 and body["gridLimit"] == 20000 and body["allocation"] == []
    assert site in {s["siteId"] for s in (await api.get("/api/v1/sites"))[1]["sites"]}
    assert (await api.request("DELETE", f"/api/v1/sites/{site}"))[0] == 204
    assert (await api.request("DELETE", f"/api/v1/sites/{site}"))[0] == 404


async def test_a_restarted_allocator_continues_without_resending(
    system: System, api: Api, sites: Callable[[], str]
) -> None:
    """A new allocator rebuilds the limits in force from smartcharging.events: it sends nothing that
    is already in force, and does not ask a station that refused again."""
    site = sites()
    ids = [unique_station("SITE") for _ in range(3)]
    refuser = ids[-1]
    for sid in ids:
        assert (await api.put(f"/api/v1/stations/{sid}", {"site": site}))[0] == 201
    assert (await api.put(f"/api/v1/sites/{site}", {"gridLimit": 50.0, "deadband": 0.1}))[0] == 201
    tags = [f"T{uuid.uuid4().hex[:12]}" for _ in ids]
    for tag in tags:
        await api.put(f"/api/v1/id-tags/{tag}", {"status": "Accepted"})
    limits = Limits(refuser)
    async with contextlib.AsyncExitStack() as stack:
        cps = [await stack.enter_async_context(station(system.station_url(sid))) for sid in ids]
        for cp in cps:
            cp.responses["SetChargingProfile"] = limits.responder(cp.id)
        for cp, tag in zip(cps, tags, strict=True):
            await start(cp, tag)
        await api.until(f"/api/v1/sites/{site}", settled(dict.fromkeys(ids[:-1], 9.0), refuser), timeout=60)
        sent_before = len(limits.received)

        # A second allocator, as after a restart (its own group, so it manages every site at once).
        restarted = SiteManager(system.settings, group=f"test-restart-{uuid.uuid4().hex[:8]}")
        run = asyncio.create_task(restarted.run())
        try:
            async with asyncio.timeout(30):
                while restarted.rounds.get(site, 0) < 1:  # noqa: ASYNC110 - its rounds run in its own tasks
                    await asyncio.sleep(0.05)
            assert restarted.limits(site) == {(s, 1): 9.0 for s in ids[:-1]}
            await asyncio.sleep(1.0)  # anything it would send has been sent by now
            assert len(limits.received) == sent_before, limits.received[sent_before:]
        finally:
            restarted.stop()
            await asyncio.wait_for(run, 30)


async def test_a_station_moved_to_another_site_leaves_its_share_behind(
    system: System, api: Api, sites: Callable[[], str]
) -> None:
    first, second = sites(), sites()
    ids = [unique_station("SITE") for _ in range(2)]
    for sid in ids:
        assert (await api.put(f"/api/v1/stations/{sid}", {"site": first}))[0] == 201
    for site in (first, second):
        assert (await api.put(f"/api/v1/sites/{site}", {"gridLimit": 40.0, "deadband": 0.1}))[0] == 201
    tags = [f"T{uuid.uuid4().hex[:12]}" for _ in ids]
    for tag in tags:
        await api.put(f"/api/v1/id-tags/{tag}", {"status": "Accepted"})
    limits = Limits(refuser="")
    async with contextlib.AsyncExitStack() as stack:
        cps = [await stack.enter_async_context(station(system.station_url(sid))) for sid in ids]
        for cp, tag in zip(cps, tags, strict=True):
            cp.responses["SetChargingProfile"] = limits.responder(cp.id)
            await start(cp, tag)

        def shares(expected: dict[str, float]) -> Callable[[Any], bool]:
            return lambda b: {a["stationId"]: a["limit"] for a in b["allocation"]} == expected

        await api.until(f"/api/v1/sites/{first}", shares({ids[0]: 20.0, ids[1]: 20.0}), timeout=30)
        assert (await api.put(f"/api/v1/stations/{ids[1]}", {"site": second}))[0] == 200
        await api.until(f"/api/v1/sites/{first}", shares({ids[0]: 32.0}), timeout=20)
        body = await api.until(f"/api/v1/sites/{second}", lambda b: len(b["allocation"]) == 1, timeout=20)
        assert body["allocation"][0]["stationId"] == ids[1]

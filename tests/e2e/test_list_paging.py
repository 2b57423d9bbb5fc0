"""Keyset paging and the stations filters of the operator API (issue 11, ADR 0016), end to end.

Stations are registered through the API and connected with the independent ``ocpp`` client; the
lists are read over real HTTP from the PostgreSQL read models fed from Kafka. Other tests of the
session add rows to the same lists, so assertions are about our rows inside a full walk.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from ocpp.v16 import call, call_result

from tests.e2e.conftest import Api, System
from tests.e2e.station import iso, now, station
from tests.e2e.test_reservations import ReservationsProcess, reserve

pytestmark = pytest.mark.e2e


async def walk(
    api: Api,
    path: str,
    items: str,
    between: Callable[[list[dict[str, Any]]], Awaitable[None]] | None = None,
    **params: str,
) -> list[dict[str, Any]]:
    """Every page of a list, following ``next``; ``between(rows so far)`` runs before each next page."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        code, body = await api.get(path, **params, **({"cursor": cursor} if cursor else {}))
        assert code == 200, body
        assert len(body[items]) <= int(params.get("limit", "100"))
        rows.extend(body[items])
        cursor = body["next"]
        if cursor is None:
            return rows
        if between is not None:
            await between(rows)


async def poll(what: str, check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    """Until ``check()``: read models converge through Kafka."""
    try:
        async with asyncio.timeout(timeout):
            while not await check():  # noqa: ASYNC110 - the state converges in other processes' consumers
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"never: {what}") from None


def prefix() -> str:
    return f"PG{uuid.uuid4().hex[:8]}-"


async def test_station_pages_list_every_station_once_in_order_while_rows_are_added(
    system: System, api: Api
) -> None:
    p = prefix()
    before = [f"{p}{i:02d}" for i in range(0, 14, 2)]  # 00, 02, ... 12
    for station_id in before:
        assert (await api.put(f"/api/v1/stations/{station_id}", {}))[0] == 201
    async with station(system.station_url(f"{p}03")) as cp:  # connected, not registered beforehand
        await cp.status(1, "Available")
        await api.until(f"/api/v1/stations/{p}03", lambda b: b["connectors"] != [])
        added: list[tuple[str, str]] = []  # (station id, the last id served when it was added)

        async def add(so_far: list[dict[str, Any]]) -> None:
            # While walking: one station that sorts after the walk's position, one that sorts before.
            for station_id in (f"{p}{len(added):02d}x", f"{p[:-1]}{len(added):02d}"):
                added.append((station_id, so_far[-1]["stationId"]))
                assert (await api.put(f"/api/v1/stations/{station_id}", {}))[0] == 201

        rows = await walk(api, "/api/v1/stations", "stations", between=add, limit="2")
    ids = [r["stationId"] for r in rows]
    assert ids == sorted(set(ids)), "pages are in station id order, without a duplicate"
    for station_id in [*before, f"{p}03"]:  # there when the walk started: exactly once
        assert ids.count(station_id) == 1, station_id
    assert len(added) >= 10
    for station_id, last in added:  # added during the walk: served iff it sorts after the position
        assert ids.count(station_id) == (1 if station_id > last else 0), (station_id, last)
    connected = next(r for r in rows if r["stationId"] == f"{p}03")
    assert [c["status"] for c in connected["connectors"]] == ["Available"]
    assert connected["boot"] == {"chargePointModel": "Sim-1", "chargePointVendor": "Acme"}


async def boot(cp: Any, vendor: str, model: str, firmware: str) -> None:
    await cp.call(
        call.BootNotification(charge_point_vendor=vendor, charge_point_model=model, firmware_version=firmware)
    )


async def test_station_filters(system: System, api: Api) -> None:
    p = prefix()
    vendor, site = f"V{uuid.uuid4().hex[:10]}", f"site-{uuid.uuid4().hex[:8]}"
    a, b, c = f"{p}a", f"{p}b", f"{p}c"
    assert (await api.put(f"/api/v1/stations/{a}", {"site": site}))[0] == 201
    assert (await api.put(f"/api/v1/stations/{b}", {"bootStatus": "Pending"}))[0] == 201
    assert (await api.put(f"/api/v1/stations/{c}", {"site": site}))[0] == 201  # never connects

    async def ids(**filters: str) -> set[str]:
        # between named, so mypy knows **filters (str) cannot be what fills it
        return {
            r["stationId"]
            for r in await walk(api, "/api/v1/stations", "stations", between=None, limit="1", **filters)
        }

    async def until(expected: set[str], **filters: str) -> None:
        async def matches() -> bool:
            return await ids(**filters) == expected

        await poll(f"GET /api/v1/stations?{filters} lists exactly {expected}", matches)

    async with station(system.station_url(a), boot=False) as cp_a:
        await boot(cp_a, vendor, "M-1", "1.0")
        await cp_a.status(1, "Charging")
        async with station(system.station_url(b), boot=False) as cp_b:
            await boot(cp_b, vendor, "M-2", "2.0")
            await until({a, b}, vendor=vendor)
            await until({a, b}, vendor=vendor, connected="true")
            await until({a}, model="M-1", vendor=vendor)
            await until({b}, firmwareVersion="2.0", vendor=vendor)
            await until({b}, bootStatus="Pending", vendor=vendor)
            await until({a}, bootStatus="Accepted", vendor=vendor)
            await until({a}, connectorStatus="Charging", vendor=vendor)
            await until(set(), connectorStatus="Available", vendor=vendor)
            await until({a, c}, site=site)
        await until({b}, vendor=vendor, connected="false")
        await until({a}, vendor=vendor, connected="true")


async def test_id_tags_sites_and_local_lists_page_in_key_order(api: Api) -> None:
    p = prefix()
    tags = [f"{p}{i}" for i in range(5)]
    for tag in tags:
        assert (await api.put(f"/api/v1/id-tags/{tag}", {"status": "Accepted"}))[0] == 201
        assert (await api.put(f"/api/v1/sites/{tag}", {"gridLimit": 32}))[0] == 201
        assert (await api.put(f"/api/v1/local-lists/sites/{tag}", {"idTags": [tag]}))[0] == 201
    for path, items, key in (
        ("/api/v1/id-tags", "idTags", "idTag"),
        ("/api/v1/sites", "sites", "siteId"),
        ("/api/v1/local-lists", "localLists", "scope"),
    ):
        keys = [r[key] for r in await walk(api, path, items, limit="2")]
        assert keys == sorted(set(keys)), path
        mine = [k for k in keys if p in k]
        assert len(mine) == len(tags), (path, mine)


async def test_transactions_and_calls_page_newest_first(system: System, api: Api) -> None:
    p = prefix()
    station_id, tag = f"{p}tx", f"{p}T"
    assert (await api.put(f"/api/v1/id-tags/{tag}", {"status": "Accepted"}))[0] == 201
    async with station(system.station_url(station_id)) as cp:
        started = [
            (
                await cp.call(
                    call.StartTransaction(connector_id=c, id_tag=tag, meter_start=0, timestamp=iso(now()))
                )
            ).transaction_id
            for c in (1, 2, 3)
        ]
        for _ in range(3):
            code, _ = await api.post(f"/api/v1/stations/{station_id}/commands/GetConfiguration", {})
            assert code == 200

        async def three() -> bool:
            code, body = await api.get("/api/v1/transactions", stationId=station_id, limit="1000")
            return code == 200 and len(body["transactions"]) == 3

        await poll("3 transactions projected", three)
        listed = await walk(api, "/api/v1/transactions", "transactions", stationId=station_id, limit="1")
        assert [t["transactionId"] for t in listed] == started[::-1]

        async def calls_projected() -> bool:
            code, body = await api.get(f"/api/v1/stations/{station_id}/calls", limit="500")
            return code == 200 and sum(c["action"] == "GetConfiguration" for c in body["calls"]) >= 3

        await poll("the GetConfiguration calls projected", calls_projected)
        whole = (await api.get(f"/api/v1/stations/{station_id}/calls", limit="500"))[1]["calls"]
        paged = await walk(api, f"/api/v1/stations/{station_id}/calls", "calls", limit="1")
        assert [c["uniqueId"] for c in paged] == [c["uniqueId"] for c in whole]
        assert [c["sentAt"] for c in paged] == sorted((c["sentAt"] for c in paged), reverse=True)


async def test_reservations_page_newest_first(system: System, api: Api) -> None:
    process = ReservationsProcess(system)
    await process.start()
    try:
        p = prefix()
        station_id, tag = f"{p}rs", f"{p}T"
        assert (await api.put(f"/api/v1/id-tags/{tag}", {"status": "Accepted"}))[0] == 201
        async with station(system.station_url(station_id)) as cp:
            cp.answering("ReserveNow", call_result.ReserveNow(status="Accepted"))
            made = []
            for connector_id in (1, 2, 3):
                code, body = await reserve(api, station_id, connector_id, tag)
                assert code == 201, body
                made.append(body["reservationId"])

            async def three() -> bool:  # 201 is the station's answer; the read model follows the log
                code, body = await api.get("/api/v1/reservations", stationId=station_id, limit="1000")
                return code == 200 and len(body["reservations"]) == 3

            await poll("3 reservations projected", three)
            listed = await walk(api, "/api/v1/reservations", "reservations", stationId=station_id, limit="1")
            assert [r["reservationId"] for r in listed] == sorted(made, reverse=True)
    finally:
        await process.stop()


LISTS = [
    ("/api/v1/stations", "stations"),
    ("/api/v1/id-tags", "idTags"),
    ("/api/v1/sites", "sites"),
    ("/api/v1/local-lists", "localLists"),
    ("/api/v1/transactions", "transactions"),
    ("/api/v1/reservations", "reservations"),
    ("/api/v1/firmware", "images"),
    ("/api/v1/firmware-campaigns", "campaigns"),
    ("/api/v1/diagnostics", "diagnostics"),
]


@pytest.mark.parametrize(("path", "items"), LISTS)
async def test_every_list_validates_its_paging_parameters(api: Api, path: str, items: str) -> None:
    if items != "reservations":  # its read model runs only under test_reservations' control
        code, body = await api.get(path, limit="1")
        assert code == 200 and "next" in body and len(body[items]) <= 1, body
    for bad in ("0", "1001", "x", "-1"):
        code, body = await api.get(path, limit=bad)
        assert (code, body["error"]["field"]) == (400, "limit"), (path, bad, body)
    other = "/api/v1/id-tags" if path != "/api/v1/id-tags" else "/api/v1/sites"
    for cursor in ("garbage!", "e30", "A" * 600, await _some_cursor(api, other)):
        code, body = await api.get(path, cursor=cursor)
        assert (code, body["error"]["code"], body["error"]["field"]) == (400, "InvalidQuery", "cursor"), body
    code, body = await api.get(path, limt="5")  # misspelt: not silently ignored
    assert (code, body["error"]["field"]) == (400, "limt"), body


async def _some_cursor(api: Api, path: str) -> str:
    """A real cursor of another list (there are at least two id tags and sites by now)."""
    for i in range(2):
        await api.put(
            f"{path}/{prefix()}{i}", {"status": "Accepted"} if "id-tags" in path else {"gridLimit": 1}
        )
    code, body = await api.get(path, limit="1")
    assert code == 200 and body["next"], body
    return str(body["next"])


async def test_station_filters_reject_bad_values(api: Api) -> None:
    for name, value in (
        ("connected", "yes"),
        ("bootStatus", "accepted"),
        ("connectorStatus", "Broken"),
        ("vendor", "x" * 21),
        ("model", ""),
        ("firmwareVersion", "x" * 51),
        ("site", "s" * 65),
    ):
        code, body = await api.get("/api/v1/stations", **{name: value})
        assert (code, body["error"]["code"], body["error"]["field"]) == (400, "InvalidQuery", name), body

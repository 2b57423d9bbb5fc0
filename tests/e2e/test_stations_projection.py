"""The stations read model in PostgreSQL follows the log, keeps newer connector states against late
notifications, survives a database outage, and a replay from offset 0 rebuilds it identically."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from ocpp.v16 import ChargePoint, call
from websockets.asyncio.client import connect

from services.cli import projections
from shared.projection.bookkeeping import drop_projection
from shared.projection.pool import DbTarget, connect_pool
from shared.projection.runner import ProjectionRunner
from tests.e2e.conftest import Api, System, unique_station
from tests.e2e.station import OCPP16, iso, now, station

pytestmark = pytest.mark.e2e


async def fetch_station(db: asyncpg.Pool, station_id: str) -> dict[str, Any] | None:
    row = await db.fetchrow("SELECT * FROM stations WHERE station_id = $1", station_id)
    return dict(row) if row else None


async def until_row(db: asyncpg.Pool, query: str, *args: Any, timeout: float = 20) -> asyncpg.Record:
    async with asyncio.timeout(timeout):
        while True:
            row = await db.fetchrow(query, *args)
            if row is not None:
                return row
            await asyncio.sleep(0.1)


async def test_boot_presence_and_connector_status_are_projected(system: System, db: asyncpg.Pool) -> None:
    station_id = unique_station()
    async with connect(system.station_url(station_id), subprotocols=OCPP16) as ws:
        cp = ChargePoint(station_id, ws)
        listener = asyncio.create_task(cp.start())
        await cp.call(
            call.BootNotification(
                charge_point_model="M1", charge_point_vendor="Acme", firmware_version="1.2.3"
            )
        )
        new = "2030-01-01T10:00:00Z"
        old = "2030-01-01T09:00:00Z"  # offline backlog, arrives late
        for status, ts in (("Charging", new), ("Preparing", old)):
            await cp.call(
                call.StatusNotification(connector_id=1, error_code="NoError", status=status, timestamp=ts)
            )
        await cp.call(call.StatusNotification(connector_id=0, error_code="NoError", status="Available"))
        row = await until_row(
            db, "SELECT * FROM stations WHERE station_id = $1 AND boot_status IS NOT NULL", station_id
        )
        assert row["connected"] and row["boot_status"] == "Accepted"
        assert '"firmwareVersion": "1.2.3"' in row["boot"] or '"firmwareVersion":"1.2.3"' in row["boot"]
        await until_row(db, "SELECT 1 FROM connectors WHERE station_id = $1 AND connector_id = 0", station_id)
        connector = await db.fetchrow(
            "SELECT status FROM connectors WHERE station_id = $1 AND connector_id = 1", station_id
        )
        assert connector is not None and connector["status"] == "Charging"
        listener.cancel()
    await until_row(db, "SELECT 1 FROM stations WHERE station_id = $1 AND NOT connected", station_id)


async def test_replay_from_offset_zero_equals_the_live_projections(
    system: System, db: asyncpg.Pool, api: Api
) -> None:
    """`csms replay` semantics: every projection rebuilt from offset 0 equals the live one.

    Runs after the Core tests in the same session (mixed workload: boots, statuses, transactions,
    offline backlogs, unknown ids, commands and their answers) and adds traffic of its own of every
    kind it asserts on, so that it holds run alone too.
    """
    id_tag = unique_station("RP")[:20]
    await api.put(f"/api/v1/id-tags/{id_tag}", {"status": "Accepted"})
    for i in range(3):
        station_id = unique_station()
        async with station(system.station_url(station_id)) as cp:
            await cp.status(1, "Available")
            started = await cp.call(
                call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=i, timestamp=iso(now()))
            )
            await cp.call(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=started.transaction_id,
                    meter_value=[{"timestamp": iso(now()), "sampledValue": [{"value": str(5 * i)}]}],
                )
            )
            code, body = await api.post(f"/api/v1/stations/{station_id}/commands/ClearCache", {})
            assert code == 200, body
            await cp.call(
                call.StopTransaction(
                    meter_stop=10 * i, timestamp=iso(now()), transaction_id=started.transaction_id
                )
            )
    schema = f"replay_{uuid.uuid4().hex[:8]}"
    target = DbTarget(system.settings.database_url, schema)
    replayed = await connect_pool(target)
    try:
        # The projections this session's system runs live (the reservations service runs only under
        # test_reservations' control): each must rebuild to exactly its live rows.
        live_projections = {
            p.name for r in system.runners if isinstance(r, ProjectionRunner) for p in r.projections
        }
        for projection in [p for p in projections(system.settings) if p.name in live_projections]:
            await drop_projection(replayed, projection)
            await ProjectionRunner(projection, system.settings.kafka_bootstrap, target).run(
                until_caught_up=True
            )
            ends = {
                (r["topic"], r["partition"]): r["next_offset"]
                for r in await replayed.fetch(
                    "SELECT * FROM projection_offsets WHERE projection = $1", projection.name
                )
            }

            async def live_reached(
                name: str = projection.name, ends: dict[tuple[str, int], int] = ends
            ) -> bool:
                live = {
                    (r["topic"], r["partition"]): r["next_offset"]
                    for r in await db.fetch("SELECT * FROM projection_offsets WHERE projection = $1", name)
                }
                return all(live.get(k, -1) >= v for k, v in ends.items())

            async with asyncio.timeout(30):
                while not await live_reached():  # noqa: ASYNC110 - another task's progress, in PostgreSQL
                    await asyncio.sleep(0.2)
            for table in projection.tables():
                order = "ORDER BY " + ", ".join(str(i + 1) for i in range(await _columns(db, table)))
                live = [tuple(r) for r in await db.fetch(f"SELECT * FROM {table} {order}")]
                rebuilt = [tuple(r) for r in await replayed.fetch(f"SELECT * FROM {table} {order}")]
                if table in ("stations", "transactions", "meter_values", "station_calls"):
                    assert live, table
                assert rebuilt == live, table
    finally:
        await replayed.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await replayed.close()


async def _columns(db: asyncpg.Pool, table: str) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = $1 AND table_schema = current_schema()",
        table,
    )
    return count

"""The stations read model in PostgreSQL follows the log, keeps newer connector states against late
notifications, survives a database outage, and a replay from offset 0 rebuilds it identically."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from ocpp.v16 import ChargePoint, call
from websockets.asyncio.client import connect

from services.stations.projection import StationsProjection
from shared.events.topics import Topics
from shared.projection import DbTarget, ProjectionRunner, connect_pool, drop_projection
from tests.e2e.conftest import System, eventually, unique_station

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
    async with connect(system.station_url(station_id), subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
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


def local_postgres(action: str) -> bool:
    """Drive the project's own PostgreSQL (deploy/local/postgres.sh); False when it is not ours."""
    script = Path(__file__).resolve().parents[2] / "deploy" / "local" / "postgres.sh"
    if action == "status":
        out = subprocess.run(["bash", str(script), "status"], capture_output=True, text=True, check=False)
        return out.returncode == 0 and "running on 127.0.0.1" in out.stderr
    subprocess.run(["bash", str(script), action], check=True, capture_output=True)
    return True


async def test_stations_are_answered_while_postgres_is_down_and_projection_catches_up(
    system: System, db: asyncpg.Pool
) -> None:
    if not local_postgres("status"):
        pytest.skip("CSMS_DATABASE_URL points at a server these tests may not stop")
    station_id = unique_station()
    local_postgres("stop")
    try:
        async with connect(system.station_url(station_id), subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
            cp = ChargePoint(station_id, ws)
            listener = asyncio.create_task(cp.start())
            boot = await cp.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
            assert boot.status == "Accepted"  # decided from memory, logged in Kafka: no database needed
            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
            listener.cancel()
    finally:
        local_postgres("start")
    row = await until_row(
        db,
        "SELECT boot_status FROM stations WHERE station_id = $1 AND boot_status IS NOT NULL",
        station_id,
        timeout=60,
    )
    assert row["boot_status"] == "Accepted"
    await until_row(db, "SELECT 1 FROM connectors WHERE station_id = $1", station_id)


async def test_replay_from_offset_zero_equals_the_live_projection(system: System, db: asyncpg.Pool) -> None:
    # Some traffic, so there is something to compare.
    for _ in range(3):
        station_id = unique_station()
        async with connect(system.station_url(station_id), subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
            cp = ChargePoint(station_id, ws)
            listener = asyncio.create_task(cp.start())
            await cp.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
            listener.cancel()
    schema = f"replay_{uuid.uuid4().hex[:8]}"
    target = DbTarget(system.settings.database_url, schema)
    topics = Topics(system.settings.topic_prefix, system.settings.frame_partitions)
    replayed = await connect_pool(target)
    try:
        projection = StationsProjection(topics)
        await drop_projection(replayed, projection)
        await ProjectionRunner(projection, system.settings.kafka_bootstrap, target).run(until_caught_up=True)
        ends = {
            (r["topic"], r["partition"]): r["next_offset"]
            for r in await replayed.fetch("SELECT * FROM projection_offsets")
        }

        def live_offsets_reached() -> bool:
            return live_offsets is not None and all(live_offsets.get(k, -1) >= v for k, v in ends.items())

        live_offsets: dict[tuple[str, int], int] | None = None

        async def refresh() -> None:
            nonlocal live_offsets
            live_offsets = {
                (r["topic"], r["partition"]): r["next_offset"]
                for r in await db.fetch("SELECT * FROM projection_offsets WHERE projection='stations'")
            }

        async with asyncio.timeout(30):
            while not live_offsets_reached():
                await refresh()
                await asyncio.sleep(0.2)
        for table, key in (("stations", "station_id"), ("connectors", "station_id, connector_id")):
            live = [tuple(r) for r in await db.fetch(f"SELECT * FROM {table} ORDER BY {key}")]
            rebuilt = [tuple(r) for r in await replayed.fetch(f"SELECT * FROM {table} ORDER BY {key}")]
            assert rebuilt == live, table
    finally:
        await replayed.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await replayed.close()
    await eventually(lambda: True)

"""A PostgreSQL outage under load: stations keep being answered, no process dies, and afterwards
the read models catch up with nothing lost (issue 12, ADR 0018)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import pytest
from ocpp.v16 import call

from shared.events.topics import Topics
from shared.projection.pool import DbTarget, connect_pool
from shared.projection.runner import ProjectionRunner
from tests.e2e.conftest import System, unique_station
from tests.e2e.station import TestStation, iso, now, station
from tests.faults.conftest import PrivatePostgres

pytestmark = pytest.mark.e2e

STATIONS = 3
ROUNDS = 15  # per station during the outage: each a Heartbeat, a StatusNotification, a transaction
STATUSES = ["Available", "Preparing", "Charging", "SuspendedEV", "Finishing"]


async def rows(pool: asyncpg.Pool, query: str, *args: Any) -> list[asyncpg.Record]:
    result: list[asyncpg.Record] = await pool.fetch(query, *args)
    return result


async def load(cp: TestStation, statuses: list[str], transactions: list[int]) -> None:
    """One station's traffic; every CALL must get its CALLRESULT while the database is down."""
    for i in range(ROUNDS):
        assert (await cp.call(call.Heartbeat())).current_time
        status = STATUSES[i % len(STATUSES)]
        await cp.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status=status, timestamp=iso(now()))
        )
        statuses.append(status)
        started = await cp.call(
            call.StartTransaction(
                connector_id=2, id_tag="OUTAGE1", meter_start=1000 * i, timestamp=iso(now())
            )
        )
        transactions.append(started.transaction_id)
        await cp.call(
            call.StopTransaction(
                transaction_id=started.transaction_id, meter_stop=1000 * i + 500, timestamp=iso(now())
            )
        )


async def test_stations_are_answered_through_an_outage_and_projections_catch_up(
    system: System, private_postgres: PrivatePostgres
) -> None:
    ids = [unique_station("OUTAGE") for _ in range(STATIONS)]
    async with contextlib.AsyncExitStack() as stack:
        cps = [await stack.enter_async_context(station(system.station_url(s))) for s in ids]
        # Before: the read models follow.
        await cps[0].call(call.StatusNotification(connector_id=1, error_code="NoError", status="Unavailable"))
        before = await connect_pool(DbTarget(private_postgres.url, system.settings.db_schema))
        try:
            query = "SELECT 1 FROM connectors WHERE station_id = $1 AND status = 'Unavailable'"
            async with asyncio.timeout(30):
                while not await rows(before, query, ids[0]):  # noqa: ASYNC110 - the state is in PostgreSQL
                    await asyncio.sleep(0.1)
        finally:
            await before.close()
        private_postgres.stop()
        statuses: dict[str, list[str]] = {s: [] for s in ids}
        transactions: dict[str, list[int]] = {s: [] for s in ids}
        try:
            async with asyncio.TaskGroup() as group:
                for s, cp in zip(ids, cps, strict=True):
                    group.create_task(load(cp, statuses[s], transactions[s]))
            # Hold the outage until every read model has met it (and more frames arrive meanwhile).
            frames = Topics(system.settings.topic_prefix, system.settings.frame_partitions).frames
            projections = [
                r
                for r in system.runners
                if isinstance(r, ProjectionRunner) and any(frames in p.topics() for p in r.projections)
            ]
            seen = {id(r): r.outages for r in projections}
            async with asyncio.timeout(60):
                while not all(r.outages > seen[id(r)] for r in projections):
                    for cp in cps:
                        await cp.call(call.Heartbeat())
        finally:
            private_postgres.start()
        assert all(len(t) == ROUNDS for t in transactions.values())
        # After: every frame of the outage is in the read models (stations and transactions).
        pool = await connect_pool(DbTarget(private_postgres.url, system.settings.db_schema))
        try:
            wanted = {tx for txs in transactions.values() for tx in txs}
            query = "SELECT transaction_id FROM transactions WHERE transaction_id = ANY($1) AND meter_stop IS NOT NULL"
            async with asyncio.timeout(60):
                while {r["transaction_id"] for r in await rows(pool, query, list(wanted))} != wanted:  # noqa: ASYNC110 - the state is in PostgreSQL
                    await asyncio.sleep(0.2)
                for s in ids:
                    q = "SELECT status FROM connectors WHERE station_id = $1 AND connector_id = 1 AND status = $2"
                    while not await rows(pool, q, s, statuses[s][-1]):  # noqa: ASYNC110 - the state is in PostgreSQL
                        await asyncio.sleep(0.2)
            energy = await rows(
                pool, "SELECT energy_wh FROM transactions WHERE transaction_id = ANY($1)", list(wanted)
            )
            assert {r["energy_wh"] for r in energy} == {500}
        finally:
            await pool.close()
        # No process died: one runner's exception would have made run_until stop them all.
        assert not any(r._stopping.is_set() for r in system.runners if isinstance(r, ProjectionRunner))

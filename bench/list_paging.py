"""The stations list against 20,000 stations in the read model: keyset pages vs. the old query shape.

Rows are inserted straight into the stations projection's tables (its own DDL, indexes included)
in an isolated schema; both variants run the SQL the API runs, over one asyncpg pool, in this run:

- baseline (the old unpaged endpoint): all station rows, then two queries per station
  (connectors, availability) — measured on the first ``--baseline-stations`` only, reported per station;
- keyset: one page of 100 = the page query + one connectors query (services/stations/queries.py,
  services/api/stations.py), first page, a deep page, a filtered page, and a walk of every page.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from typing import Any

import asyncpg

from bench.report import append_section, save_json
from services.api.station_filters import station_query
from services.stations.calls_projection import DDL as CALLS_DDL
from services.stations.projection import DDL as STATIONS_DDL
from services.stations.queries import CONNECTORS_SQL, STATION_SQL
from shared.config import Settings
from shared.projection.pool import DbTarget, connect_pool


async def fill(pool: asyncpg.Pool, n: int) -> None:
    async with pool.acquire() as conn:
        for statement in [*STATIONS_DDL, *CALLS_DDL]:
            await conn.execute(statement)
        boot = '{"chargePointVendor": "Acme", "chargePointModel": "M-%d", "firmwareVersion": "1.%d"}'
        await conn.copy_records_to_table(
            "stations",
            columns=["station_id", "registered", "site", "connected", "boot", "boot_status", "last_seen"],
            records=[
                (f"CP{i:06d}", True, f"site-{i % 200}", i % 3 != 0, boot % (i % 7, i % 5), "Accepted", None)
                for i in range(n)
            ],
        )
        now = await conn.fetchval("SELECT now()")
        statuses = ["Available", "Charging", "Preparing", "Faulted"]
        await conn.copy_records_to_table(
            "connectors",
            columns=["station_id", "connector_id", "status", "error_code", "status_at"],
            records=[
                (f"CP{i:06d}", c, statuses[(i + c) % 4], "NoError", now) for i in range(n) for c in (0, 1, 2)
            ],
        )
        await conn.execute("ANALYZE stations; ANALYZE connectors")


async def timed(runs: int, fn: Any) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    s = Settings.from_env()
    schema = f"bench_paging_{uuid.uuid4().hex[:8]}"
    pool = await connect_pool(DbTarget(s.database_url, schema))
    try:
        await fill(pool, args.stations)

        async def old_list() -> None:
            rows = await pool.fetch(STATION_SQL + " ORDER BY station_id")
            for r in rows[: args.baseline_stations]:
                await pool.fetch(
                    "SELECT * FROM connectors WHERE station_id = $1 ORDER BY connector_id", r["station_id"]
                )
                await pool.fetch(
                    "SELECT * FROM connector_availability WHERE station_id = $1", r["station_id"]
                )

        async def page(after: str | None, **filters: str) -> list[str]:
            sql, qargs = station_query(filters).sql(after, 101)
            ids = [r["station_id"] for r in await pool.fetch(sql, *qargs)][:100]
            await pool.fetch(CONNECTORS_SQL, ids)
            return ids

        async def walk() -> None:
            after = None
            while ids := await page(after):
                after = ids[-1]
                if len(ids) < 100:
                    break

        deep = f"CP{args.stations - 500:06d}"
        results = {
            "baseline": await timed(args.runs, old_list),
            "first page": await timed(args.runs * 5, lambda: page(None)),
            "deep page": await timed(args.runs * 5, lambda: page(deep)),
            "site filter": await timed(args.runs * 5, lambda: page(None, site="site-7")),
            "connectorStatus+vendor": await timed(
                args.runs * 5, lambda: page(None, connectorStatus="Faulted", vendor="Acme")
            ),
            "walk all pages": await timed(args.runs, walk),
        }
    finally:
        await pool.close()
        conn = await asyncpg.connect(s.database_url)
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=20000)
    parser.add_argument("--baseline-stations", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = asyncio.run(run(args))
    base = statistics.median(results["baseline"])
    per_station = base / args.baseline_stations
    lines = [
        "| variant | median ms | p max ms | note |",
        "|---|---|---|---|",
        (
            f"| baseline: old list, 2 queries per station | {base:.1f} | {max(results['baseline']):.1f} | "
            f"{args.baseline_stations} stations served; {per_station:.2f} ms/station => "
            f"~{per_station * args.stations / 1000:.1f} s for all {args.stations} |"
        ),
    ]
    for name, values in results.items():
        if name != "baseline":
            lines.append(
                f"| keyset: {name} (100 rows) | {statistics.median(values):.1f} | {max(values):.1f} | |"
            )
    first = statistics.median(results["first page"])
    lines.append(f"| page of 100 vs. 100 stations of the baseline | {first / (per_station * 100):.3f}x | | |")
    save_json("list_paging", {"args": vars(args), "results": results})
    append_section(
        f"Stations list with {args.stations} stations (issue 11, ADR 0016)",
        f"`python -m bench.list_paging --stations {args.stations} --baseline-stations {args.baseline_stations}`",
        "\n".join(lines),
    )


if __name__ == "__main__":
    main()

"""Read model of each site's newest allocation, built from ``smartcharging.events``.

One row per charging session of a site: its fair share, the limit in force, and whether its station
refused (with the reason). Every :class:`SiteAllocated` replaces the site's rows; within a batch
only the newest event per site is written. A :class:`LimitsPlanned` changes nothing here: what a
station accepted is in the next SiteAllocated.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from aiokafka import ConsumerRecord

from services.smartcharging.events import SiteAllocated, event_decoder
from shared.projection.base import TableProjection
from shared.projection.columns import ms_to_datetime

DDL = [
    """CREATE TABLE IF NOT EXISTS site_allocations (
        site_id text NOT NULL,
        station_id text NOT NULL,
        connector_id int NOT NULL,
        transaction_id int NOT NULL,
        target double precision,
        limit_in_force double precision,
        unit text NOT NULL,
        status text NOT NULL,
        reason text,
        drawing double precision,
        decided_at timestamptz NOT NULL,
        PRIMARY KEY (site_id, station_id, connector_id)
    )""",
]


class SiteAllocationsProjection(TableProjection):
    name = "site_allocations"
    statements = DDL
    table_names = ["site_allocations"]

    def topics(self) -> Sequence[str]:
        return [self._topics.domain("smartcharging")]

    async def apply(self, conn: asyncpg.Connection, batch: Sequence[ConsumerRecord]) -> None:
        newest: dict[str, SiteAllocated] = {}
        for msg in batch:
            if msg.value is not None:
                event = event_decoder.decode_known(msg.value)
                if isinstance(event, SiteAllocated):  # a LimitsPlanned is the allocator's own memory
                    newest[event.site_id] = event
        for site_id, event in newest.items():
            await conn.execute("DELETE FROM site_allocations WHERE site_id = $1", site_id)
            at = ms_to_datetime(event.at_ms)
            await conn.executemany(
                """INSERT INTO site_allocations (site_id, station_id, connector_id, transaction_id, target,
                       limit_in_force, unit, status, reason, drawing, decided_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
                [
                    (
                        site_id,
                        e.station_id,
                        e.connector_id,
                        e.transaction_id,
                        e.target,
                        e.limit,
                        event.unit,
                        e.status,
                        e.reason,
                        e.drawing,
                        at,
                    )
                    for e in event.entries
                ],
            )

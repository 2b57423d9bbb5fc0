"""Read model of background pushes: each push and every station's result, for any API replica."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import msgspec
from aiokafka import ConsumerRecord

from services.locallists.events import SERVICE, PushRequested, StationPushed, push_decoder
from shared.projection.base import TableProjection
from shared.projection.columns import ms_to_datetime

DDL = [
    """CREATE TABLE IF NOT EXISTS local_list_pushes (
        push_id text PRIMARY KEY,
        total int NOT NULL,
        force text,
        requested_at timestamptz NOT NULL,
        finished_at timestamptz
    )""",
    """CREATE TABLE IF NOT EXISTS local_list_push_results (
        push_id text NOT NULL,
        station_id text NOT NULL,
        status text NOT NULL,
        result jsonb NOT NULL,
        at timestamptz NOT NULL,
        PRIMARY KEY (push_id, station_id)
    )""",
]


class LocalListPushesProjection(TableProjection):
    name = "local_list_pushes"
    statements = DDL
    table_names = ["local_list_push_results", "local_list_pushes"]

    def topics(self) -> Sequence[str]:
        return [self._topics.domain(SERVICE)]

    async def apply(self, conn: asyncpg.Connection, batch: Sequence[ConsumerRecord]) -> None:
        for msg in batch:
            event = push_decoder.decode_known(msg.value)
            if event is None:  # a newer record type this version does not know
                continue
            at = ms_to_datetime(event.at_ms)
            if isinstance(event, PushRequested):
                await conn.execute(
                    """INSERT INTO local_list_pushes (push_id, total, force, requested_at)
                       VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING""",
                    event.push_id,
                    len(event.station_ids),
                    event.force,
                    at,
                )
            elif isinstance(event, StationPushed):
                await conn.execute(
                    """INSERT INTO local_list_push_results (push_id, station_id, status, result, at)
                       VALUES ($1, $2, $3, $4::jsonb, $5)
                       ON CONFLICT (push_id, station_id) DO UPDATE SET status = $3, result = $4::jsonb, at = $5""",
                    event.push_id,
                    event.station_id,
                    str(event.result.get("status")),
                    msgspec.json.encode(event.result).decode(),
                    at,
                )
            else:
                await conn.execute(
                    "UPDATE local_list_pushes SET finished_at = $2 WHERE push_id = $1 AND finished_at IS NULL",
                    event.push_id,
                    at,
                )

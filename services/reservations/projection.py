"""The reservations read model, built from ``reservations.events`` alone.

One row per reservation id: created by ``allocated`` (the id is the record's position) or by the
first ReserveNow we saw sent, updated by the station's answers, and closed by the first ``ended``
(later ends of the same reservation change nothing, as in the service's own state).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from aiokafka import ConsumerRecord

from shared.projection.base import TableProjection
from shared.reservations.events import (
    SERVICE,
    ReservationAllocated,
    ReservationAnswered,
    ReservationCallSent,
    ReservationConfirmed,
    decode_event,
)
from shared.reservations.state import reservation_id, status_of_answer

DDL = [
    """CREATE TABLE IF NOT EXISTS reservations (
        reservation_id int PRIMARY KEY,
        station_id text NOT NULL,
        connector_id int,
        id_tag text,
        parent_id_tag text,
        expiry_date timestamptz,
        status text NOT NULL,
        reserve_answer text,
        cancel_answer text,
        end_reason text,
        used_connector_id int,
        used_id_tag text,
        created_at timestamptz NOT NULL,
        ended_at timestamptz,
        updated_at timestamptz NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS reservations_station ON reservations (station_id, status)",
]

UPSERT_SENT = """INSERT INTO reservations (reservation_id, station_id, connector_id, id_tag, parent_id_tag,
        expiry_date, status, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, 'requested', $7, $7)
    ON CONFLICT (reservation_id) DO UPDATE SET connector_id = $3, id_tag = $4, parent_id_tag = $5,
        expiry_date = $6, updated_at = $7,
        status = CASE WHEN reservations.status = 'allocated' THEN 'requested' ELSE reservations.status END
    WHERE reservations.status IN ('allocated', 'requested', 'active')"""


class ReservationsProjection(TableProjection):
    name = "reservations"
    statements = DDL
    table_names = ["reservations"]

    def topics(self) -> Sequence[str]:
        return [self._topics.domain(SERVICE)]

    async def apply(self, conn: asyncpg.Connection, batch: Sequence[ConsumerRecord]) -> None:
        for msg in batch:
            event = decode_event(msg.value)
            if event is None:
                continue
            if isinstance(event, ReservationAllocated):
                await conn.execute(
                    """INSERT INTO reservations (reservation_id, station_id, status, created_at, updated_at)
                       VALUES ($1, $2, 'allocated', $3, $3) ON CONFLICT DO NOTHING""",
                    reservation_id(msg.partition, msg.offset, self._topics.frame_partitions),
                    event.station_id,
                    event.at,
                )
            elif isinstance(event, ReservationCallSent):
                if event.call == "ReserveNow":
                    await conn.execute(
                        UPSERT_SENT,
                        event.reservation_id,
                        event.station_id,
                        event.connector_id,
                        event.id_tag,
                        event.parent_id_tag,
                        event.expiry_date,
                        event.at,
                    )
            elif isinstance(event, ReservationAnswered):
                if event.call == "ReserveNow":
                    await conn.execute(
                        """UPDATE reservations SET reserve_answer = $2, updated_at = $4,
                             status = CASE WHEN status = 'requested' THEN $3 ELSE status END
                           WHERE reservation_id = $1""",
                        event.reservation_id,
                        event.status,
                        status_of_answer(event.status),
                        event.at,
                    )
                else:
                    await conn.execute(
                        "UPDATE reservations SET cancel_answer = $2, updated_at = $3 WHERE reservation_id = $1",
                        event.reservation_id,
                        event.status,
                        event.at,
                    )
            elif isinstance(event, ReservationConfirmed):
                await conn.execute(
                    """UPDATE reservations SET status = 'active', updated_at = $2
                       WHERE reservation_id = $1 AND status = 'requested'""",
                    event.reservation_id,
                    event.at,
                )
            else:
                await conn.execute(
                    """UPDATE reservations SET status = $2, end_reason = $3, used_connector_id = $4,
                         used_id_tag = $5, ended_at = $6, updated_at = $6
                       WHERE reservation_id = $1 AND status IN ('requested', 'active')""",
                    event.reservation_id,
                    event.status,
                    event.reason,
                    event.connector_id,
                    event.id_tag,
                    event.at,
                )

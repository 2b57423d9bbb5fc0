"""Reads of the reservations read model (``reservations``) as typed views (ADR 0032)."""

from __future__ import annotations

from typing import Any

import msgspec

from shared.views import Db, Timestamp, iso, iso_or_none


class ReservationView(msgspec.Struct, rename="camel", kw_only=True):
    reservation_id: int
    station_id: str
    connector_id: int | None
    id_tag: str | None
    parent_id_tag: str | None
    expiry_date: Timestamp | None
    status: str
    reserve_answer: str | None
    cancel_answer: str | None
    end_reason: str | None
    used_connector_id: int | None
    used_id_tag: str | None
    created_at: Timestamp
    ended_at: Timestamp | None


def _view(r: Any) -> ReservationView:
    return ReservationView(
        reservation_id=r["reservation_id"],
        station_id=r["station_id"],
        connector_id=r["connector_id"],
        id_tag=r["id_tag"],
        parent_id_tag=r["parent_id_tag"],
        expiry_date=iso_or_none(r["expiry_date"]),
        status=r["status"],
        reserve_answer=r["reserve_answer"],
        cancel_answer=r["cancel_answer"],
        end_reason=r["end_reason"],
        used_connector_id=r["used_connector_id"],
        used_id_tag=r["used_id_tag"],
        created_at=iso(r["created_at"]),
        ended_at=iso_or_none(r["ended_at"]),
    )


async def reservation(db: Db, reservation_id: int) -> ReservationView | None:
    row = await db.fetchrow("SELECT * FROM reservations WHERE reservation_id = $1", reservation_id)
    return _view(row) if row is not None else None


async def reservations(
    db: Db, *, station_id: str | None, status: str | None, before: int | None, limit: int
) -> list[ReservationView]:
    """Up to ``limit`` reservations, newest (highest id) first, with an id below ``before``."""
    where: list[str] = []
    args: list[object] = []
    for column, value in (("station_id", station_id), ("status", status)):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    if before is not None:
        args.append(before)
        where.append(f"reservation_id < ${len(args)}")
    args.append(limit)
    sql = "SELECT * FROM reservations"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY reservation_id DESC LIMIT ${len(args)}"
    return [_view(r) for r in await db.fetch(sql, *args)]

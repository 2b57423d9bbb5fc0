"""Reads of the local list read models (``local_lists_held``, ``local_list_pushes``,
``local_list_push_results``) and of the definitions the API holds, as typed views (ADR 0032)."""

from __future__ import annotations

from typing import Any

import msgspec

from services.locallists.definitions import LocalListDefinition
from services.locallists.pushes import SUCCEEDED
from shared.views import Db, Document, Timestamp, document, iso, iso_or_none


class DefinitionView(msgspec.Struct, rename="camel", kw_only=True):
    """The id tags of one scope: ``all``, ``site:<id>`` or ``station:<id>``."""

    scope: str
    id_tags: list[str]


def definition_view(d: LocalListDefinition) -> DefinitionView:
    return DefinitionView(scope=d.scope, id_tags=d.id_tags)


class HeldView(msgspec.Struct, rename="camel", kw_only=True):
    """What the station holds as far as the log tells; ``entries`` null when unknown."""

    list_version: int
    entries: Document | None
    supported: bool
    last_action: str
    last_status: str
    updated_at: Timestamp


class StationLocalList(msgspec.Struct, rename="camel", kw_only=True):
    station_id: str
    scopes: list[str]
    # idTag -> idTagInfo, as a push would send it
    desired: dict[str, dict[str, Any]]
    held: HeldView | None


async def held(db: Db, station_id: str) -> HeldView | None:
    row = await db.fetchrow("SELECT * FROM local_lists_held WHERE station_id = $1", station_id)
    if row is None:
        return None
    return HeldView(
        list_version=row["list_version"],
        entries=document(row["entries"]) if row["entries"] is not None else None,
        supported=row["supported"],
        last_action=row["last_action"],
        last_status=row["last_status"],
        updated_at=iso(row["updated_at"]),
    )


class PushSummary(msgspec.Struct, kw_only=True):
    total: int
    done: int
    succeeded: int
    requested_at: str
    finished_at: str | None


class PushView(msgspec.Struct, rename="camel", kw_only=True):
    """A push job with one page of its per-station ``results``; the counts are over all of them."""

    push_id: str
    total: int
    done: int
    finished: bool
    succeeded: int
    requested_at: Timestamp
    finished_at: Timestamp | None
    results: list[Document]
    next: str | None


def push_view(push_id: str, summary: PushSummary, results: list[Document], cursor: str | None) -> PushView:
    return PushView(
        push_id=push_id,
        total=summary.total,
        done=summary.done,
        finished=summary.finished_at is not None,
        succeeded=summary.succeeded,
        requested_at=summary.requested_at,
        finished_at=summary.finished_at,
        results=results,
        next=cursor,
    )


async def push_exists(db: Db, push_id: str) -> bool:
    return await db.fetchval("SELECT 1 FROM local_list_pushes WHERE push_id = $1", push_id) is not None


async def push_summary(db: Db, push_id: str) -> PushSummary | None:
    """The push's counts, counted by the database."""
    row = await db.fetchrow(
        """SELECT p.total, p.requested_at, p.finished_at,
                  (SELECT count(*) FROM local_list_push_results r WHERE r.push_id = p.push_id) AS done,
                  (SELECT count(*) FROM local_list_push_results r
                   WHERE r.push_id = p.push_id AND r.status = ANY($2::text[])) AS succeeded
           FROM local_list_pushes p WHERE p.push_id = $1""",
        push_id,
        list(SUCCEEDED),
    )
    if row is None:
        return None
    return PushSummary(
        total=row["total"],
        done=row["done"],
        succeeded=row["succeeded"],
        requested_at=iso(row["requested_at"]),
        finished_at=iso_or_none(row["finished_at"]),
    )


async def push_results(db: Db, push_id: str, after: str | None, limit: int) -> list[tuple[str, Document]]:
    """Up to ``limit`` (station id, result) of the push, in station order after ``after``."""
    found = await db.fetch(
        """SELECT station_id, result FROM local_list_push_results
           WHERE push_id = $1 AND ($2::text IS NULL OR station_id > $2) ORDER BY station_id LIMIT $3""",
        push_id,
        after,
        limit,
    )
    return [(r["station_id"], document(r["result"])) for r in found]

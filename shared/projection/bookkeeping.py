"""The projections' own tables: offsets consumed (``projection_offsets``) and shapes their rows were
written with (``projection_shapes``), and forgetting a projection so it rebuilds from offset 0."""

from __future__ import annotations

import hashlib

import asyncpg

from shared.projection.base import Projection

OFFSETS_DDL = """
CREATE TABLE IF NOT EXISTS projection_offsets (
    projection text NOT NULL,
    topic text NOT NULL,
    partition int NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (projection, topic, partition)
)"""


# CREATE TABLE IF NOT EXISTS is not safe against itself: projections starting together may each try
# to create the bookkeeping tables, and all but one fail on pg_type's unique index. One lock
# (this project's own number) serializes that DDL.
_BOOKKEEPING_LOCK = 0x63736D73


async def create_bookkeeping(conn: asyncpg.Connection, ddl: str) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _BOOKKEEPING_LOCK)
        await conn.execute(ddl)


SHAPES_DDL = """
CREATE TABLE IF NOT EXISTS projection_shapes (
    projection text PRIMARY KEY,
    shape text NOT NULL
)"""


def shape_of(projection: Projection) -> str:
    """What a projection's rows depend on besides the log: its DDL and its version."""
    text = "\n".join([str(projection.version), *projection.ddl()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


async def drop_projection(pool: asyncpg.Pool, projection: Projection) -> None:
    """Forget a projection entirely, so the next run rebuilds it from offset 0."""
    async with pool.acquire() as conn, conn.transaction():
        for table in projection.tables():
            await conn.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')
        await create_bookkeeping(conn, OFFSETS_DDL)
        await conn.execute("DELETE FROM projection_offsets WHERE projection = $1", projection.name)

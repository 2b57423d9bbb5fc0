"""PostgreSQL connections for projections and readers, in the configured schema."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class DbTarget:
    url: str
    schema: str = "csms"


async def _no_reset(conn: asyncpg.Connection) -> None:
    return None


async def connect_pool(
    target: DbTarget, *, min_size: int = 1, max_size: int = 4, private: bool = False
) -> asyncpg.Pool:
    """A pool whose connections see ``target.schema`` first (created if missing).

    ``private``: only one component uses it and leaves no session state behind, so the reset asyncpg
    runs on every release (a round trip per batch) is skipped.
    """
    conn = await asyncpg.connect(target.url)
    try:
        # IF NOT EXISTS still races with a concurrent creator; the loser's error means "exists".
        with contextlib.suppress(asyncpg.UniqueViolationError):
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{target.schema}"')
    finally:
        await conn.close()
    pool: asyncpg.Pool = await asyncpg.create_pool(
        target.url,
        min_size=min_size,
        max_size=max_size,
        server_settings={"search_path": target.schema},
        command_timeout=30,
        **({"reset": _no_reset} if private else {}),
    )
    return pool

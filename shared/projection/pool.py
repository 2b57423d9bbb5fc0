"""PostgreSQL connections for projections and readers, in the configured schema."""

from __future__ import annotations

import asyncio
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


class LazyPool:
    """One pool, connected on first use and shared by every caller after that.

    Concurrent first users wait for the same connect: without the lock each made a pool of its own,
    and all but the last one kept were never closed (the unclosed asyncpg connections the test
    runs reported after a background push and at the API's first requests).
    """

    def __init__(self, target: DbTarget) -> None:
        self._target = target
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:  # another caller may have connected while this one waited
                    self._pool = await connect_pool(self._target)
        return self._pool

    async def close(self) -> None:
        async with self._lock:
            pool, self._pool = self._pool, None
            if pool is not None:
                await pool.close()

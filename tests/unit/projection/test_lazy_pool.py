"""LazyPool: concurrent first users share one pool (the cause of the unclosed asyncpg connections
reported after background pushes: each of eight concurrent stations had connected a pool of its own)."""

from __future__ import annotations

import asyncio

import pytest

from shared.projection import pool as pool_module
from shared.projection.pool import DbTarget, LazyPool


class FakePool:
    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


async def test_concurrent_first_users_share_one_pool_and_close_closes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[FakePool] = []

    async def connect(target: DbTarget) -> FakePool:
        await asyncio.sleep(0.01)  # every caller arrives while the first connect is under way
        made.append(FakePool())
        return made[-1]

    monkeypatch.setattr(pool_module, "connect_pool", connect)
    lazy = LazyPool(DbTarget("postgresql://unused"))
    got = await asyncio.gather(*(lazy.get() for _ in range(8)))
    assert len(made) == 1 and all(p is made[0] for p in got)
    await lazy.close()
    assert made[0].closed
    await lazy.close()  # closing twice (or a pool never used) is harmless
    assert await lazy.get() is made[1]  # used again after close: a new pool
    await lazy.close()


async def test_a_failed_connect_is_tried_again_by_the_next_user(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = 0

    async def connect(target: DbTarget) -> FakePool:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise OSError("connection refused")
        return FakePool()

    monkeypatch.setattr(pool_module, "connect_pool", connect)
    lazy = LazyPool(DbTarget("postgresql://unused"))
    with pytest.raises(OSError, match="refused"):
        await lazy.get()
    assert isinstance(await lazy.get(), FakePool) and attempts == 2
    await lazy.close()

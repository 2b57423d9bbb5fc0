"""How an endpoint reaches the running operator API: through ``ApiPort``, what the route modules
use of :class:`~services.api.app.OperatorApi` (which imports them; this module imports no route)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import asyncpg
from aiohttp import web
from aiokafka import AIOKafkaProducer

from services.api.errors import ApiError
from shared.clock import Clock
from shared.commands import CommandClient
from shared.config import Settings
from shared.events.apitokens import ApiTokenRecord
from shared.events.envelope import StationRegistration
from shared.events.idtags import IdTagRecord
from shared.events.security import StationSecurity
from shared.events.sites import SiteRecord
from shared.events.topics import Topics
from shared.tables import CompactedView


class ApiPort(Protocol):
    settings: Settings
    topics: Topics
    clock: Clock  # the one clock (shared/clock.py): stamps and "now" of every decision
    commands: CommandClient
    registry: CompactedView[StationRegistration]
    security: CompactedView[StationSecurity]
    id_tags: CompactedView[IdTagRecord]
    sites: CompactedView[SiteRecord]
    tokens: CompactedView[ApiTokenRecord]
    producer: AIOKafkaProducer
    # audit.AuditTrail (the audit module's endpoint is built on this port)
    audit: Any
    # local_lists.LocalLists (which is built on this port: naming its type here would be a cycle)
    local_lists: Any

    async def pool(self) -> asyncpg.Pool: ...

    async def write(self, view: CompactedView[Any], topic: str, key: str, value: bytes | None) -> None: ...


T = TypeVar("T")

API: web.AppKey[Any] = web.AppKey("api")


def api_of(request: web.Request) -> ApiPort:
    api: ApiPort = request.app[API]
    return api


async def until_row(request: web.Request, sql: str, *args: Any) -> Any:
    """The row once the read model shows a write (read-your-writes for the caller); 504 after 10 s."""
    return await until_visible(request, lambda db: db.fetchrow(sql, *args))


async def until_visible(request: web.Request, read: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    """What ``read`` finds once the read model shows a write (read-your-writes for the caller):
    anything but None or False; 504 after 10 s."""
    pool = await api_of(request).pool()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10):
            while True:
                found = await read(pool)
                if found is not None and found is not False:
                    return found
                await asyncio.sleep(0.05)
    raise ApiError(
        504, "NotYetVisible", "written, but the read model did not show it within 10s; retry the GET"
    )

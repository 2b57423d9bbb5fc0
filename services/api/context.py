"""How an endpoint reaches the running :class:`~services.api.app.OperatorApi`."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from aiohttp import web

from services.api.errors import ApiError

if TYPE_CHECKING:
    from services.api.app import OperatorApi

API: web.AppKey[Any] = web.AppKey("api")


def api_of(request: web.Request) -> OperatorApi:
    api: OperatorApi = request.app[API]
    return api


async def until_row(request: web.Request, sql: str, *args: Any) -> Any:
    """The row once the read model shows a write (read-your-writes for the caller); 504 after 10 s."""
    pool = await api_of(request).pool()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10):
            while True:
                row = await pool.fetchrow(sql, *args)
                if row is not None:
                    return row
                await asyncio.sleep(0.05)
    raise ApiError(
        504, "NotYetVisible", "written, but the read model did not show it within 10s; retry the GET"
    )

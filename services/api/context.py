"""How an endpoint reaches the running :class:`~services.api.app.OperatorApi`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from services.api.app import OperatorApi

API: web.AppKey[Any] = web.AppKey("api")


def api_of(request: web.Request) -> OperatorApi:
    api: OperatorApi = request.app[API]
    return api

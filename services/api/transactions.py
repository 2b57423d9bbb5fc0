"""/api/v1/transactions: the transactions read model, with energy and meter values."""

from __future__ import annotations

import datetime as dt
from typing import cast

from aiohttp import web

from services.api.context import api_of
from services.api.errors import ApiError, ok
from services.api.paging import PAGING, page_of, reject_unknown, split
from services.transactions import queries
from shared.ocpp.v16.constraints import INT32_MAX


async def list_transactions(request: web.Request) -> web.Response:
    """``?stationId=`` and ``?active=true|false`` filter; newest first, paged (ADR 0016)."""
    q = request.query
    reject_unknown(q, ("stationId", "active", *PAGING))
    page = page_of(request, "transactions", (dt.datetime, int))
    if "active" in q and q["active"] not in ("true", "false"):
        raise ApiError(400, "InvalidQuery", "active must be true or false", field="active")
    found = await queries.transactions(
        await api_of(request).pool(),
        station_id=q.get("stationId"),
        active=q["active"] == "true" if "active" in q else None,
        after=cast("queries.TransactionKey | None", page.after),
        limit=page.limit + 1,
    )
    rows, cursor = split(page, found, lambda kv: kv[0])
    return ok({"transactions": [v for _, v in rows], "next": cursor})


async def get_transaction(request: web.Request) -> web.Response:
    raw = request.match_info["transactionId"]
    try:
        transaction_id = int(raw)
    except ValueError as exc:
        raise ApiError(400, "InvalidTransactionId", f"{raw!r} is not an integer") from exc
    if not 0 < transaction_id <= INT32_MAX:
        raise ApiError(404, "UnknownTransaction", f"no transaction {transaction_id}")
    found = await queries.transaction(await api_of(request).pool(), transaction_id)
    if found is None:
        raise ApiError(404, "UnknownTransaction", f"no transaction {transaction_id}")
    return ok(found)

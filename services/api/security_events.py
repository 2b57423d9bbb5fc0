"""/api/v1/security-events: what stations reported with SecurityEventNotification (security
whitepaper 5.15) and what the Central System refused them for (A00.FR.408), newest first,
filterable by station, source and criticality (section 8's table), so an operator can watch the
critical ones of the whole fleet."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from services.api.context import api_of
from services.api.errors import ApiError, ok
from services.api.paging import PAGING, page_of, reject_unknown, split
from services.stations import queries

BOOLEANS = {"true": True, "false": False}
SOURCES = ("station", "csms")


async def list_security_events(request: web.Request) -> web.Response:
    """``?stationId=``, ``?critical=true|false``, ``?source=station|csms``; newest received first,
    paged (ADR 0016)."""
    q = request.query
    reject_unknown(q, ("stationId", "critical", "source", *PAGING))
    if "critical" in q and q["critical"] not in BOOLEANS:
        raise ApiError(400, "InvalidQuery", "critical must be true or false", field="critical")
    if "source" in q and q["source"] not in SOURCES:
        raise ApiError(400, "InvalidQuery", "source must be station or csms", field="source")
    page = page_of(request, "securityEvents", (datetime, str, str, str))
    found = await queries.security_events(
        await api_of(request).pool(),
        station_id=q.get("stationId"),
        critical=BOOLEANS.get(q.get("critical", "")),
        source=q.get("source"),
        after=page.after,
        limit=page.limit + 1,
    )
    rows, cursor = split(page, found, lambda r: r[0])
    return ok({"securityEvents": [view for _, view in rows], "next": cursor})


ROUTES = [web.get("/api/v1/security-events", list_security_events)]

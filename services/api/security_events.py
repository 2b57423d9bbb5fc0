"""/api/v1/security-events: what stations reported with SecurityEventNotification (security
whitepaper 5.15) and what the Central System refused them for (A00.FR.408), newest first,
filterable by station, source and criticality (section 8's table), so an operator can watch the
critical ones of the whole fleet."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from services.api.context import api_of
from services.api.errors import ok
from services.api.paging import PAGING, page_of, reject_unknown, split
from services.api.station_filters import query_bool, query_choice
from services.stations import queries

SOURCES = ("station", "csms")


async def list_security_events(request: web.Request) -> web.Response:
    """``?stationId=``, ``?critical=true|false``, ``?source=station|csms``; newest received first,
    paged (ADR 0016)."""
    q = request.query
    reject_unknown(q, ("stationId", "critical", "source", *PAGING))
    critical = query_bool(q, "critical")
    source = query_choice(q, "source", SOURCES)
    page = page_of(request, "securityEvents", (datetime, str, str, str))
    found = await queries.security_events(
        await api_of(request).pool(),
        station_id=q.get("stationId"),
        critical=critical,
        source=source,
        after=page.after,
        limit=page.limit + 1,
    )
    rows, cursor = split(page, found, lambda r: r[0])
    return ok({"securityEvents": [view for _, view in rows], "next": cursor})


ROUTES = [web.get("/api/v1/security-events", list_security_events)]

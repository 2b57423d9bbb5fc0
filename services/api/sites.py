"""/api/v1/sites: stations sharing one grid connection, and what the allocator gave each car.

A site is a record on ``csms.sites``; stations join it through their registration's ``site``. The
allocation comes from the ``site_allocations`` read model (the allocator's newest round).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from aiohttp import web

from services.api.context import api_of
from services.api.errors import ApiError, ok, read_body
from services.api.paging import PAGING, in_memory, page_of, reject_unknown
from services.smartcharging import queries
from services.smartcharging.queries import site_detail, site_fields
from shared.events.envelope import encode
from shared.events.sites import SiteRecord

MAX_SITE_ID = 64

Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]


class SitePut(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    grid_limit: Positive
    unit: Literal["A", "W"] = "A"
    station_max: Positive = 32.0
    station_limits: dict[str, Positive] = {}
    min_charging_rate: NonNegative = 6.0
    min_interval_seconds: NonNegative = 10.0
    deadband: NonNegative = 0.5
    stack_level: Annotated[int, msgspec.Meta(ge=0)] = 1
    phases: Literal[1, 2, 3] = 3
    voltage: Positive = 230.0


def site_id_of(request: web.Request) -> str:
    site_id = request.match_info["siteId"]
    if not 1 <= len(site_id) <= MAX_SITE_ID or not site_id.isprintable():
        raise ApiError(400, "InvalidSiteId", f"a site id is 1..{MAX_SITE_ID} printable characters")
    return site_id


async def put_site(request: web.Request) -> web.Response:
    api = api_of(request)
    site_id = site_id_of(request)
    body: SitePut = await read_body(request, SitePut)
    if body.min_charging_rate > body.station_max:
        raise ApiError(
            422, "InvalidBody", "minChargingRate cannot exceed stationMax", field="minChargingRate"
        )
    existed = site_id in api.sites
    record = SiteRecord(
        site_id=site_id,
        grid_limit=body.grid_limit,
        unit=body.unit,
        station_max=body.station_max,
        station_limits=body.station_limits,
        min_charging_rate=body.min_charging_rate,
        min_interval_s=body.min_interval_seconds,
        deadband=body.deadband,
        stack_level=body.stack_level,
        phases=body.phases,
        voltage=body.voltage,
    )
    await api.write(api.sites, api.topics.sites, site_id, encode(record))
    return ok(site_fields(record), 200 if existed else 201)


async def list_sites(request: web.Request) -> web.Response:
    """A page of sites in id order (ADR 0016)."""
    reject_unknown(request.query, PAGING)
    sites = api_of(request).sites
    shown, cursor = in_memory(page_of(request, "sites", (str,)), sites.keys())
    return ok({"sites": [site_fields(r) for r in map(sites.get, shown) if r is not None], "next": cursor})


async def get_site(request: web.Request) -> web.Response:
    api = api_of(request)
    site_id = site_id_of(request)
    record = api.sites.get(site_id)
    if record is None:
        raise ApiError(404, "UnknownSite", f"site {site_id!r} is unknown")
    stations = sorted(s for s, reg in api.registry.items() if reg.site == site_id)
    allocation = await queries.allocations(await api.pool(), site_id)
    return ok(site_detail(record, stations, allocation))


async def delete_site(request: web.Request) -> web.Response:
    api = api_of(request)
    site_id = site_id_of(request)
    if site_id not in api.sites:
        raise ApiError(404, "UnknownSite", f"site {site_id!r} is unknown")
    await api.write(api.sites, api.topics.sites, site_id, None)
    return web.Response(status=204)

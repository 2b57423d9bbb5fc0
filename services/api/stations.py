"""/api/v1/stations: the registry (write: ``csms.stations``) and the stations read model."""

from __future__ import annotations

import datetime as dt
import heapq
from typing import Literal, cast

import msgspec
from aiohttp import web

from services.api.context import api_of
from services.api.errors import ApiError, ok, read_body
from services.api.paging import PAGING, page_of, reject_unknown, split, split_keys
from services.api.station_filters import station_query
from services.stations import queries
from services.stations.queries import (
    ConnectorView,
    StationCalls,
    StationConfiguration,
    StationRegistered,
    StationRow,
    StationView,
    registration_view,
    security_view,
    station_view,
)
from shared.events.envelope import StationRegistration, encode
from shared.events.security import PROFILES, StationSecurity
from shared.security import hash_password


class StationPut(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    """Body of ``PUT /api/v1/stations/{stationId}``; replaces the registration as a whole."""

    password: str | None = None
    site: str | None = None
    # What the station's BootNotification is answered with.
    boot_status: Literal["Accepted", "Pending", "Rejected"] = "Accepted"
    # The security profile in force (ADR 0037): 1 Basic over ws, 2 Basic over TLS, 3 client
    # certificate; 0 none. Omitted: the stored one stays (the gateway raises it, never lowers).
    # Setting it is the operator's way to change a profile, lower ones too (A00.FR.005).
    security_profile: int | None = None
    # The serial number the CN of the station's certificate must be (A00.FR.405); omitted: the
    # stored one stays (learnt from the station's first BootNotification otherwise).
    serial_number: str | None = None


MAX_ID = 48  # OCPP-J: the charge point identity in the URL; CiString25 for ids elsewhere, 48 is lenient


def station_id_of(request: web.Request) -> str:
    station_id = request.match_info["stationId"]
    if not station_id or len(station_id) > MAX_ID or not station_id.isprintable():
        raise ApiError(400, "InvalidStationId", f"station id must be 1..{MAX_ID} printable characters")
    return station_id


async def put_station(request: web.Request) -> web.Response:
    api = api_of(request)
    station_id = station_id_of(request)
    body: StationPut = await read_body(request, StationPut)
    if body.password is not None and not 1 <= len(body.password) <= 40:
        raise ApiError(422, "InvalidBody", "password must be 1..40 characters", field="password")
    if body.security_profile is not None and body.security_profile not in PROFILES:
        raise ApiError(422, "InvalidBody", "securityProfile must be 0..3", field="securityProfile")
    if body.serial_number is not None and not 1 <= len(body.serial_number) <= 25:
        # CiString25Type: BootNotification.req's chargePointSerialNumber
        raise ApiError(422, "InvalidBody", "serialNumber must be 1..25 characters", field="serialNumber")
    existed = station_id in api.registry
    reg = StationRegistration(
        station_id=station_id,
        password_hash=hash_password(body.password) if body.password is not None else None,
        site=body.site,
        boot_status=body.boot_status,
        at_ms=api_of(request).clock.now_ms(),
    )
    await api.write(api.registry, api.topics.stations, station_id, encode(reg))
    security = api.security.get(station_id)
    if body.security_profile is not None or body.serial_number is not None:
        current = security or StationSecurity(station_id=station_id)
        security = StationSecurity(
            station_id=station_id,
            profile=body.security_profile if body.security_profile is not None else current.profile,
            # An operator's profile replaces a pending upgrade (it is what the operator decided).
            pending=None if body.security_profile is not None else current.pending,
            serial_number=body.serial_number if body.serial_number is not None else current.serial_number,
            by="operator",
            at_ms=api.clock.now_ms(),
        )
        await api.write(api.security, api.topics.security, station_id, encode(security))
    answer = StationRegistered(
        station_id=station_id, registration=registration_view(reg), security=security_view(security)
    )
    return ok(answer, 200 if existed else 201)


async def delete_station(request: web.Request) -> web.Response:
    api = api_of(request)
    station_id = station_id_of(request)
    if station_id not in api.registry:
        raise ApiError(404, "UnknownStation", f"station {station_id!r} is not registered")
    await api.write(api.registry, api.topics.stations, station_id, None)
    return web.Response(status=204)


def _view(
    request: web.Request, row: StationRow | None, station_id: str, conns: list[ConnectorView]
) -> StationView:
    api = api_of(request)
    return station_view(
        station_id,
        row,
        conns,
        connected=api.commands.where(station_id) is not None,
        registration=api.registry.get(station_id),
        security=api.security.get(station_id),
    )


def in_registries(request: web.Request, station_id: str) -> bool:
    api = api_of(request)
    return station_id in api.registry or api.commands.presence.get(station_id) is not None


async def ensure_known(request: web.Request, station_id: str) -> None:
    """404 for an unknown station, asking the database only when the in-memory registries do not
    know it (commands need no PostgreSQL in the common case)."""
    if not in_registries(request, station_id):
        await known_station(request, station_id)


async def known_station(request: web.Request, station_id: str) -> StationRow | None:
    """The read-model row; 404 when neither the registry, presence nor the log know the station."""
    api = api_of(request)
    row = await queries.station(await api.pool(), station_id)

    def unknown() -> bool:
        return row is None and not in_registries(request, station_id)

    if unknown():  # it may be a moment old: read the registries to the end of the log before saying no
        await api.registry.wait_for_end(timeout=10)
        await api.commands.presence.wait_for_end(timeout=10)
    if unknown():
        raise ApiError(404, "UnknownStation", f"station {station_id!r} is unknown")
    return row


async def get_station(request: web.Request) -> web.Response:
    station_id = station_id_of(request)
    row = await known_station(request, station_id)
    conns = await queries.connectors(await api_of(request).pool(), [station_id])
    return ok(_view(request, row, station_id, conns[station_id]))


async def list_stations(request: web.Request) -> web.Response:
    """A page of stations in station id order, filtered (ADR 0016): one query for the page's rows,
    one for their connectors, whatever the page size and however many stations there are."""
    api = api_of(request)
    query = station_query(request.query)
    page = page_of(request, "stations", (str,))
    after = page.after[0] if page.after else None
    pool = await api.pool()
    rows = await queries.station_page(pool, query, after, page.limit + 1)
    ids = list(rows)
    if query.registry_applies():
        # Registered a moment ago, not yet in the read model: the registry says so (read-your-writes).
        registered = (s for s, reg in api.registry.items() if s not in rows and query.admits(reg))
        ids = sorted(
            {*ids, *heapq.nsmallest(page.limit + 1, (s for s in registered if after is None or s > after))}
        )
    shown, cursor = split_keys(page, ids[: page.limit + 1])
    missing = [s for s in shown if s not in rows]
    if missing:  # rare: the projection lags the registry; one more query, for those only
        rows.update(await queries.stations(pool, missing))
    conns = await queries.connectors(pool, shown)
    return ok({"stations": [_view(request, rows.get(s), s, conns[s]) for s in shown], "next": cursor})


async def get_configuration(request: web.Request) -> web.Response:
    station_id = station_id_of(request)
    await known_station(request, station_id)
    entries = await queries.configuration(await api_of(request).pool(), station_id)
    return ok(StationConfiguration(station_id=station_id, configuration=entries))


async def get_calls(request: web.Request) -> web.Response:
    """The newest CALLs sent to the station and how they ended (``?limit=`` default 50, at most 500;
    ``?cursor=``: older ones, ADR 0016)."""
    station_id = station_id_of(request)
    reject_unknown(request.query, PAGING)
    page = page_of(request, "calls", (dt.datetime, int, str), default=50, maximum=500)
    await known_station(request, station_id)
    after = cast("queries.CallKey | None", page.after)
    found = await queries.calls(await api_of(request).pool(), station_id, after, page.limit + 1)
    rows, cursor = split(page, found, lambda kv: kv[0])
    return ok(StationCalls(station_id=station_id, calls=[v for _, v in rows], next=cursor))

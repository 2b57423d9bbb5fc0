"""/api/v1/stations: the registry (write: ``csms.stations``) and the stations read model."""

from __future__ import annotations

import datetime as dt
import heapq
from typing import Any, Literal

import msgspec
from aiohttp import web

from services.api.context import api_of
from services.api.errors import ApiError, ok, read_body
from services.api.paging import PAGING, page_of, reject_unknown, split, split_keys
from services.api.station_filters import station_query
from shared.clock import now_ms
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


def security_json(sec: StationSecurity | None) -> dict[str, Any]:
    """The profile in force, a pending upgrade and the certificate's serial number (ADR 0037)."""
    if sec is None:
        return {"securityProfile": 0, "pendingSecurityProfile": None, "serialNumber": None}
    return {
        "securityProfile": sec.profile,
        "pendingSecurityProfile": sec.pending,
        "serialNumber": sec.serial_number,
    }


def registration_json(reg: StationRegistration | None) -> dict[str, Any] | None:
    if reg is None:
        return None
    return {
        "site": reg.site,
        "passwordSet": reg.password_hash is not None,
        "bootStatus": reg.boot_status,
        "autoRegistered": reg.auto,
    }


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
        at_ms=now_ms(),
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
            at_ms=now_ms(),
        )
        await api.write(api.security, api.topics.security, station_id, encode(security))
    body_json = {
        "stationId": station_id,
        "registration": registration_json(reg),
        "security": security_json(security),
    }
    return ok(body_json, 200 if existed else 201)


async def delete_station(request: web.Request) -> web.Response:
    api = api_of(request)
    station_id = station_id_of(request)
    if station_id not in api.registry:
        raise ApiError(404, "UnknownStation", f"station {station_id!r} is not registered")
    await api.write(api.registry, api.topics.stations, station_id, None)
    return web.Response(status=204)


STATION_SQL = """SELECT station_id, boot, boot_status, boot_at, last_seen, site FROM stations"""

CONNECTORS_SQL = """SELECT c.station_id, c.connector_id, c.status, c.error_code, c.info, c.vendor_id,
       c.vendor_error_code, c.status_at, coalesce(a.availability, 'Operative') AS availability
FROM connectors c LEFT JOIN connector_availability a USING (station_id, connector_id)
WHERE c.station_id = ANY($1::text[]) ORDER BY c.station_id, c.connector_id"""


async def _connectors(request: web.Request, station_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The connectors of many stations in one query (a list page must not query per station)."""
    by_station: dict[str, list[dict[str, Any]]] = {s: [] for s in station_ids}
    if not station_ids:
        return by_station
    pool = await api_of(request).pool()
    for c in await pool.fetch(CONNECTORS_SQL, station_ids):
        by_station[c["station_id"]].append(
            {
                "connectorId": c["connector_id"],
                "status": c["status"],
                "errorCode": c["error_code"],
                "info": c["info"],
                "vendorId": c["vendor_id"],
                "vendorErrorCode": c["vendor_error_code"],
                "statusAt": c["status_at"].isoformat(),
                "availability": c["availability"],
            }
        )
    return by_station


def _view(
    request: web.Request, row: Any, station_id: str, connectors: list[dict[str, Any]]
) -> dict[str, Any]:
    api = api_of(request)
    return {
        "stationId": station_id,
        "connected": api.commands.where(station_id) is not None,
        "boot": msgspec.json.decode(row["boot"]) if row is not None and row["boot"] else None,
        "bootStatus": row["boot_status"] if row is not None else None,
        "lastSeen": row["last_seen"].isoformat() if row is not None and row["last_seen"] else None,
        "registration": registration_json(api.registry.get(station_id)),
        "security": security_json(api.security.get(station_id)),
        "connectors": connectors,
    }


def in_registries(request: web.Request, station_id: str) -> bool:
    api = api_of(request)
    return station_id in api.registry or api.commands.presence.get(station_id) is not None


async def ensure_known(request: web.Request, station_id: str) -> None:
    """404 for an unknown station, asking the database only when the in-memory registries do not
    know it (commands need no PostgreSQL in the common case)."""
    if not in_registries(request, station_id):
        await known_station(request, station_id)


async def known_station(request: web.Request, station_id: str) -> Any:
    """The read-model row; 404 when neither the registry, presence nor the log know the station."""
    api = api_of(request)
    pool = await api.pool()
    row = await pool.fetchrow(STATION_SQL + " WHERE station_id = $1", station_id)

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
    connectors = await _connectors(request, [station_id])
    return ok(_view(request, row, station_id, connectors[station_id]))


async def list_stations(request: web.Request) -> web.Response:
    """A page of stations in station id order, filtered (ADR 0016): one query for the page's rows,
    one for their connectors, whatever the page size and however many stations there are."""
    api = api_of(request)
    query = station_query(request.query)
    page = page_of(request, "stations", (str,))
    sql, args = query.sql(page.after[0] if page.after else None, page.limit + 1)
    pool = await api.pool()
    rows = {r["station_id"]: r for r in await pool.fetch(sql, *args)}
    ids = list(rows)
    if query.registry_applies():
        # Registered a moment ago, not yet in the read model: the registry says so (read-your-writes).
        registered = (s for s, reg in api.registry.items() if s not in rows and query.admits(reg))
        after = page.after[0] if page.after else None
        ids = sorted(
            {*ids, *heapq.nsmallest(page.limit + 1, (s for s in registered if after is None or s > after))}
        )
    shown, cursor = split_keys(page, ids[: page.limit + 1])
    missing = [s for s in shown if s not in rows]
    if missing:  # rare: the projection lags the registry; one more query, for those only
        rows.update(
            {
                r["station_id"]: r
                for r in await pool.fetch(STATION_SQL + " WHERE station_id = ANY($1::text[])", missing)
            }
        )
    connectors = await _connectors(request, shown)
    return ok({"stations": [_view(request, rows.get(s), s, connectors[s]) for s in shown], "next": cursor})


async def get_configuration(request: web.Request) -> web.Response:
    station_id = station_id_of(request)
    await known_station(request, station_id)
    pool = await api_of(request).pool()
    rows = await pool.fetch(
        "SELECT key, value, readonly, updated_at FROM station_configuration WHERE station_id = $1 ORDER BY key",
        station_id,
    )
    return ok(
        {
            "stationId": station_id,
            "configuration": [
                {
                    "key": r["key"],
                    "value": r["value"],
                    "readonly": r["readonly"],
                    "updatedAt": r["updated_at"].isoformat(),
                }
                for r in rows
            ],
        }
    )


async def get_calls(request: web.Request) -> web.Response:
    """The newest CALLs sent to the station and how they ended (``?limit=`` default 50, at most 500;
    ``?cursor=``: older ones, ADR 0016)."""
    station_id = station_id_of(request)
    reject_unknown(request.query, PAGING)
    page = page_of(request, "calls", (dt.datetime, int, str), default=50, maximum=500)
    await known_station(request, station_id)
    pool = await api_of(request).pool()
    older = "AND (sent_at, epoch, unique_id) < ($3, $4, $5)" if page.after else ""
    found = await pool.fetch(
        f"""SELECT unique_id, epoch, action, command_id, request, sent_at, outcome, response, error_code,
                  error_description, answered_at
           FROM station_calls WHERE station_id = $1 {older}
           ORDER BY sent_at DESC, epoch DESC, unique_id DESC LIMIT $2""",
        station_id,
        page.limit + 1,
        *(page.after or ()),
    )
    rows, cursor = split(page, found, lambda r: (r["sent_at"], r["epoch"], r["unique_id"]))
    return ok(
        {
            "stationId": station_id,
            "calls": [
                {
                    "uniqueId": r["unique_id"],
                    "action": r["action"],
                    "commandId": r["command_id"],
                    "request": msgspec.json.decode(r["request"]),
                    "sentAt": r["sent_at"].isoformat(),
                    "outcome": r["outcome"],
                    "response": msgspec.json.decode(r["response"]) if r["response"] else None,
                    "errorCode": r["error_code"],
                    "errorDescription": r["error_description"],
                    "answeredAt": r["answered_at"].isoformat() if r["answered_at"] else None,
                }
                for r in rows
            ],
            "next": cursor,
        }
    )

"""Reads of the stations read models (``stations``, ``connectors``, ``connector_availability``,
``station_calls``, ``station_configuration``) as typed views (ADR 0032).

The operator API encodes these views as its responses and describes them in /openapi.json from the
same types. What only the API process knows (live presence, the registry) is passed in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from shared.events.envelope import StationRegistration
from shared.events.security import StationSecurity
from shared.views import Db, Document, Timestamp, document_or_none, iso, iso_or_none


class RegistrationView(msgspec.Struct, rename="camel", kw_only=True):
    site: str | None
    password_set: bool
    boot_status: str
    auto_registered: bool


def registration_view(reg: StationRegistration | None) -> RegistrationView | None:
    if reg is None:
        return None
    return RegistrationView(
        site=reg.site,
        password_set=reg.password_hash is not None,
        boot_status=reg.boot_status,
        auto_registered=reg.auto,
    )


class SecurityView(msgspec.Struct, rename="camel", kw_only=True):
    """The station's security profile in force, a pending upgrade, and the serial number its
    profile-3 certificate must name (ADR 0037)."""

    security_profile: int
    pending_security_profile: int | None
    serial_number: str | None


def security_view(sec: StationSecurity | None) -> SecurityView:
    if sec is None:
        return SecurityView(security_profile=0, pending_security_profile=None, serial_number=None)
    return SecurityView(
        security_profile=sec.profile, pending_security_profile=sec.pending, serial_number=sec.serial_number
    )


class StationRegistered(msgspec.Struct, rename="camel", kw_only=True):
    """Answer of ``PUT /api/v1/stations/{stationId}``."""

    station_id: str
    registration: RegistrationView | None
    security: SecurityView


class ConnectorView(msgspec.Struct, rename="camel", kw_only=True):
    connector_id: int
    status: str
    error_code: str
    info: str | None
    vendor_id: str | None
    vendor_error_code: str | None
    status_at: Timestamp
    availability: str


class StationRow(msgspec.Struct, kw_only=True):
    """What the read model knows of a station (its last boot and when it was last seen)."""

    boot: Document | None
    boot_status: str | None
    last_seen: str | None


class StationView(msgspec.Struct, rename="camel", kw_only=True):
    station_id: str
    connected: bool
    boot: Document | None
    boot_status: str | None
    last_seen: Timestamp | None
    registration: RegistrationView | None
    security: SecurityView
    connectors: list[ConnectorView]


def station_view(
    station_id: str,
    row: StationRow | None,
    connectors: list[ConnectorView],
    *,
    connected: bool,
    registration: StationRegistration | None,
    security: StationSecurity | None,
) -> StationView:
    return StationView(
        station_id=station_id,
        connected=connected,
        boot=row.boot if row is not None else None,
        boot_status=row.boot_status if row is not None else None,
        last_seen=row.last_seen if row is not None else None,
        registration=registration_view(registration),
        security=security_view(security),
        connectors=connectors,
    )


class ConfigurationEntry(msgspec.Struct, rename="camel", kw_only=True):
    key: str
    value: str | None
    readonly: bool | None
    updated_at: Timestamp


class StationConfiguration(msgspec.Struct, rename="camel", kw_only=True):
    station_id: str
    configuration: list[ConfigurationEntry]


class CallView(msgspec.Struct, rename="camel", kw_only=True):
    unique_id: str
    action: str
    command_id: str | None
    request: Document
    sent_at: Timestamp
    outcome: str | None
    response: Document | None
    error_code: str | None
    error_description: str | None
    answered_at: Timestamp | None


class StationCalls(msgspec.Struct, rename="camel", kw_only=True):
    station_id: str
    calls: list[CallView]
    next: str | None


# The keyset of the calls list, newest first: (sent_at, epoch, unique_id).
CallKey = tuple[dt.datetime, int, str]

STATION_SQL = """SELECT station_id, boot, boot_status, boot_at, last_seen, site FROM stations"""

CONNECTORS_SQL = """SELECT c.station_id, c.connector_id, c.status, c.error_code, c.info, c.vendor_id,
       c.vendor_error_code, c.status_at, coalesce(a.availability, 'Operative') AS availability
FROM connectors c LEFT JOIN connector_availability a USING (station_id, connector_id)
WHERE c.station_id = ANY($1::text[]) ORDER BY c.station_id, c.connector_id"""


def _station_row(r: Any) -> StationRow:
    return StationRow(
        boot=document_or_none(r["boot"]), boot_status=r["boot_status"], last_seen=iso_or_none(r["last_seen"])
    )


@dataclass(frozen=True)
class StationFilter:
    """The filters of the stations list (ADR 0016), validated by the API; builds one SQL query."""

    connected: bool | None = None
    boot_status: str | None = None
    site: str | None = None
    boot: dict[str, str] = field(default_factory=dict)  # BootNotification field -> value
    connector_status: str | None = None

    def registry_applies(self) -> bool:
        """Whether a registration alone (no read-model row yet) can match: only the site is in it."""
        return (
            self.connected is None
            and self.boot_status is None
            and not self.boot
            and not self.connector_status
        )

    def admits(self, reg: StationRegistration) -> bool:
        return self.site is None or reg.site == self.site

    def sql(self, after: str | None, limit: int) -> tuple[str, list[Any]]:
        """The page's query: keyset on the primary key, every filter as a bound parameter."""
        where: list[str] = []
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if after is not None:
            where.append(f"s.station_id > {arg(after)}")
        if self.connected is not None:
            where.append(f"s.connected = {arg(self.connected)}")
        if self.boot_status is not None:
            where.append(f"s.boot_status = {arg(self.boot_status)}")
        if self.site is not None:
            where.append(f"s.site = {arg(self.site)}")
        for wire, value in sorted(self.boot.items()):
            where.append(f"s.boot ->> '{wire}' = {arg(value)}")
        if self.connector_status is not None:
            where.append(
                "EXISTS (SELECT 1 FROM connectors c WHERE c.station_id = s.station_id"
                f" AND c.status = {arg(self.connector_status)})"
            )
        sql = "SELECT s.station_id, s.boot, s.boot_status, s.boot_at, s.last_seen, s.site FROM stations s"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY s.station_id LIMIT {arg(limit)}"
        return sql, args


async def station(db: Db, station_id: str) -> StationRow | None:
    row = await db.fetchrow(STATION_SQL + " WHERE station_id = $1", station_id)
    return _station_row(row) if row is not None else None


async def stations(db: Db, station_ids: Sequence[str]) -> dict[str, StationRow]:
    rows = await db.fetch(STATION_SQL + " WHERE station_id = ANY($1::text[])", list(station_ids))
    return {r["station_id"]: _station_row(r) for r in rows}


async def station_page(db: Db, where: StationFilter, after: str | None, limit: int) -> dict[str, StationRow]:
    """Up to ``limit`` stations after ``after`` matching ``where``, in station id order."""
    sql, args = where.sql(after, limit)
    return {r["station_id"]: _station_row(r) for r in await db.fetch(sql, *args)}


async def connectors(db: Db, station_ids: Iterable[str]) -> dict[str, list[ConnectorView]]:
    """The connectors of many stations in one query (a list page must not query per station)."""
    by_station: dict[str, list[ConnectorView]] = {s: [] for s in station_ids}
    if not by_station:
        return by_station
    for c in await db.fetch(CONNECTORS_SQL, list(by_station)):
        by_station[c["station_id"]].append(
            ConnectorView(
                connector_id=c["connector_id"],
                status=c["status"],
                error_code=c["error_code"],
                info=c["info"],
                vendor_id=c["vendor_id"],
                vendor_error_code=c["vendor_error_code"],
                status_at=iso(c["status_at"]),
                availability=c["availability"],
            )
        )
    return by_station


async def configuration(db: Db, station_id: str) -> list[ConfigurationEntry]:
    rows = await db.fetch(
        "SELECT key, value, readonly, updated_at FROM station_configuration WHERE station_id = $1 ORDER BY key",
        station_id,
    )
    return [
        ConfigurationEntry(
            key=r["key"], value=r["value"], readonly=r["readonly"], updated_at=iso(r["updated_at"])
        )
        for r in rows
    ]


async def configuration_values(db: Db, station_id: str, keys: Sequence[str]) -> dict[str, str | None]:
    """The reported values of some configuration keys (a key the station never reported is absent)."""
    rows = await db.fetch(
        "SELECT key, value FROM station_configuration WHERE station_id = $1 AND key = ANY($2::text[])",
        station_id,
        list(keys),
    )
    return {r["key"]: r["value"] for r in rows}


async def calls(db: Db, station_id: str, after: CallKey | None, limit: int) -> list[tuple[CallKey, CallView]]:
    """Up to ``limit`` CALLs sent to the station, newest first, after the key ``after``."""
    older = "AND (sent_at, epoch, unique_id) < ($3, $4, $5)" if after else ""
    found = await db.fetch(
        f"""SELECT unique_id, epoch, action, command_id, request, sent_at, outcome, response, error_code,
                  error_description, answered_at
           FROM station_calls WHERE station_id = $1 {older}
           ORDER BY sent_at DESC, epoch DESC, unique_id DESC LIMIT $2""",
        station_id,
        limit,
        *(after or ()),
    )
    return [
        (
            (r["sent_at"], r["epoch"], r["unique_id"]),
            CallView(
                unique_id=r["unique_id"],
                action=r["action"],
                command_id=r["command_id"],
                request=msgspec.json.decode(r["request"]),
                sent_at=iso(r["sent_at"]),
                outcome=r["outcome"],
                response=document_or_none(r["response"]),
                error_code=r["error_code"],
                error_description=r["error_description"],
                answered_at=iso_or_none(r["answered_at"]),
            ),
        )
        for r in found
    ]


# -- security events (SecurityEventNotification, security_projection.py) --------------------------------

SecurityEventKey = tuple[dt.datetime, str, str, str]  # received_at, station, connection, unique id


class SecurityEventView(msgspec.Struct, rename="camel", kw_only=True):
    """One SecurityEventNotification a station sent (security whitepaper 5.15, section 8)."""

    station_id: str
    # "station": a SecurityEventNotification; "csms": the Central System refused the station for
    # security (ADR 0037: an invalid certificate, a lower security profile, ...).
    source: str
    type: str
    # Critical per the whitepaper's table of security events (pushed by the station at once).
    critical: bool
    occurred_at: Timestamp  # the station's timestamp of the event
    tech_info: str | None
    received_at: Timestamp


async def security_events(
    db: Db,
    *,
    station_id: str | None,
    critical: bool | None,
    after: SecurityEventKey | None,
    source: str | None = None,
    limit: int,
) -> list[tuple[SecurityEventKey, SecurityEventView]]:
    """Up to ``limit`` security events, newest received first, after the key ``after``."""
    where: list[str] = []
    args: list[object] = []
    if station_id is not None:
        args.append(station_id)
        where.append(f"station_id = ${len(args)}")
    if critical is not None:
        args.append(critical)
        where.append(f"critical = ${len(args)}")
    if source is not None:
        args.append(source)
        where.append(f"source = ${len(args)}")
    if after is not None:
        args.extend(after)
        n = len(args)
        where.append(
            f"(received_at, station_id, connection_id, unique_id) < (${n - 3}, ${n - 2}, ${n - 1}, ${n})"
        )
    args.append(limit)
    sql = "SELECT * FROM station_security_events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += (
        f" ORDER BY received_at DESC, station_id DESC, connection_id DESC, unique_id DESC LIMIT ${len(args)}"
    )
    return [
        (
            (r["received_at"], r["station_id"], r["connection_id"], r["unique_id"]),
            SecurityEventView(
                station_id=r["station_id"],
                source=r["source"],
                type=r["type"],
                critical=r["critical"],
                occurred_at=iso(r["occurred_at"]),
                tech_info=r["tech_info"],
                received_at=iso(r["received_at"]),
            ),
        )
        for r in await db.fetch(sql, *args)
    ]

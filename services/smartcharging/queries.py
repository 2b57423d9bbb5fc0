"""Reads of the smart charging read models (``charging_profiles``, ``charging_profile_outcomes``,
``sc_running``, ``site_allocations``) and of the sites the API holds, as typed views (ADR 0032)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import asyncpg
import msgspec

from shared.events.sites import SiteRecord
from shared.ocpp.v16.messages import ChargingProfile
from shared.smartcharging.composite import InstalledProfile, Period
from shared.views import Db, Document, Timestamp, document, iso


class SiteView(msgspec.Struct, rename="camel", kw_only=True):
    site_id: str
    grid_limit: float
    unit: Literal["A", "W"]
    station_max: float
    station_limits: dict[str, float]
    min_charging_rate: float
    min_interval_seconds: float
    deadband: float
    stack_level: int
    phases: int
    voltage: float


def site_fields(record: SiteRecord) -> SiteView:
    return SiteView(
        site_id=record.site_id,
        grid_limit=record.grid_limit,
        unit=record.unit,
        station_max=record.station_max,
        station_limits=record.station_limits,
        min_charging_rate=record.min_charging_rate,
        min_interval_seconds=record.min_interval_s,
        deadband=record.deadband,
        stack_level=record.stack_level,
        phases=record.phases,
        voltage=record.voltage,
    )


class AllocationView(msgspec.Struct, rename="camel", kw_only=True):
    """What the allocator's newest round gave one charging session."""

    station_id: str
    connector_id: int
    transaction_id: int
    target: float | None
    limit: float | None
    unit: str
    status: str
    reason: str | None
    drawing: float | None
    decided_at: Timestamp


class SiteDetail(SiteView, kw_only=True):
    """A site, its registered stations and the allocator's newest allocation."""

    stations: list[str]
    allocation: list[AllocationView]
    limits_in_force: float


def site_detail(record: SiteRecord, stations: list[str], allocation: list[AllocationView]) -> SiteDetail:
    return SiteDetail(
        **msgspec.structs.asdict(site_fields(record)),
        stations=stations,
        allocation=allocation,
        limits_in_force=sum(a.limit or 0.0 for a in allocation),
    )


async def allocations(db: Db, site_id: str) -> list[AllocationView]:
    try:
        rows = await db.fetch(
            """SELECT station_id, connector_id, transaction_id, target, limit_in_force, unit, status, reason,
                  drawing, decided_at
           FROM site_allocations WHERE site_id = $1 ORDER BY station_id, connector_id""",
            site_id,
        )
    except asyncpg.UndefinedTableError:
        return []  # the allocations read model has not started yet
    return [
        AllocationView(
            station_id=r["station_id"],
            connector_id=r["connector_id"],
            transaction_id=r["transaction_id"],
            target=r["target"],
            limit=r["limit_in_force"],
            unit=r["unit"],
            status=r["status"],
            reason=r["reason"],
            drawing=r["drawing"],
            decided_at=iso(r["decided_at"]),
        )
        for r in rows
    ]


class ProfileView(msgspec.Struct, rename="camel", kw_only=True):
    connector_id: int
    transaction_id: int | None
    installed_at: Timestamp
    cs_charging_profiles: Document


class ProfileOutcomeView(msgspec.Struct, rename="camel", kw_only=True):
    action: str
    connector_id: int | None
    charging_profile_id: int | None
    status: str
    at: Timestamp


class StationProfiles(msgspec.Struct, rename="camel", kw_only=True):
    station_id: str
    profiles: list[ProfileView]
    outcomes: list[ProfileOutcomeView]


async def station_profiles(db: Db, station_id: str) -> StationProfiles:
    """The profiles the station accepted and the 50 newest Set/Clear outcomes."""
    rows = await db.fetch(
        """SELECT connector_id, transaction_id, profile, installed_at FROM charging_profiles
           WHERE station_id = $1 ORDER BY connector_id, stack_level, charging_profile_id""",
        station_id,
    )
    outcomes = await db.fetch(
        """SELECT action, connector_id, charging_profile_id, status, at FROM charging_profile_outcomes
           WHERE station_id = $1 ORDER BY at DESC LIMIT 50""",
        station_id,
    )
    return StationProfiles(
        station_id=station_id,
        profiles=[
            ProfileView(
                connector_id=r["connector_id"],
                transaction_id=r["transaction_id"],
                installed_at=iso(r["installed_at"]),
                cs_charging_profiles=document(r["profile"]),
            )
            for r in rows
        ],
        outcomes=[
            ProfileOutcomeView(
                action=o["action"],
                connector_id=o["connector_id"],
                charging_profile_id=o["charging_profile_id"],
                status=o["status"],
                at=iso(o["at"]),
            )
            for o in outcomes
        ],
    )


async def installed_profiles(db: Db, station_id: str, connector_id: int) -> list[InstalledProfile]:
    """The profiles that bear on one connector (its own and the station's, connector 0), oldest first."""
    rows = await db.fetch(
        """SELECT connector_id, transaction_id, profile FROM charging_profiles
           WHERE station_id = $1 AND (connector_id = $2 OR connector_id = 0) ORDER BY installed_at""",
        station_id,
        connector_id,
    )
    return [
        InstalledProfile(
            connector_id=r["connector_id"],
            profile=msgspec.json.decode(r["profile"], type=ChargingProfile),
            transaction_id=r["transaction_id"],
        )
        for r in rows
    ]


class Running(msgspec.Struct, frozen=True):
    transaction_id: int
    started_at: dt.datetime


async def running(db: Db, station_id: str, connector_id: int) -> Running | None:
    """The transaction running on the connector, as smart charging knows it."""
    row = await db.fetchrow(
        "SELECT transaction_id, started_at FROM sc_running WHERE station_id = $1 AND connector_id = $2",
        station_id,
        connector_id,
    )
    return Running(row["transaction_id"], row["started_at"]) if row is not None else None


class PeriodView(msgspec.Struct, rename="camel", kw_only=True):
    start_period: int
    end_period: int
    limit: float
    number_phases: int | msgspec.UnsetType = msgspec.UNSET


class CompositeScheduleView(msgspec.Struct, rename="camel", kw_only=True):
    """Periods carry ``startPeriod`` and ``endPeriod`` (seconds from ``scheduleStart``): an interval
    with no profile in force has no period, which OCPP's own format cannot say."""

    station_id: str
    connector_id: int
    schedule_start: Timestamp
    duration: int
    charging_rate_unit: Literal["A", "W"]
    charging_schedule_period: list[PeriodView]


def period_view(p: Period) -> PeriodView:
    return PeriodView(
        start_period=p.start_offset,
        end_period=p.end_offset,
        limit=round(p.limit, 1),
        **({"number_phases": p.number_phases} if p.number_phases is not None else {}),
    )

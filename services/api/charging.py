"""Smart charging in the operator API: profile checks before sending, installed profiles, and the
composite schedule the system computes itself (services/smartcharging)."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from services.api.context import api_of
from services.api.errors import ApiError, ok, query_int
from services.api.stations import known_station, station_id_of
from shared.clock import utc_now
from shared.ocpp.v16.messages import ChargingProfile, RemoteStartTransactionRequest, SetChargingProfileRequest
from shared.smartcharging.composite import InstalledProfile, composite_schedule
from shared.smartcharging.validation import Facts, Violation, allowed_units, check_profile

MAX_DURATION = 7 * 86400


async def facts(request: web.Request, station_id: str, connector_id: int) -> Facts:
    pool = await api_of(request).pool()
    config = {
        r["key"]: r["value"]
        for r in await pool.fetch(
            """SELECT key, value FROM station_configuration WHERE station_id = $1
               AND key IN ('ChargeProfileMaxStackLevel', 'ChargingScheduleAllowedChargingRateUnit')""",
            station_id,
        )
    }
    running = await pool.fetchval(
        "SELECT transaction_id FROM sc_running WHERE station_id = $1 AND connector_id = $2",
        station_id,
        connector_id,
    )
    level = config.get("ChargeProfileMaxStackLevel")
    return Facts(
        max_stack_level=int(level) if level is not None and level.isdigit() else None,
        allowed_units=allowed_units(config.get("ChargingScheduleAllowedChargingRateUnit")),
        running_transaction=running,
    )


async def check_command(request: web.Request, station_id: str, action: str, decoded: Any) -> None:
    """422 with the reasons when a profile-carrying command breaks the spec's rules."""
    if isinstance(decoded, SetChargingProfileRequest):
        connector_id, profile = decoded.connector_id, decoded.cs_charging_profiles
        found = check_profile(connector_id, profile, await facts(request, station_id, connector_id))
    elif isinstance(decoded, RemoteStartTransactionRequest) and isinstance(
        decoded.charging_profile, ChargingProfile
    ):
        profile = decoded.charging_profile
        found = []
        if profile.charging_profile_purpose != "TxProfile":
            found.append(
                Violation(
                    "chargingProfile.chargingProfilePurpose",
                    "RemoteStartTransaction carries a TxProfile only",
                )
            )
        if isinstance(profile.transaction_id, int):
            found.append(
                Violation(
                    "chargingProfile.transactionId",
                    "the transaction does not exist yet: leave transactionId out",
                )
            )
    else:
        return
    if found:
        raise ApiError(
            422,
            "InvalidChargingProfile",
            "; ".join(v.reason for v in found),
            field=found[0].field,
            violations=[{"field": v.field, "reason": v.reason} for v in found],
        )


async def get_profiles(request: web.Request) -> web.Response:
    station_id = station_id_of(request)
    await known_station(request, station_id)
    pool = await api_of(request).pool()
    rows = await pool.fetch(
        """SELECT connector_id, transaction_id, profile, installed_at FROM charging_profiles
           WHERE station_id = $1 ORDER BY connector_id, stack_level, charging_profile_id""",
        station_id,
    )
    outcomes = await pool.fetch(
        """SELECT action, connector_id, charging_profile_id, status, at FROM charging_profile_outcomes
           WHERE station_id = $1 ORDER BY at DESC LIMIT 50""",
        station_id,
    )
    return ok(
        {
            "stationId": station_id,
            "profiles": [
                {
                    "connectorId": r["connector_id"],
                    "transactionId": r["transaction_id"],
                    "installedAt": r["installed_at"].isoformat(),
                    "csChargingProfiles": msgspec.json.decode(r["profile"]),
                }
                for r in rows
            ],
            "outcomes": [
                {
                    "action": o["action"],
                    "connectorId": o["connector_id"],
                    "chargingProfileId": o["charging_profile_id"],
                    "status": o["status"],
                    "at": o["at"].isoformat(),
                }
                for o in outcomes
            ],
        }
    )


async def get_composite(request: web.Request) -> web.Response:
    """The schedule the system expects the station to follow, computed from the installed profiles.

    Periods carry ``startPeriod`` and ``endPeriod`` (seconds from ``scheduleStart``): an interval with no
    profile in force has no period, which OCPP's own format cannot say.
    """
    station_id = station_id_of(request)
    await known_station(request, station_id)
    connector_id = query_int(request, "connectorId")
    duration = query_int(request, "duration", 86400)
    unit = request.query.get("chargingRateUnit", "A")
    if unit not in ("A", "W"):
        raise ApiError(400, "InvalidQuery", "chargingRateUnit must be A or W")
    if not 0 < duration <= MAX_DURATION or connector_id < 0:
        raise ApiError(400, "InvalidQuery", f"duration must be 1..{MAX_DURATION} s and connectorId >= 0")
    pool = await api_of(request).pool()
    rows = await pool.fetch(
        """SELECT connector_id, transaction_id, profile FROM charging_profiles
           WHERE station_id = $1 AND (connector_id = $2 OR connector_id = 0) ORDER BY installed_at""",
        station_id,
        connector_id,
    )
    running = await pool.fetchrow(
        "SELECT transaction_id, started_at FROM sc_running WHERE station_id = $1 AND connector_id = $2",
        station_id,
        connector_id,
    )
    profiles = [
        InstalledProfile(
            connector_id=r["connector_id"],
            profile=msgspec.json.decode(r["profile"], type=ChargingProfile),
            transaction_id=r["transaction_id"],
        )
        for r in rows
    ]
    start = utc_now().replace(microsecond=0)
    periods = composite_schedule(
        profiles,
        connector_id=connector_id,
        start=start,
        duration=duration,
        unit=unit,  # type: ignore[arg-type]
        transaction_id=running["transaction_id"] if running else None,
        transaction_start=running["started_at"] if running else None,
    )
    return ok(
        {
            "stationId": station_id,
            "connectorId": connector_id,
            "scheduleStart": start.isoformat(),
            "duration": duration,
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [
                {
                    "startPeriod": p.start_offset,
                    "endPeriod": p.end_offset,
                    "limit": round(p.limit, 1),
                    **({"numberPhases": p.number_phases} if p.number_phases is not None else {}),
                }
                for p in periods
            ],
        }
    )

"""Smart charging in the operator API: profile checks before sending, installed profiles, and the
composite schedule the system computes itself (services/smartcharging)."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web

from services.api.context import api_of
from services.api.errors import ApiError, ok, query_int
from services.api.stations import known_station, station_id_of
from services.smartcharging import queries
from services.smartcharging.queries import CompositeScheduleView, period_view
from services.stations import queries as station_queries
from shared.ocpp.v16.messages import ChargingProfile, RemoteStartTransactionRequest, SetChargingProfileRequest
from shared.smartcharging.composite import composite_schedule
from shared.smartcharging.validation import Facts, Violation, allowed_units, check_profile

MAX_DURATION = 7 * 86400


FACT_KEYS = ("ChargeProfileMaxStackLevel", "ChargingScheduleAllowedChargingRateUnit")


async def facts(request: web.Request, station_id: str, connector_id: int) -> Facts:
    pool = await api_of(request).pool()
    config = await station_queries.configuration_values(pool, station_id, FACT_KEYS)
    running = await queries.running(pool, station_id, connector_id)
    level = config.get("ChargeProfileMaxStackLevel")
    return Facts(
        max_stack_level=int(level) if level is not None and level.isdigit() else None,
        allowed_units=allowed_units(config.get("ChargingScheduleAllowedChargingRateUnit")),
        running_transaction=running.transaction_id if running is not None else None,
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
    return ok(await queries.station_profiles(await api_of(request).pool(), station_id))


async def get_composite(request: web.Request) -> web.Response:
    """The schedule the system expects the station to follow, computed from the installed profiles
    (:class:`~services.smartcharging.queries.CompositeScheduleView`)."""
    station_id = station_id_of(request)
    await known_station(request, station_id)
    connector_id = query_int(request, "connectorId")
    duration = query_int(request, "duration", 86400)
    raw_unit = request.query.get("chargingRateUnit", "A")
    if raw_unit not in ("A", "W"):
        raise ApiError(400, "InvalidQuery", "chargingRateUnit must be A or W")
    unit: Literal["A", "W"] = "A" if raw_unit == "A" else "W"
    if not 0 < duration <= MAX_DURATION or connector_id < 0:
        raise ApiError(400, "InvalidQuery", f"duration must be 1..{MAX_DURATION} s and connectorId >= 0")
    pool = await api_of(request).pool()
    profiles = await queries.installed_profiles(pool, station_id, connector_id)
    running = await queries.running(pool, station_id, connector_id)
    start = api_of(request).clock.now().replace(microsecond=0)
    periods = composite_schedule(
        profiles,
        connector_id=connector_id,
        start=start,
        duration=duration,
        unit=unit,
        transaction_id=running.transaction_id if running else None,
        transaction_start=running.started_at if running else None,
    )
    return ok(
        CompositeScheduleView(
            station_id=station_id,
            connector_id=connector_id,
            schedule_start=start.isoformat(),
            duration=duration,
            charging_rate_unit=unit,
            charging_schedule_period=[period_view(p) for p in periods],
        )
    )

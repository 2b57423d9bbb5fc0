"""The bodies and query parameters of the firmware endpoints' writes, and their checks: pure, so
a unit test covers every refusal without a server (the lifecycle rules are ``firmware.guards``)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

import msgspec

from services.api.errors import ApiError
from services.firmware import guards
from services.firmware.events import Policy
from services.firmware.storage import safe_name

# Image, campaign and diagnostics ids are uuid4 hex: anything else is unknown without a query.
ID = re.compile(r"^[0-9a-f]{32}$")


class PolicyBody(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    batch_size: int = 10
    max_in_flight: int = 10
    failure_threshold: float = 0.2
    offline_wait_seconds: float = 3600.0


class TargetFilter(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    vendor: str | None = None
    model: str | None = None
    firmware_version: str | None = None


class CampaignBody(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    image_id: str
    stations: list[str] | None = None
    site: str | None = None
    filter: TargetFilter | None = None
    retrieve_date: datetime | None = None
    retries: int | None = None
    retry_interval: int | None = None
    transport: Literal["http", "ftp"] = "http"
    policy: PolicyBody = msgspec.field(default_factory=PolicyBody)
    # SignedUpdateFirmware for a signed image (ADR 0040): auto to the stations whose configuration
    # shows the security extension, always to all, never (UpdateFirmware to all).
    signed: Literal["auto", "always", "never"] = "auto"


class DiagnosticsBody(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    start_time: datetime | None = None
    stop_time: datetime | None = None
    retries: int | None = None
    retry_interval: int | None = None
    transport: Literal["http", "ftp"] = "http"


class LogBody(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    """GetLog (whitepaper 5.9): which log, its time window, the upload's retries; the location and
    the requestId are the system's."""

    log_type: Literal["DiagnosticsLog", "SecurityLog"]
    oldest_timestamp: datetime | None = None
    latest_timestamp: datetime | None = None
    retries: int | None = None
    retry_interval: int | None = None
    transport: Literal["http", "ftp"] = "http"


def iso(value: datetime | None) -> str | None:
    """An OCPP dateTime (UTC, ``Z``) from a body's date-time, which must name its time zone."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ApiError(422, "InvalidBody", "date-times need a time zone (e.g. 2026-01-01T00:00:00Z)")
    return value.isoformat().replace("+00:00", "Z")


def check_image_query(name: str, version: str | None) -> None:
    if not safe_name(name):
        raise ApiError(
            400,
            "InvalidQuery",
            "name must be a plain file name (1..128 of A-Z a-z 0-9 . _ -, no leading dot)",
        )
    if version is not None and len(version) > 50:
        raise ApiError(
            400, "InvalidQuery", "version must be at most 50 characters (BootNotification firmwareVersion)"
        )


def policy_of(body: CampaignBody) -> Policy:
    """The campaign's rollout policy, refused (422, ``field`` policy) when the driver cannot follow it."""
    p = body.policy
    policy = Policy(
        batch_size=p.batch_size,
        max_in_flight=p.max_in_flight,
        failure_threshold=p.failure_threshold,
        offline_wait_s=p.offline_wait_seconds,
    )
    if (why := guards.policy_refusal(policy)) is not None:
        raise ApiError(422, "InvalidBody", why, field="policy")
    return policy


def check_retries(retries: int | None, retry_interval: int | None) -> None:
    if (refused := guards.retries_refusal(retries, retry_interval)) is not None:
        field, why = refused
        raise ApiError(422, "InvalidBody", why, field=field)


def check_transport(transport: str, ftp_port: int) -> None:
    if (why := guards.transport_refusal(transport, ftp_port)) is not None:
        raise ApiError(422, "InvalidBody", why, field="transport")


def check_signed(mode: str, image_signed: bool) -> None:
    """``signed: always`` needs an image with a signing certificate and a signature."""
    if mode == "always" and not image_signed:
        raise ApiError(
            422, "UnsignedImage", "signed is always but the image carries no signature", field="signed"
        )


def check_target_count(count: int) -> None:
    if (refused := guards.targets_refusal(count)) is not None:
        code, why = refused
        raise ApiError(422, code, why)


def chosen_target(body: CampaignBody) -> str:
    """Which of stations, site or filter the campaign targets: exactly one of them."""
    chosen = [
        k
        for k, v in (("stations", body.stations), ("site", body.site), ("filter", body.filter))
        if v is not None
    ]
    if len(chosen) != 1:
        raise ApiError(422, "InvalidBody", "give exactly one of stations, site or filter", field="stations")
    return chosen[0]


def check_station_id(station_id: str) -> None:
    """A listed station's id is a 1.6 chargeBoxIdentity: 1..48 characters."""
    if not station_id or len(station_id) > 48:
        raise ApiError(422, "InvalidBody", f"station id {station_id!r} is not valid", field="stations")


def boot_fields(f: TargetFilter) -> dict[str, str]:
    """A filter as the BootNotification fields it matches; at least one is needed."""
    conditions = {
        "chargePointVendor": f.vendor,
        "chargePointModel": f.model,
        "firmwareVersion": f.firmware_version,
    }
    wanted = {k: v for k, v in conditions.items() if v is not None}
    if not wanted:
        raise ApiError(422, "InvalidBody", "filter needs vendor, model or firmwareVersion", field="filter")
    return wanted


def diagnostics_window(body: DiagnosticsBody) -> tuple[str | None, str | None]:
    """GetDiagnostics startTime and stopTime (OCPP 1.6 6.25), stopTime not before startTime."""
    return _window(body.start_time, body.stop_time, "startTime", "stopTime")


def log_window(body: LogBody) -> tuple[str | None, str | None]:
    """GetLog oldestTimestamp and latestTimestamp (whitepaper 6.12), latest not before oldest."""
    return _window(body.oldest_timestamp, body.latest_timestamp, "oldestTimestamp", "latestTimestamp")


def _window(
    start: datetime | None, stop: datetime | None, start_name: str, stop_name: str
) -> tuple[str | None, str | None]:
    if start and stop and stop < start:
        raise ApiError(422, "InvalidBody", f"{stop_name} is before {start_name}", field=stop_name)
    return iso(start), iso(stop)

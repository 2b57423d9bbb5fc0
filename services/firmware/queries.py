"""Reads of the firmware read models (``fw_images``, ``fw_campaigns``, ``fw_campaign_stations``,
``fw_diagnostics``, built by ``projection.py``) as typed views.

A view is a ``msgspec.Struct`` with ``rename="camel"``: the operator API encodes it as the response
body, and /openapi.json describes the response from the same type. Times are the ISO 8601 text the
API has always served (``datetime.isoformat()``), so a view changes no byte of a response. Lists
return ``(key, view)`` pairs, the key being the list's keyset (ADR 0016), for the API to page by.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec

from shared.views import Db, Timestamp, iso, iso_or_none, newest_first

# Every state a station can be in within a campaign (``state.Step``): the counts name them all.
STATES = (
    "Pending",
    "Sent",
    "Downloading",
    "Downloaded",
    "Installing",
    "Installed",
    "Succeeded",
    "Failed",
    "Skipped",
    "Waiting",
)

# Configuration keys only a station with the security extension has (whitepaper chapter 7).
SECURITY_EXTENSION_KEYS = ("CpoName", "SecurityProfile")

# A page's ``next`` (ADR 0016), described as every paged list describes it.
Cursor = Annotated[
    str | None,
    msgspec.Meta(description="cursor of the next page (pass as ?cursor=); null on the last page"),
]
# The keyset of the newest-first lists: (created or requested at, id).
Key = tuple[dt.datetime, str]

# Read-your-writes (the API's ``until_row``): the row exists once the projection applied the write.
IMAGE_VISIBLE = "SELECT 1 FROM fw_images WHERE image_id = $1"
CAMPAIGN_VISIBLE = "SELECT 1 FROM fw_campaigns WHERE campaign_id = $1"
# A control's write is visible once the campaign changed at or after it (it may move on by itself).
CAMPAIGN_CHANGED = (
    "SELECT 1 FROM fw_campaigns WHERE campaign_id = $1 AND updated_at >= to_timestamp($2 / 1000.0)"
)
DIAGNOSTICS_VISIBLE = "SELECT 1 FROM fw_diagnostics WHERE request_id = $1"


# -- images ----------------------------------------------------------------------------------------------


class ImageView(msgspec.Struct, rename="camel", kw_only=True):
    image_id: str
    name: str
    version: str | None
    size: int
    sha256: str
    # Carries a signing certificate and a signature, checked at upload (ADR 0040).
    signed: bool
    created_at: Timestamp


class ImageList(msgspec.Struct, rename="camel", kw_only=True):
    images: list[ImageView]
    next: Cursor


def _image(row: Any) -> ImageView:
    return ImageView(
        image_id=row["image_id"],
        name=row["name"],
        version=row["version"],
        size=row["size"],
        sha256=row["sha256"],
        signed=row["signature"] is not None,
        created_at=iso(row["created_at"]),
    )


async def image(db: Db, image_id: str) -> ImageView | None:
    row = await db.fetchrow("SELECT * FROM fw_images WHERE image_id = $1", image_id)
    return _image(row) if row is not None else None


async def images(db: Db, *, after: Key | None, limit: int) -> list[tuple[Key, ImageView]]:
    """Up to ``limit`` images, newest first, after the key ``after``."""
    where = f"WHERE {newest_first('created_at', 'image_id', 2)}" if after is not None else ""
    rows = await db.fetch(
        f"SELECT * FROM fw_images {where} ORDER BY created_at DESC, image_id LIMIT $1", limit, *(after or ())
    )
    return [((r["created_at"], r["image_id"]), _image(r)) for r in rows]


# -- campaigns -------------------------------------------------------------------------------------------


class PolicyView(msgspec.Struct, rename="camel", kw_only=True):
    batch_size: int
    max_in_flight: int
    failure_threshold: float
    offline_wait_seconds: float


class CampaignStationView(msgspec.Struct, rename="camel", kw_only=True):
    station_id: str
    batch: int
    state: str
    last_status: str | None
    reason: str | None
    booted_firmware_version: str | None
    # Sent SignedUpdateFirmware rather than UpdateFirmware (ADR 0040).
    signed: bool
    dispatched_at: Timestamp | None
    updated_at: Timestamp | None


class CampaignView(msgspec.Struct, rename="camel", kw_only=True):
    """A campaign with counts per state (every state, 0 when none) and per-station detail."""

    campaign_id: str
    image_id: str
    status: str
    pause_reason: str | None
    # How the stations were chosen: {"stations": [...]}, {"site": ...} or the filter's fields.
    target: dict[str, str | list[str]]
    transport: str
    retrieve_date: str | None
    retries: int | None
    retry_interval: int | None
    policy: PolicyView
    created_at: Timestamp
    updated_at: Timestamp
    counts: dict[str, int]
    stations: list[CampaignStationView]


class CampaignSummary(msgspec.Struct, rename="camel", kw_only=True):
    campaign_id: str
    image_id: str
    status: str
    stations: int  # how many stations it targets
    created_at: Timestamp


class CampaignList(msgspec.Struct, rename="camel", kw_only=True):
    campaigns: list[CampaignSummary]
    next: Cursor


async def campaign_status(db: Db, campaign_id: str) -> str | None:
    """The campaign's status (what the lifecycle guards decide on); None: no such campaign."""
    status: str | None = await db.fetchval(
        "SELECT status FROM fw_campaigns WHERE campaign_id = $1", campaign_id
    )
    return status


async def campaign(db: Db, campaign_id: str) -> CampaignView | None:
    row = await db.fetchrow("SELECT * FROM fw_campaigns WHERE campaign_id = $1", campaign_id)
    if row is None:
        return None
    stations = await db.fetch(
        "SELECT * FROM fw_campaign_stations WHERE campaign_id = $1 ORDER BY position", campaign_id
    )
    counts = dict.fromkeys(STATES, 0)
    for s in stations:
        counts[s["state"]] = counts.get(s["state"], 0) + 1
    policy = msgspec.json.decode(row["policy"])
    return CampaignView(
        campaign_id=campaign_id,
        image_id=row["image_id"],
        status=row["status"],
        pause_reason=row["pause_reason"],
        target=msgspec.json.decode(row["target"]),
        transport=row["transport"],
        retrieve_date=row["retrieve_date"],
        retries=row["retries"],
        retry_interval=row["retry_interval"],
        policy=PolicyView(
            batch_size=policy["batch_size"],
            max_in_flight=policy["max_in_flight"],
            failure_threshold=policy["failure_threshold"],
            offline_wait_seconds=policy.get("offline_wait_s", 3600.0),
        ),
        created_at=iso(row["created_at"]),
        updated_at=iso(row["updated_at"]),
        counts=counts,
        stations=[
            CampaignStationView(
                station_id=s["station_id"],
                batch=s["batch"],
                state=s["state"],
                last_status=s["last_status"],
                reason=s["reason"],
                booted_firmware_version=s["booted_version"],
                signed=s["signed"],
                dispatched_at=iso_or_none(s["dispatched_at"]),
                updated_at=iso_or_none(s["updated_at"]),
            )
            for s in stations
        ],
    )


async def campaigns(db: Db, *, after: Key | None, limit: int) -> list[tuple[Key, CampaignSummary]]:
    """Up to ``limit`` campaigns, newest first, after ``after``; the station count only for these."""
    where = f"WHERE {newest_first('c.created_at', 'c.campaign_id', 2)}" if after is not None else ""
    rows = await db.fetch(
        f"""SELECT c.campaign_id, c.image_id, c.status, c.created_at,
                   (SELECT count(*) FROM fw_campaign_stations s WHERE s.campaign_id = c.campaign_id) AS stations
            FROM fw_campaigns c {where} ORDER BY c.created_at DESC, c.campaign_id LIMIT $1""",
        limit,
        *(after or ()),
    )
    return [
        (
            (r["created_at"], r["campaign_id"]),
            CampaignSummary(
                campaign_id=r["campaign_id"],
                image_id=r["image_id"],
                status=r["status"],
                stations=r["stations"],
                created_at=iso(r["created_at"]),
            ),
        )
        for r in rows
    ]


async def stations_with_security_extension(db: Db, station_ids: list[str]) -> list[str]:
    """Those of ``station_ids`` whose configuration (as GetConfiguration last read it) has a key of
    the security extension, CpoName or SecurityProfile (whitepaper 7.5, 7.6): they take SignedUpdateFirmware."""
    rows = await db.fetch(
        """SELECT DISTINCT station_id FROM station_configuration
           WHERE station_id = ANY($1::text[]) AND key = ANY($2::text[]) ORDER BY station_id""",
        station_ids,
        list(SECURITY_EXTENSION_KEYS),
    )
    return [r["station_id"] for r in rows]


async def station_ids_booted_with(db: Db, boot: dict[str, str]) -> list[str]:
    """The stations whose last BootNotification has all of ``boot``'s fields (a campaign's filter)."""
    rows = await db.fetch(
        "SELECT station_id FROM stations WHERE boot @> $1::jsonb ORDER BY station_id",
        msgspec.json.encode(boot).decode(),
    )
    return [r["station_id"] for r in rows]


# -- diagnostics -----------------------------------------------------------------------------------------


class DiagnosticsFileView(msgspec.Struct, rename="camel", kw_only=True):
    size: int
    sha256: str
    uploaded_via: str
    uploaded_at: Timestamp
    href: str  # where the API serves the file


class DiagnosticsView(msgspec.Struct, rename="camel", kw_only=True):
    """A GetDiagnostics request (``kind`` diagnostics) or a GetLog one (``kind`` log, with its
    logType and requestId; startTime / stopTime are its oldestTimestamp / latestTimestamp)."""

    request_id: str
    kind: str
    log_type: str | None
    log_request_id: int | None
    station_id: str
    transport: str
    status: str
    start_time: str | None
    stop_time: str | None
    file_name: str | None
    error: str | None
    file: DiagnosticsFileView | None  # None until the station uploaded
    requested_at: Timestamp
    updated_at: Timestamp


class DiagnosticsList(msgspec.Struct, rename="camel", kw_only=True):
    diagnostics: list[DiagnosticsView]
    next: Cursor


class DiagnosticsRead(msgspec.Struct, kw_only=True):
    """A diagnostics request as the API serves it, with where its file is stored (not served)."""

    view: DiagnosticsView
    storage_key: str | None


def _diagnostics(row: Any) -> DiagnosticsView:
    return DiagnosticsView(
        request_id=row["request_id"],
        kind="diagnostics" if row["log_type"] is None else "log",
        log_type=row["log_type"],
        log_request_id=row["log_request_id"],
        station_id=row["station_id"],
        transport=row["transport"],
        status=row["status"],
        start_time=row["start_time"],
        stop_time=row["stop_time"],
        file_name=row["file_name"],
        error=row["error"],
        file=None
        if row["storage_key"] is None
        else DiagnosticsFileView(
            size=row["size"],
            sha256=row["sha256"],
            uploaded_via=row["uploaded_via"],
            uploaded_at=iso(row["uploaded_at"]),
            href=f"/api/v1/diagnostics/{row['request_id']}/file",
        ),
        requested_at=iso(row["requested_at"]),
        updated_at=iso(row["updated_at"]),
    )


async def diagnostics(db: Db, request_id: str) -> DiagnosticsRead | None:
    row = await db.fetchrow("SELECT * FROM fw_diagnostics WHERE request_id = $1", request_id)
    return (
        DiagnosticsRead(view=_diagnostics(row), storage_key=row["storage_key"]) if row is not None else None
    )


async def diagnostics_requests(
    db: Db, *, station_id: str | None, after: Key | None, limit: int, kind: str | None = None
) -> list[tuple[Key, DiagnosticsView]]:
    """Up to ``limit`` diagnostics and log requests (of one station, or all; of one kind, or both),
    newest first, after ``after``."""
    where = f"AND {newest_first('requested_at', 'request_id', 4)}" if after is not None else ""
    rows = await db.fetch(
        f"""SELECT * FROM fw_diagnostics WHERE ($1::text IS NULL OR station_id = $1)
              AND ($3::text IS NULL OR (log_type IS NULL) = ($3 = 'diagnostics')) {where}
           ORDER BY requested_at DESC, request_id LIMIT $2""",
        station_id,
        limit,
        kind,
        *(after or ()),
    )
    return [((r["requested_at"], r["request_id"]), _diagnostics(r)) for r in rows]

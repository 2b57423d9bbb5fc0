"""/api/v1/firmware, /api/v1/firmware-campaigns, diagnostics: operator side of firmware management.

Writes are events on ``firmware.events`` (the firmware service acts on them); image bytes go to the
shared file storage first (ADR 0010). Reads come from the firmware read models. A write returns once
the read model shows it, so a GET right after a POST finds what was created.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Literal

import msgspec
from aiohttp import BodyPartReader, web

from services.api.context import api_of, until_row
from services.api.errors import ApiError, ok, read_body
from services.api.paging import PAGING, newest_first, page_of, reject_unknown, split
from services.api.stations import ensure_known, station_id_of
from services.firmware.events import (
    CampaignAborted,
    CampaignCreated,
    CampaignPaused,
    CampaignResumed,
    DiagnosticsRequested,
    FirmwareEvent,
    ImageAdded,
    Policy,
    encode_event,
    key_of,
)
from services.firmware.storage import LocalStorage, TooLarge, safe_name
from shared.clock import now_ms
from shared.events.topics import Topics
from shared.kafka import ensure_topics

MAX_TARGETS = 100_000
STATES = [
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
]
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


class DiagnosticsBody(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    start_time: datetime | None = None
    stop_time: datetime | None = None
    retries: int | None = None
    retry_interval: int | None = None
    transport: Literal["http", "ftp"] = "http"


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ApiError(422, "InvalidBody", "date-times need a time zone (e.g. 2026-01-01T00:00:00Z)")
    return value.isoformat().replace("+00:00", "Z")


_topic_ready: set[str] = set()


async def _write(request: web.Request, event: FirmwareEvent) -> None:
    api = api_of(request)
    topics = Topics(api.settings.topic_prefix, api.settings.frame_partitions)
    topic = topics.domain("firmware")
    if topic not in _topic_ready:
        await ensure_topics(
            api.settings.kafka_bootstrap, [topics.domain_spec("firmware")], api.settings.replication_factor
        )
        _topic_ready.add(topic)
    await api.producer.send_and_wait(topic, encode_event(event), key=key_of(event))


def _storage(request: web.Request) -> LocalStorage:
    return LocalStorage(api_of(request).settings.files_dir)


def _id(request: web.Request, name: str, what: str) -> str:
    value = request.match_info[name]
    if not ID.match(value):
        raise ApiError(404, f"Unknown{what}", f"{what.lower()} {value!r} does not exist")
    return value


# -- images ----------------------------------------------------------------------------------------------


def _image_json(row: Any) -> dict[str, Any]:
    return {
        "imageId": row["image_id"],
        "name": row["name"],
        "version": row["version"],
        "size": row["size"],
        "sha256": row["sha256"],
        "createdAt": row["created_at"].isoformat(),
    }


async def _body_chunks(request: web.Request) -> tuple[str | None, AsyncIterator[bytes]]:
    """The upload's bytes: the raw body, or the first file part of a multipart/form-data body."""
    if request.content_type.startswith("multipart/"):
        part = await (await request.multipart()).next()
        if not isinstance(part, BodyPartReader):
            raise ApiError(400, "InvalidBody", "multipart body without a file part")

        async def chunks() -> AsyncIterator[bytes]:
            while chunk := await part.read_chunk(1 << 16):
                yield chunk

        return part.filename, chunks()
    return None, request.content.iter_chunked(1 << 16)


async def post_image(request: web.Request) -> web.Response:
    """Upload a firmware image: ``?name=`` (or the multipart file name), optional ``?version=``."""
    api = api_of(request)
    part_name, chunks = await _body_chunks(request)
    name = request.query.get("name") or part_name or ""
    version = request.query.get("version") or None
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
    image_id = uuid.uuid4().hex
    try:
        stored = await _storage(request).save(
            f"images/{image_id}/{name}", chunks, api.settings.firmware_max_bytes
        )
    except TooLarge as exc:
        raise ApiError(413, "TooLarge", f"image larger than {api.settings.firmware_max_bytes} bytes") from exc
    if stored.size == 0:
        raise ApiError(422, "EmptyImage", "the image has no bytes")
    await _write(
        request,
        ImageAdded(
            image_id=image_id,
            name=name,
            version=version,
            size=stored.size,
            sha256=stored.sha256,
            storage_key=stored.key,
            at_ms=now_ms(),
        ),
    )
    row = await until_row(request, "SELECT * FROM fw_images WHERE image_id = $1", image_id)
    return ok(_image_json(row), 201)


async def list_images(request: web.Request) -> web.Response:
    """Images, newest first, paged (ADR 0016)."""
    reject_unknown(request.query, PAGING)
    page = page_of(request, "images", (datetime, str))
    pool = await api_of(request).pool()
    after = f"WHERE {newest_first('created_at', 'image_id', 2)}" if page.after else ""
    found = await pool.fetch(
        f"SELECT * FROM fw_images {after} ORDER BY created_at DESC, image_id LIMIT $1",
        page.limit + 1,
        *(page.after or ()),
    )
    rows, cursor = split(page, found, lambda r: (r["created_at"], r["image_id"]))
    return ok({"images": [_image_json(r) for r in rows], "next": cursor})


async def get_image(request: web.Request) -> web.Response:
    image_id = _id(request, "imageId", "Image")
    pool = await api_of(request).pool()
    row = await pool.fetchrow("SELECT * FROM fw_images WHERE image_id = $1", image_id)
    if row is None:
        raise ApiError(404, "UnknownImage", f"image {image_id!r} does not exist")
    return ok(_image_json(row))


# -- campaigns -------------------------------------------------------------------------------------------


async def _targets(request: web.Request, body: CampaignBody) -> tuple[list[str], dict[str, str | list[str]]]:
    chosen = [
        k
        for k, v in (("stations", body.stations), ("site", body.site), ("filter", body.filter))
        if v is not None
    ]
    if len(chosen) != 1:
        raise ApiError(422, "InvalidBody", "give exactly one of stations, site or filter", field="stations")
    api = api_of(request)
    if body.stations is not None:
        stations = list(dict.fromkeys(body.stations))
        for station_id in stations:
            if not station_id or len(station_id) > 48:
                raise ApiError(
                    422, "InvalidBody", f"station id {station_id!r} is not valid", field="stations"
                )
            await ensure_known(request, station_id)
        return stations, {"stations": stations}
    if body.site is not None:
        await api.registry.wait_for_end(timeout=10)
        stations = sorted(s for s, reg in api.registry.items() if reg.site == body.site)
        return stations, {"site": body.site}
    assert body.filter is not None
    f = body.filter
    conditions = {
        "chargePointVendor": f.vendor,
        "chargePointModel": f.model,
        "firmwareVersion": f.firmware_version,
    }
    wanted = {k: v for k, v in conditions.items() if v is not None}
    if not wanted:
        raise ApiError(422, "InvalidBody", "filter needs vendor, model or firmwareVersion", field="filter")
    pool = await api.pool()
    rows = await pool.fetch(
        "SELECT station_id FROM stations WHERE boot @> $1::jsonb ORDER BY station_id",
        msgspec.json.encode(wanted).decode(),
    )
    return [r["station_id"] for r in rows], {k: v for k, v in msgspec.to_builtins(f).items() if v is not None}


async def post_campaign(request: web.Request) -> web.Response:
    body: CampaignBody = await read_body(request, CampaignBody)
    p = body.policy
    if p.batch_size < 1 or p.max_in_flight < 1:
        raise ApiError(422, "InvalidBody", "batchSize and maxInFlight must be at least 1", field="policy")
    if not 0 <= p.failure_threshold <= 1:
        raise ApiError(422, "InvalidBody", "failureThreshold is a fraction in [0, 1]", field="policy")
    if p.offline_wait_seconds < 0:
        raise ApiError(422, "InvalidBody", "offlineWaitSeconds must not be negative", field="policy")
    for name, value in (("retries", body.retries), ("retryInterval", body.retry_interval)):
        if value is not None and value < 0:
            raise ApiError(422, "InvalidBody", f"{name} must not be negative", field=name)
    pool = await api_of(request).pool()
    if (
        not ID.match(body.image_id)
        or await pool.fetchrow("SELECT 1 FROM fw_images WHERE image_id = $1", body.image_id) is None
    ):
        raise ApiError(422, "UnknownImage", f"image {body.image_id!r} does not exist", field="imageId")
    if body.transport == "ftp" and api_of(request).settings.files_ftp_port < 0:
        raise ApiError(422, "InvalidBody", "FTP is switched off (CSMS_FILES_FTP_PORT=-1)", field="transport")
    stations, target = await _targets(request, body)
    if not stations:
        raise ApiError(422, "NoTargets", "no station matches the campaign's target")
    if len(stations) > MAX_TARGETS:
        raise ApiError(422, "TooManyTargets", f"at most {MAX_TARGETS} stations per campaign")
    campaign_id = uuid.uuid4().hex
    await _write(
        request,
        CampaignCreated(
            campaign_id=campaign_id,
            image_id=body.image_id,
            stations=stations,
            target=target,
            retrieve_date=_iso(body.retrieve_date),
            retries=body.retries,
            retry_interval=body.retry_interval,
            transport=body.transport,
            policy=Policy(
                batch_size=p.batch_size,
                max_in_flight=p.max_in_flight,
                failure_threshold=p.failure_threshold,
                offline_wait_s=p.offline_wait_seconds,
            ),
            token=secrets.token_urlsafe(18),
            at_ms=now_ms(),
        ),
    )
    await until_row(request, "SELECT 1 FROM fw_campaigns WHERE campaign_id = $1", campaign_id)
    return ok(await _campaign_json(request, campaign_id), 201)


async def _campaign_json(request: web.Request, campaign_id: str) -> dict[str, Any]:
    pool = await api_of(request).pool()
    row = await pool.fetchrow("SELECT * FROM fw_campaigns WHERE campaign_id = $1", campaign_id)
    if row is None:
        raise ApiError(404, "UnknownCampaign", f"campaign {campaign_id!r} does not exist")
    stations = await pool.fetch(
        "SELECT * FROM fw_campaign_stations WHERE campaign_id = $1 ORDER BY position", campaign_id
    )
    counts = dict.fromkeys(STATES, 0)
    for s in stations:
        counts[s["state"]] = counts.get(s["state"], 0) + 1
    policy = msgspec.json.decode(row["policy"])
    return {
        "campaignId": campaign_id,
        "imageId": row["image_id"],
        "status": row["status"],
        "pauseReason": row["pause_reason"],
        "target": msgspec.json.decode(row["target"]),
        "transport": row["transport"],
        "retrieveDate": row["retrieve_date"],
        "retries": row["retries"],
        "retryInterval": row["retry_interval"],
        "policy": {
            "batchSize": policy["batch_size"],
            "maxInFlight": policy["max_in_flight"],
            "failureThreshold": policy["failure_threshold"],
            "offlineWaitSeconds": policy.get("offline_wait_s", 3600.0),
        },
        "createdAt": row["created_at"].isoformat(),
        "updatedAt": row["updated_at"].isoformat(),
        "counts": counts,
        "stations": [
            {
                "stationId": s["station_id"],
                "batch": s["batch"],
                "state": s["state"],
                "lastStatus": s["last_status"],
                "reason": s["reason"],
                "bootedFirmwareVersion": s["booted_version"],
                "dispatchedAt": s["dispatched_at"].isoformat() if s["dispatched_at"] else None,
                "updatedAt": s["updated_at"].isoformat() if s["updated_at"] else None,
            }
            for s in stations
        ],
    }


async def get_campaign(request: web.Request) -> web.Response:
    return ok(await _campaign_json(request, _id(request, "campaignId", "Campaign")))


async def list_campaigns(request: web.Request) -> web.Response:
    """Campaigns, newest first, paged (ADR 0016); the station count only for the page's rows."""
    reject_unknown(request.query, PAGING)
    page = page_of(request, "campaigns", (datetime, str))
    pool = await api_of(request).pool()
    after = f"WHERE {newest_first('c.created_at', 'c.campaign_id', 2)}" if page.after else ""
    found = await pool.fetch(
        f"""SELECT c.campaign_id, c.image_id, c.status, c.created_at,
                   (SELECT count(*) FROM fw_campaign_stations s WHERE s.campaign_id = c.campaign_id) AS stations
            FROM fw_campaigns c {after} ORDER BY c.created_at DESC, c.campaign_id LIMIT $1""",
        page.limit + 1,
        *(page.after or ()),
    )
    rows, cursor = split(page, found, lambda r: (r["created_at"], r["campaign_id"]))
    return ok(
        {
            "campaigns": [
                {
                    "campaignId": r["campaign_id"],
                    "imageId": r["image_id"],
                    "status": r["status"],
                    "stations": r["stations"],
                    "createdAt": r["created_at"].isoformat(),
                }
                for r in rows
            ],
            "next": cursor,
        }
    )


CONTROL: dict[str, tuple[str, ...]] = {
    # action: the campaign statuses it applies to
    "pause": ("Running",),
    "resume": ("Paused",),
    "abort": ("Running", "Paused"),
}


async def control_campaign(request: web.Request) -> web.Response:
    campaign_id = _id(request, "campaignId", "Campaign")
    action = request.match_info["action"]
    if action not in CONTROL:
        raise ApiError(404, "UnknownAction", f"{action!r} is not one of pause, resume, abort")
    pool = await api_of(request).pool()
    row = await pool.fetchrow("SELECT status FROM fw_campaigns WHERE campaign_id = $1", campaign_id)
    if row is None:
        raise ApiError(404, "UnknownCampaign", f"campaign {campaign_id!r} does not exist")
    if row["status"] not in CONTROL[action]:
        raise ApiError(409, "InvalidState", f"cannot {action} a campaign that is {row['status']}")
    now = now_ms()
    event: FirmwareEvent = (
        CampaignPaused(campaign_id=campaign_id, reason="paused by the operator", at_ms=now)
        if action == "pause"
        else CampaignResumed(campaign_id=campaign_id, at_ms=now)
        if action == "resume"
        else CampaignAborted(campaign_id=campaign_id, at_ms=now)
    )
    await _write(request, event)
    # The campaign may move on by itself meanwhile (e.g. complete): wait for "changed", not "= after".
    with contextlib.suppress(ApiError):
        await until_row(
            request,
            "SELECT 1 FROM fw_campaigns WHERE campaign_id = $1 AND updated_at >= to_timestamp($2 / 1000.0)",
            campaign_id,
            now,
        )
    return ok(await _campaign_json(request, campaign_id), 202)


# -- diagnostics -----------------------------------------------------------------------------------------


def _diagnostics_json(row: Any) -> dict[str, Any]:
    return {
        "requestId": row["request_id"],
        "stationId": row["station_id"],
        "transport": row["transport"],
        "status": row["status"],
        "startTime": row["start_time"],
        "stopTime": row["stop_time"],
        "fileName": row["file_name"],
        "error": row["error"],
        "file": None
        if row["storage_key"] is None
        else {
            "size": row["size"],
            "sha256": row["sha256"],
            "uploadedVia": row["uploaded_via"],
            "uploadedAt": row["uploaded_at"].isoformat(),
            "href": f"/api/v1/diagnostics/{row['request_id']}/file",
        },
        "requestedAt": row["requested_at"].isoformat(),
        "updatedAt": row["updated_at"].isoformat(),
    }


async def post_diagnostics(request: web.Request) -> web.Response:
    station_id = station_id_of(request)
    body: DiagnosticsBody = await read_body(request, DiagnosticsBody)
    start, stop = _iso(body.start_time), _iso(body.stop_time)
    if body.start_time and body.stop_time and body.stop_time < body.start_time:
        raise ApiError(422, "InvalidBody", "stopTime is before startTime", field="stopTime")
    for name, value in (("retries", body.retries), ("retryInterval", body.retry_interval)):
        if value is not None and value < 0:
            raise ApiError(422, "InvalidBody", f"{name} must not be negative", field=name)
    if body.transport == "ftp" and api_of(request).settings.files_ftp_port < 0:
        raise ApiError(422, "InvalidBody", "FTP is switched off (CSMS_FILES_FTP_PORT=-1)", field="transport")
    await ensure_known(request, station_id)
    request_id = uuid.uuid4().hex
    await _write(
        request,
        DiagnosticsRequested(
            request_id=request_id,
            station_id=station_id,
            transport=body.transport,
            start_time=start,
            stop_time=stop,
            retries=body.retries,
            retry_interval=body.retry_interval,
            token=secrets.token_urlsafe(18),
            at_ms=now_ms(),
        ),
    )
    row = await until_row(request, "SELECT * FROM fw_diagnostics WHERE request_id = $1", request_id)
    return ok(_diagnostics_json(row), 202)


async def list_diagnostics(request: web.Request) -> web.Response:
    """Diagnostics requests, newest first, paged (ADR 0016); ``?stationId=`` narrows to one station."""
    reject_unknown(request.query, ("stationId", *PAGING))
    page = page_of(request, "diagnostics", (datetime, str))
    station_id = request.query.get("stationId")
    pool = await api_of(request).pool()
    after = f"AND {newest_first('requested_at', 'request_id', 3)}" if page.after else ""
    found = await pool.fetch(
        f"""SELECT * FROM fw_diagnostics WHERE ($1::text IS NULL OR station_id = $1) {after}
           ORDER BY requested_at DESC, request_id LIMIT $2""",
        station_id,
        page.limit + 1,
        *(page.after or ()),
    )
    rows, cursor = split(page, found, lambda r: (r["requested_at"], r["request_id"]))
    return ok({"diagnostics": [_diagnostics_json(r) for r in rows], "next": cursor})


async def _diagnostics_row(request: web.Request) -> Any:
    request_id = _id(request, "requestId", "Diagnostics")
    pool = await api_of(request).pool()
    row = await pool.fetchrow("SELECT * FROM fw_diagnostics WHERE request_id = $1", request_id)
    if row is None:
        raise ApiError(404, "UnknownDiagnostics", f"diagnostics request {request_id!r} does not exist")
    return row


async def get_diagnostics(request: web.Request) -> web.Response:
    return ok(_diagnostics_json(await _diagnostics_row(request)))


async def get_diagnostics_file(request: web.Request) -> web.StreamResponse:
    row = await _diagnostics_row(request)
    path = _storage(request).local_path(row["storage_key"]) if row["storage_key"] else None
    if path is None:
        raise ApiError(
            404, "NoFile", f"nothing was uploaded for diagnostics request {row['request_id']!r} yet"
        )
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{row["file_name"] or path.name}"',
        },
    )


ROUTES = [
    web.post("/api/v1/firmware", post_image),
    web.get("/api/v1/firmware", list_images),
    web.get("/api/v1/firmware/{imageId}", get_image),
    web.post("/api/v1/firmware-campaigns", post_campaign),
    web.get("/api/v1/firmware-campaigns", list_campaigns),
    web.get("/api/v1/firmware-campaigns/{campaignId}", get_campaign),
    web.post("/api/v1/firmware-campaigns/{campaignId}/{action}", control_campaign),
    web.post("/api/v1/stations/{stationId}/diagnostics", post_diagnostics),
    web.get("/api/v1/diagnostics", list_diagnostics),
    web.get("/api/v1/diagnostics/{requestId}", get_diagnostics),
    web.get("/api/v1/diagnostics/{requestId}/file", get_diagnostics_file),
]


def openapi() -> tuple[dict[str, Any], dict[str, Any]]:
    """The paths above for /openapi.json, and the schemas of their bodies."""
    from services.api.schema import OBJECT, REF, error_response, json_response, param

    (campaign_body, diagnostics_body), components = msgspec.json.schema_components(
        [CampaignBody, DiagnosticsBody], ref_template=REF
    )
    binary = {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
    campaign = [param("campaignId")]
    paths: dict[str, Any] = {
        "/api/v1/firmware": {
            "get": {"summary": "Firmware images, newest first", "responses": {"200": json_response(OBJECT)}},
            "post": {
                "summary": "Upload a firmware image (raw body or multipart/form-data)",
                "parameters": [param("name", "query"), param("version", "query")],
                "requestBody": {"required": True, **binary},
                "responses": {
                    "201": json_response(OBJECT, "stored: size and sha256"),
                    "400": error_response("bad name or version"),
                    "413": error_response("too large"),
                    "422": error_response("empty"),
                },
            },
        },
        "/api/v1/firmware/{imageId}": {
            "parameters": [param("imageId")],
            "get": {
                "summary": "A firmware image",
                "responses": {"200": json_response(OBJECT), "404": error_response("unknown")},
            },
        },
        "/api/v1/firmware-campaigns": {
            "get": {"summary": "Campaigns, newest first", "responses": {"200": json_response(OBJECT)}},
            "post": {
                "summary": "Start a campaign: targets (stations, site or filter), UpdateFirmware options, policy",
                "requestBody": {"required": True, "content": {"application/json": {"schema": campaign_body}}},
                "responses": {
                    "201": json_response(OBJECT, "created (as GET)"),
                    "404": error_response("unknown station"),
                    "422": error_response("invalid body, unknown image, no targets"),
                },
            },
        },
        "/api/v1/firmware-campaigns/{campaignId}": {
            "parameters": campaign,
            "get": {
                "summary": "A campaign: counts per state and per-station detail",
                "responses": {"200": json_response(OBJECT), "404": error_response("unknown campaign")},
            },
        },
        "/api/v1/stations/{stationId}/diagnostics": {
            "parameters": [param("stationId")],
            "post": {
                "summary": "Ask the station for its diagnostics (GetDiagnostics to a location the system hosts)",
                "requestBody": {"content": {"application/json": {"schema": diagnostics_body}}},
                "responses": {
                    "202": json_response(OBJECT, "requested"),
                    "404": error_response("unknown station"),
                    "422": error_response("invalid body"),
                },
            },
        },
        "/api/v1/diagnostics": {
            "get": {
                "summary": "Diagnostics requests, newest first",
                "parameters": [param("stationId", "query"), param("limit", "query", {"type": "integer"})],
                "responses": {"200": json_response(OBJECT), "400": error_response("bad limit")},
            }
        },
        "/api/v1/diagnostics/{requestId}": {
            "parameters": [param("requestId")],
            "get": {
                "summary": "A diagnostics request: status, file name, the stored file",
                "responses": {"200": json_response(OBJECT), "404": error_response("unknown request")},
            },
        },
        "/api/v1/diagnostics/{requestId}/file": {
            "parameters": [param("requestId")],
            "get": {
                "summary": "Download the uploaded diagnostics file",
                "responses": {
                    "200": {"description": "the file", **binary},
                    "404": error_response("nothing uploaded"),
                },
            },
        },
    }
    for action in CONTROL:
        paths[f"/api/v1/firmware-campaigns/{{campaignId}}/{action}"] = {
            "parameters": campaign,
            "post": {
                "summary": f"{action.capitalize()} the campaign",
                "responses": {
                    "202": json_response(OBJECT, "accepted (as GET)"),
                    "404": error_response("unknown campaign"),
                    "409": error_response("not possible in the campaign's status"),
                },
            },
        }
    return paths, components

"""/api/v1/firmware, /api/v1/firmware-campaigns, diagnostics: the operator side of firmware
management, as thin HTTP handlers.

Writes are events on ``firmware.events`` (the firmware service acts on them); image bytes go to the
shared file storage first (ADR 0010). A write is checked first (bodies: ``firmware_bodies``; what
may be done in which state: ``services.firmware.guards``) and returns once the read model shows it,
so a GET right after a POST finds what was created. Reads are ``services.firmware.queries``' typed
views; ``firmware_openapi`` describes the paths from the same types.
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import msgspec
from aiohttp import BodyPartReader, web

from services.api.context import api_of, until_row
from services.api.errors import ApiError, ok, read_body
from services.api.firmware_bodies import (
    ID,
    CampaignBody,
    DiagnosticsBody,
    LogBody,
    boot_fields,
    check_image_query,
    check_retries,
    check_signed,
    check_station_id,
    check_target_count,
    check_transport,
    chosen_target,
    diagnostics_window,
    iso,
    log_window,
    policy_of,
)
from services.api.paging import PAGING, page_of, reject_unknown, split
from services.api.stations import ensure_known, station_id_of
from services.firmware import guards, queries, signature
from services.firmware.events import (
    CampaignCreated,
    DiagnosticsRequested,
    FirmwareEvent,
    ImageAdded,
    encode_event,
    key_of,
)
from services.firmware.http_files import part_chunks
from services.firmware.storage import LocalStorage, Stored, TooLarge
from shared.events.topics import Topics
from shared.kafka import ensure_topics

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


SIGNING_FIELDS = ("signingCertificate", "signature")
# A signing field is text of a few KiB at most (whitepaper 6.7: 5500 and 800 characters).
FIELD_LIMIT = 8192


async def _field(part: BodyPartReader) -> str:
    data = b""
    while chunk := await part.read_chunk(1 << 12):
        data += chunk
        if len(data) > FIELD_LIMIT:
            raise ApiError(422, "InvalidBody", f"{part.name} is too long", field=part.name)
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise ApiError(422, "InvalidBody", f"{part.name} is not UTF-8 text", field=part.name) from exc


async def _save_image(
    request: web.Request, image_id: str, name: str, version: str | None, chunks: AsyncIterator[bytes]
) -> Stored:
    api = api_of(request)
    check_image_query(name, version)
    try:
        stored = await _storage(request).save(
            f"images/{image_id}/{name}", chunks, api.settings.firmware_max_bytes
        )
    except TooLarge as exc:
        raise ApiError(413, "TooLarge", f"image larger than {api.settings.firmware_max_bytes} bytes") from exc
    if stored.size == 0:
        raise ApiError(422, "EmptyImage", "the image has no bytes")
    return stored


async def _receive_image(
    request: web.Request, image_id: str, version: str | None
) -> tuple[str, Stored, dict[str, str]]:
    """The upload, stored: the raw body, or the file part of a multipart/form-data body with, before
    or after it, the text parts signingCertificate and signature of a signed image."""
    if not request.content_type.startswith("multipart/"):
        name = request.query.get("name") or ""
        return (
            name,
            await _save_image(request, image_id, name, version, request.content.iter_chunked(1 << 16)),
            {},
        )
    reader = await request.multipart()
    fields: dict[str, str] = {}
    found: tuple[str, Stored] | None = None
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ApiError(400, "InvalidBody", "nested multipart bodies are not understood")
        if part.name in SIGNING_FIELDS and part.filename is None:
            fields[part.name] = await _field(part)
        elif found is None:
            name = request.query.get("name") or part.filename or ""
            found = name, await _save_image(request, image_id, name, version, part_chunks(part))
        else:
            await part.release()
    if found is None:
        raise ApiError(400, "InvalidBody", "multipart body without a file part")
    return found[0], found[1], fields


async def post_image(request: web.Request) -> web.Response:
    """Upload a firmware image: ``?name=`` (or the multipart file name), optional ``?version=``; a
    signed image's certificate and signature are checked against its bytes (ADR 0040)."""
    api = api_of(request)
    version = request.query.get("version") or None
    image_id = uuid.uuid4().hex
    name, stored, fields = await _receive_image(request, image_id, version)
    certificate, signature_text = fields.get("signingCertificate"), fields.get("signature")
    if certificate is not None or signature_text is not None:
        refused = (
            signature.refusal(certificate, signature_text, bytes.fromhex(stored.sha256))
            if certificate is not None and signature_text is not None
            else ("signature" if certificate is not None else "signingCertificate", "give both or neither")
        )
        if refused is not None:
            _storage(request).remove(stored.key)
            field, why = refused
            raise ApiError(422, "InvalidSignature", f"{field}: {why}", field=field)
    await _write(
        request,
        ImageAdded(
            image_id=image_id,
            name=name,
            version=version,
            size=stored.size,
            sha256=stored.sha256,
            storage_key=stored.key,
            signing_certificate=certificate,
            signature=signature_text,
            at_ms=api.clock.now_ms(),
        ),
    )
    await until_row(request, queries.IMAGE_VISIBLE, image_id)
    return ok(await _image(request, image_id), 201)


async def list_images(request: web.Request) -> web.Response:
    """Images, newest first, paged (ADR 0016)."""
    reject_unknown(request.query, PAGING)
    page = page_of(request, "images", (datetime, str))
    pool = await api_of(request).pool()
    found = await queries.images(pool, after=page.after, limit=page.limit + 1)
    shown, cursor = split(page, found, lambda kv: kv[0])
    return ok(queries.ImageList(images=[view for _, view in shown], next=cursor))


async def _image(request: web.Request, image_id: str) -> queries.ImageView:
    view = await queries.image(await api_of(request).pool(), image_id)
    if view is None:
        raise ApiError(404, "UnknownImage", f"image {image_id!r} does not exist")
    return view


async def get_image(request: web.Request) -> web.Response:
    return ok(await _image(request, _id(request, "imageId", "Image")))


# -- campaigns -------------------------------------------------------------------------------------------


async def _targets(request: web.Request, body: CampaignBody) -> tuple[list[str], dict[str, str | list[str]]]:
    """The campaign's stations, resolved once (ADR 0010), and how they were chosen."""
    chosen = chosen_target(body)
    api = api_of(request)
    if chosen == "stations":
        assert body.stations is not None
        stations = list(dict.fromkeys(body.stations))
        for station_id in stations:
            check_station_id(station_id)
            await ensure_known(request, station_id)
        return stations, {"stations": stations}
    if chosen == "site":
        assert body.site is not None
        await api.registry.wait_for_end(timeout=10)
        return sorted(s for s, reg in api.registry.items() if reg.site == body.site), {"site": body.site}
    assert body.filter is not None
    wanted = boot_fields(body.filter)
    stations = await queries.station_ids_booted_with(await api.pool(), wanted)
    return stations, {k: v for k, v in msgspec.to_builtins(body.filter).items() if v is not None}


async def _signed_stations(
    request: web.Request, mode: str, image_signed: bool, stations: list[str]
) -> list[str]:
    """Who is sent SignedUpdateFirmware (ADR 0040): none for an unsigned image or ``never``, all for
    ``always``, for ``auto`` those whose configuration shows the security extension."""
    if not image_signed or mode == "never":
        return []
    if mode == "always":
        return stations
    return await queries.stations_with_security_extension(await api_of(request).pool(), stations)


async def post_campaign(request: web.Request) -> web.Response:
    body: CampaignBody = await read_body(request, CampaignBody)
    policy = policy_of(body)
    check_retries(body.retries, body.retry_interval)
    api = api_of(request)
    image = await queries.image(await api.pool(), body.image_id) if ID.match(body.image_id) else None
    if image is None:
        raise ApiError(422, "UnknownImage", f"image {body.image_id!r} does not exist", field="imageId")
    check_signed(body.signed, image.signed)
    check_transport(body.transport, api.settings.files_ftp_port)
    stations, target = await _targets(request, body)
    check_target_count(len(stations))
    signed = await _signed_stations(request, body.signed, image.signed, stations)
    campaign_id = uuid.uuid4().hex
    await _write(
        request,
        CampaignCreated(
            campaign_id=campaign_id,
            image_id=body.image_id,
            stations=stations,
            target=target,
            retrieve_date=iso(body.retrieve_date),
            retries=body.retries,
            retry_interval=body.retry_interval,
            transport=body.transport,
            policy=policy,
            token=secrets.token_urlsafe(18),
            signed_stations=signed,
            request_id=1 + secrets.randbelow(2**31 - 1) if signed else None,
            at_ms=api_of(request).clock.now_ms(),
        ),
    )
    await until_row(request, queries.CAMPAIGN_VISIBLE, campaign_id)
    return ok(await _campaign(request, campaign_id), 201)


async def _campaign(request: web.Request, campaign_id: str) -> queries.CampaignView:
    view = await queries.campaign(await api_of(request).pool(), campaign_id)
    if view is None:
        raise ApiError(404, "UnknownCampaign", f"campaign {campaign_id!r} does not exist")
    return view


async def get_campaign(request: web.Request) -> web.Response:
    return ok(await _campaign(request, _id(request, "campaignId", "Campaign")))


async def list_campaigns(request: web.Request) -> web.Response:
    """Campaigns, newest first, paged (ADR 0016)."""
    reject_unknown(request.query, PAGING)
    page = page_of(request, "campaigns", (datetime, str))
    pool = await api_of(request).pool()
    found = await queries.campaigns(pool, after=page.after, limit=page.limit + 1)
    shown, cursor = split(page, found, lambda kv: kv[0])
    return ok(queries.CampaignList(campaigns=[view for _, view in shown], next=cursor))


async def control_campaign(request: web.Request) -> web.Response:
    campaign_id = _id(request, "campaignId", "Campaign")
    action = request.match_info["action"]
    if not guards.is_control(action):
        raise ApiError(404, "UnknownAction", f"{action!r} is not one of pause, resume, abort")
    status = await queries.campaign_status(await api_of(request).pool(), campaign_id)
    if status is None:
        raise ApiError(404, "UnknownCampaign", f"campaign {campaign_id!r} does not exist")
    if (why := guards.control_refusal(action, status)) is not None:
        raise ApiError(409, "InvalidState", why)
    now = api_of(request).clock.now_ms()
    await _write(request, guards.control_event(action, campaign_id, now))
    # The campaign may move on by itself meanwhile (e.g. complete): wait for "changed", not "= after".
    with contextlib.suppress(ApiError):
        await until_row(request, queries.CAMPAIGN_CHANGED, campaign_id, now)
    return ok(await _campaign(request, campaign_id), 202)


# -- diagnostics -----------------------------------------------------------------------------------------


async def post_diagnostics(request: web.Request) -> web.Response:
    body: DiagnosticsBody = await read_body(request, DiagnosticsBody)
    return await _request_upload(request, body, diagnostics_window(body))


async def post_log(request: web.Request) -> web.Response:
    """GetLog (whitepaper 5.9, N01) to the same upload location as diagnostics; the integer
    requestId the station echoes in LogStatusNotification is allocated here."""
    body: LogBody = await read_body(request, LogBody)
    log_request_id = 1 + secrets.randbelow(2**31 - 1)  # an OCPP integer, unguessable per station
    return await _request_upload(request, body, log_window(body), body.log_type, log_request_id)


async def _request_upload(
    request: web.Request,
    body: DiagnosticsBody | LogBody,
    window: tuple[str | None, str | None],
    log_type: str | None = None,
    log_request_id: int | None = None,
) -> web.Response:
    """Record a request for the station to upload diagnostics or (``log_type`` set) a log to the
    file servers; the driver sends the CALL."""
    station_id = station_id_of(request)
    check_retries(body.retries, body.retry_interval)
    check_transport(body.transport, api_of(request).settings.files_ftp_port)
    await ensure_known(request, station_id)
    request_id = uuid.uuid4().hex
    await _write(
        request,
        DiagnosticsRequested(
            request_id=request_id,
            station_id=station_id,
            transport=body.transport,
            start_time=window[0],
            stop_time=window[1],
            retries=body.retries,
            retry_interval=body.retry_interval,
            token=secrets.token_urlsafe(18),
            log_type=log_type,
            log_request_id=log_request_id,
            at_ms=api_of(request).clock.now_ms(),
        ),
    )
    await until_row(request, queries.DIAGNOSTICS_VISIBLE, request_id)
    return ok((await _diagnostics(request, request_id)).view, 202)


KINDS = ("diagnostics", "log")


async def list_diagnostics(request: web.Request) -> web.Response:
    """Diagnostics and log requests, newest first, paged (ADR 0016); ``?stationId=`` narrows to one
    station, ``?kind=diagnostics|log`` to one kind."""
    reject_unknown(request.query, ("stationId", "kind", *PAGING))
    kind = request.query.get("kind")
    if kind is not None and kind not in KINDS:
        raise ApiError(400, "InvalidQuery", "kind must be diagnostics or log")
    page = page_of(request, "diagnostics", (datetime, str))
    pool = await api_of(request).pool()
    found = await queries.diagnostics_requests(
        pool,
        station_id=request.query.get("stationId"),
        after=page.after,
        limit=page.limit + 1,
        kind=kind,
    )
    shown, cursor = split(page, found, lambda kv: kv[0])
    return ok(queries.DiagnosticsList(diagnostics=[view for _, view in shown], next=cursor))


async def _diagnostics(request: web.Request, request_id: str) -> queries.DiagnosticsRead:
    found = await queries.diagnostics(await api_of(request).pool(), request_id)
    if found is None:
        raise ApiError(404, "UnknownDiagnostics", f"diagnostics request {request_id!r} does not exist")
    return found


async def get_diagnostics(request: web.Request) -> web.Response:
    return ok((await _diagnostics(request, _id(request, "requestId", "Diagnostics"))).view)


async def get_diagnostics_file(request: web.Request) -> web.StreamResponse:
    found = await _diagnostics(request, _id(request, "requestId", "Diagnostics"))
    path = _storage(request).local_path(found.storage_key) if found.storage_key else None
    if path is None:
        raise ApiError(
            404, "NoFile", f"nothing was uploaded for diagnostics request {found.view.request_id!r} yet"
        )
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{found.view.file_name or path.name}"',
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
    web.post("/api/v1/stations/{stationId}/logs", post_log),
    web.get("/api/v1/diagnostics", list_diagnostics),
    web.get("/api/v1/diagnostics/{requestId}", get_diagnostics),
    web.get("/api/v1/diagnostics/{requestId}/file", get_diagnostics_file),
]

"""/api/v1/reservations: ReserveNow and CancelReservation for the operator, and the read model.

The API allocates the reservation id (an ``allocated`` record on ``reservations.events``, ADR 0011)
and sends the CALL; the reservations service records what was sent, the station's answer and the
life cycle from ``ocpp.frames``, so the record does not depend on this request finishing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from aiohttp import web

from services.api.commands import command_timeout, failure
from services.api.context import api_of
from services.api.errors import ApiError, ok, read_body
from services.api.paging import PAGING, page_of, reject_unknown, split
from services.api.stations import MAX_ID, ensure_known
from services.reservations import queries
from services.reservations.queries import ReservationView
from services.stations import queries as station_queries
from shared.commands import NotConnected
from shared.events.commands import CommandOutcome, OutcomeStatus
from shared.ocpp.v16 import codec
from shared.ocpp.v16.constraints import INT32_MAX
from shared.ocpp.v16.messages import CancelReservationRequest, ReserveNowRequest
from shared.reservations.allocation import allocate
from shared.reservations.state import STATUSES, status_of_answer
from shared.views import Timestamp


class ReservationPost(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    """Body of ``POST /api/v1/reservations``; connectorId 0 reserves the whole station."""

    station_id: str
    connector_id: int
    id_tag: str
    expiry_date: dt.datetime
    parent_id_tag: str | None = None


class ReservationSent(msgspec.Struct, rename="camel", kw_only=True):
    """Answer of ``POST /api/v1/reservations``: what was sent and how the station answered."""

    reservation_id: int
    station_id: str
    connector_id: int
    id_tag: str
    parent_id_tag: str | None
    expiry_date: Timestamp
    status: str
    answer: str


class CancelSent(msgspec.Struct, rename="camel", kw_only=True):
    """Answer of ``POST /api/v1/reservations/{reservationId}/cancel``."""

    reservation_id: int
    station_id: str
    answer: str


def _check(body: ReservationPost, now: dt.datetime) -> None:
    if not 1 <= len(body.station_id) <= MAX_ID:
        raise ApiError(422, "InvalidBody", f"stationId must be 1..{MAX_ID} characters", field="stationId")
    if not 0 <= body.connector_id <= INT32_MAX:
        raise ApiError(
            422, "InvalidBody", "connectorId must be 0 (the station) or a connector", field="connectorId"
        )
    for name, value in (("idTag", body.id_tag), ("parentIdTag", body.parent_id_tag)):
        if value is not None and not (1 <= len(value) <= 20 and value.isprintable()):
            raise ApiError(
                422, "InvalidBody", f"{name} must be 1..20 printable characters (CiString20)", field=name
            )
    if body.expiry_date.tzinfo is None:
        raise ApiError(422, "InvalidBody", "expiryDate needs a time zone (e.g. Z)", field="expiryDate")
    if body.expiry_date <= now:
        raise ApiError(422, "InvalidBody", "expiryDate must be in the future", field="expiryDate")


async def post_reservation(request: web.Request) -> web.Response:
    api = api_of(request)
    body: ReservationPost = await read_body(request, ReservationPost)
    now = api_of(request).clock.now()
    _check(body, now)
    await ensure_known(request, body.station_id)
    if (
        body.connector_id == 0
        and await _config(request, body.station_id, "ReserveConnectorZeroSupported") == "false"
    ):
        raise ApiError(
            409,
            "ConnectorZeroNotSupported",
            f"station {body.station_id!r} reported ReserveConnectorZeroSupported=false",
        )
    if api.commands.where(body.station_id) is None:
        await api.commands.presence.wait_for_end(timeout=10)
        if api.commands.where(body.station_id) is None:  # no id is spent on a station we cannot reach
            raise ApiError(409, "NotConnected", f"station {body.station_id!r} is not connected")
    timeout = command_timeout(request, api.settings.command_timeout)
    rid = await allocate(api.producer, api.topics, body.station_id, now)
    call = ReserveNowRequest(
        connector_id=body.connector_id,
        expiry_date=body.expiry_date,
        id_tag=body.id_tag,
        reservation_id=rid,
        **({"parent_id_tag": body.parent_id_tag} if body.parent_id_tag is not None else {}),
    )
    outcome = await _send(request, body.station_id, "ReserveNow", codec.encode(call), timeout, rid)
    if outcome.status is not OutcomeStatus.RESULT:
        return failure(outcome, body.station_id, timeout, reservationId=rid)
    answer = msgspec.json.decode(outcome.payload).get("status", "")
    return ok(
        ReservationSent(
            reservation_id=rid,
            station_id=body.station_id,
            connector_id=body.connector_id,
            id_tag=body.id_tag,
            parent_id_tag=body.parent_id_tag,
            expiry_date=body.expiry_date.isoformat(),
            status=status_of_answer(answer),
            answer=answer,
        ),
        201,
    )


async def cancel_reservation(request: web.Request) -> web.Response:
    api = api_of(request)
    rid = _reservation_id(request)
    row = await _row(request, rid)
    if row.status not in ("requested", "active"):
        raise ApiError(409, "ReservationNotActive", f"reservation {rid} is {row.status}")
    timeout = command_timeout(request, api.settings.command_timeout)
    payload = codec.encode(CancelReservationRequest(reservation_id=rid))
    outcome = await _send(request, row.station_id, "CancelReservation", payload, timeout, rid)
    if outcome.status is not OutcomeStatus.RESULT:
        return failure(outcome, row.station_id, timeout, reservationId=rid)
    answer = msgspec.json.decode(outcome.payload).get("status", "")
    return ok(CancelSent(reservation_id=rid, station_id=row.station_id, answer=answer))


async def get_reservation(request: web.Request) -> web.Response:
    return ok(await _row(request, _reservation_id(request)))


async def list_reservations(request: web.Request) -> web.Response:
    """``?stationId=``, ``?status=`` (see STATUSES); newest first, paged (ADR 0016)."""
    q = request.query
    reject_unknown(q, ("stationId", "status", *PAGING))
    page = page_of(request, "reservations", (int,))
    if "status" in q and q["status"] not in STATUSES:
        raise ApiError(400, "InvalidQuery", f"status must be one of {', '.join(STATUSES)}", field="status")
    found = await queries.reservations(
        await api_of(request).pool(),
        station_id=q.get("stationId"),
        status=q.get("status"),
        before=page.after[0] if page.after is not None else None,
        limit=page.limit + 1,
    )
    rows, cursor = split(page, found, lambda r: (r.reservation_id,))
    return ok({"reservations": rows, "next": cursor})


def _reservation_id(request: web.Request) -> int:
    raw = request.match_info["reservationId"]
    if not raw.isdigit() or not 0 < int(raw) <= INT32_MAX:
        raise ApiError(400, "InvalidReservationId", "a reservation id is a positive int32")
    return int(raw)


async def _row(request: web.Request, rid: int) -> ReservationView:
    row = await queries.reservation(await api_of(request).pool(), rid)
    if row is None:
        raise ApiError(404, "UnknownReservation", f"reservation {rid} is unknown")
    return row


async def _config(request: web.Request, station_id: str, key: str) -> str | None:
    values = await station_queries.configuration_values(await api_of(request).pool(), station_id, [key])
    value = values.get(key)
    return str(value).strip().lower() if value is not None else None


async def _send(
    request: web.Request, station_id: str, action: str, payload: bytes, timeout: float, rid: int
) -> CommandOutcome:
    try:
        return await api_of(request).commands.call(station_id, action, payload, timeout=timeout)
    except NotConnected as exc:
        raise ApiError(
            409, "NotConnected", f"station {station_id!r} is not connected", reservationId=rid
        ) from exc


def openapi(ref_template: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(paths, component schemas) of this module for /openapi.json."""
    (body, sent, cancelled), components = msgspec.json.schema_components(
        [ReservationPost, ReservationSent, CancelSent], ref_template=ref_template
    )

    def err(description: str) -> dict[str, Any]:
        return {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": ref_template.format(name="Error")}}},
        }

    listed = {"description": "OK"}  # the schema: the view's, set by openapi.py (VIEWS, ITEMS)
    rid = {"name": "reservationId", "in": "path", "required": True, "schema": {"type": "integer"}}
    timeout = {"name": "timeout", "in": "query", "required": False, "schema": {"type": "number"}}
    paths: dict[str, Any] = {
        "/api/v1/reservations": {
            "get": {
                "summary": "Reservations, newest first (?stationId=, ?status=, ?limit=)",
                "parameters": [
                    {"name": "stationId", "in": "query", "required": False, "schema": {"type": "string"}},
                    {
                        "name": "status",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": list(STATUSES)},
                    },
                    {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer"}},
                ],
                "responses": {"200": listed, "400": err("bad query")},
            },
            "post": {
                "summary": "Reserve a connector (0 = the station) for an id tag: ReserveNow with a new id",
                "parameters": [timeout],
                "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
                "responses": {
                    "201": {
                        "description": "sent; `status`/`answer` say what the station answered",
                        "content": {"application/json": {"schema": sent}},
                    },
                    "404": err("unknown station"),
                    "409": err("not connected, or connectorId 0 on a station that does not support it"),
                    "422": err("invalid body; `field` names it"),
                    "502": err("the station answered CALLERROR"),
                    "504": err("no answer in time"),
                },
            },
        },
        "/api/v1/reservations/{reservationId}": {
            "parameters": [rid],
            "get": {
                "summary": "A reservation",
                "responses": {"200": listed, "404": err("unknown reservation")},
            },
        },
        "/api/v1/reservations/{reservationId}/cancel": {
            "parameters": [rid, timeout],
            "post": {
                "summary": "CancelReservation; `answer` is the station's (Accepted or Rejected)",
                "responses": {
                    "200": {"description": "OK", "content": {"application/json": {"schema": cancelled}}},
                    "404": err("unknown reservation"),
                    "409": err("not active, or the station is not connected"),
                    "502": err("the station answered CALLERROR"),
                    "504": err("no answer in time"),
                },
            },
        },
    }
    return paths, components

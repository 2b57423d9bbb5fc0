"""POST /api/v1/stations/{stationId}/commands/{Action}: send a CALL, return the station's answer.

Status codes (a contract): 200 ``{"response": ...}`` CALLRESULT; 502 the station answered CALLERROR,
or a CALLRESULT that is not a valid 1.6 response (``InvalidStationResponse``, never passed on as 200);
504 no answer within the command timeout (``?timeout=`` seconds, default CSMS_COMMAND_TIMEOUT);
409 not connected, or ``StationPending`` / ``StationRejected`` (not sent, OCPP 1.6 section 4.2); 404 unknown station or not a Central System action; 422 not valid OCPP (with the
violated field, or a charging profile that breaks the spec's rules); 503 the station's outgoing
queue is full.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.api import certificates, charging
from services.api.context import api_of
from services.api.errors import ApiError, error, ok
from services.api.stations import ensure_known, station_id_of
from shared.commands import NotConnected
from shared.events.commands import CommandOutcome, OutcomeStatus
from shared.ocpp.errors import OcppError
from shared.ocpp.v16 import codec
from shared.ocpp.v16.actions import ACTIONS, Initiator, spec_for
from shared.ocpp.v16.messages import ChangeConfigurationRequest
from shared.ocpp.v16.write_only import WRITE_ONLY_KEYS

MAX_TIMEOUT = 300.0


async def post_command(request: web.Request) -> web.Response:
    api = api_of(request)
    station_id = station_id_of(request)
    action = request.match_info["action"]
    if spec_for(action, Initiator.CENTRAL_SYSTEM) is None:
        what = "is sent by charge points, not to them" if action in ACTIONS else "is not an OCPP 1.6 action"
        raise ApiError(404, "UnknownCommand", f"{action} {what}")
    await ensure_known(request, station_id)
    payload = await request.read()
    try:
        decoded = codec.decode_request(action, payload or b"{}")
    except OcppError as exc:
        raise ApiError(422, str(exc.code), exc.description, **exc.details) from exc
    if isinstance(decoded, ChangeConfigurationRequest) and decoded.key in WRITE_ONLY_KEYS:
        raise ApiError(
            422,
            "WriteOnlyKey",
            f"{decoded.key} is set with PUT /api/v1/stations/{{stationId}}/authorization-key (A01)",
            field="key",
        )
    certificates.check_command(action, decoded)
    await charging.check_command(request, station_id, action, decoded)
    timeout = command_timeout(request, api.settings.command_timeout)
    try:
        outcome = await api.commands.call(station_id, action, payload or b"{}", timeout=timeout)
    except NotConnected as exc:
        raise ApiError(409, "NotConnected", f"station {station_id!r} is not connected") from exc
    if outcome.status is OutcomeStatus.RESULT:
        return ok({"response": outcome.payload})
    return failure(outcome, station_id, timeout)


def failure(outcome: CommandOutcome, station_id: str, timeout: float, **extra: Any) -> web.Response:
    """The contract's status for a command that got no CALLRESULT (``extra`` joins the error body)."""
    if outcome.status is OutcomeStatus.ERROR:
        return error(
            502,
            outcome.error_code or "GenericError",
            outcome.error_description,
            details=outcome.error_details or {},
            **extra,
        )
    if outcome.status is OutcomeStatus.INVALID:
        details = dict(outcome.error_details or {})
        field = details.pop("field", None)
        return error(
            502,
            "InvalidStationResponse",
            outcome.error_description,
            **({"field": field} if field else {}),
            details={"ocppError": outcome.error_code, **details},
            **extra,
        )
    if outcome.status is OutcomeStatus.NOT_ALLOWED:
        return error(409, outcome.error_code or "NotAllowed", outcome.error_description, **extra)
    if outcome.status is OutcomeStatus.UNDELIVERABLE:
        description = outcome.error_description or f"station {station_id!r} disconnected"
        return error(409, "NotConnected", description, **extra)
    if outcome.status is OutcomeStatus.REJECTED:
        description = outcome.error_description or "too many commands queued for the station"
        return error(503, "QueueFull", description, **extra)
    return error(504, "Timeout", outcome.error_description or f"no answer within {timeout:g}s", **extra)


def command_timeout(request: web.Request, default: float) -> float:
    raw = request.query.get("timeout")
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ApiError(400, "InvalidQuery", "timeout must be a number of seconds") from exc
    if not 0 < value <= MAX_TIMEOUT:
        raise ApiError(400, "InvalidQuery", f"timeout must be in (0, {MAX_TIMEOUT:g}] seconds")
    return value

"""PUT /api/v1/stations/{stationId}/authorization-key: rotate a station's Basic-auth password
(security whitepaper use case A01, OCTT TC_073).

The one way to send ChangeConfiguration(AuthorizationKey): the generic command endpoint refuses
it, so the password is handled here only. In order:
1. the registration gets the new password's salted hash as ``next_password_hash``: from now on the
   gateway accepts the old and the new one (the station may reconnect before its answer is in);
2. ChangeConfiguration(AuthorizationKey = the password's UTF-8 bytes in hex, A00.FR.205) is sent;
3. Accepted (or RebootRequired: it takes effect at the reboot) makes the new password the only one
   (A01.FR.03); Rejected or NotSupported keeps the old one only (A01.FR.04); no answer (a timeout,
   a CALLERROR) leaves both accepted, because the station may or may not have changed it; the
   operator sends it again.
The password is never logged, stored only hashed (A01.FR.08/09), and the frame log's record of the
CALL carries no value (shared/ocpp/v16/write_only.py).
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from services.api.commands import command_timeout, failure
from services.api.context import api_of
from services.api.errors import ApiError, ok, read_body
from services.api.stations import station_id_of
from shared.commands import NotConnected
from shared.events.commands import OutcomeStatus
from shared.events.envelope import StationRegistration, encode
from shared.security import hash_password

MIN_BYTES, MAX_BYTES = 16, 20  # A00.FR.205: at least 16 bytes; at most 40 hex digits
TAKEN = ("Accepted", "RebootRequired")


class AuthorizationKeyPut(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    """Body of ``PUT /api/v1/stations/{stationId}/authorization-key``."""

    password: str


class AuthorizationKeyChanged(msgspec.Struct, rename="camel", kw_only=True):
    """Answer: the station's ChangeConfiguration status, and which password the CSMS accepts now."""

    station_id: str
    status: str
    # "new": only the new password (A01.FR.03); "old": only the old one (A01.FR.04).
    accepted_password: str


def authorization_key_value(password: str) -> str:
    """The configuration value of ``password``: its UTF-8 bytes in hex (A00.FR.205)."""
    return password.encode().hex()


def check_password(password: str) -> None:
    size = len(password.encode())
    if not MIN_BYTES <= size <= MAX_BYTES or not password.isprintable():
        raise ApiError(
            422,
            "InvalidBody",
            f"password must be {MIN_BYTES} to {MAX_BYTES} bytes of printable text (A00.FR.205)",
            field="password",
        )


async def put_authorization_key(request: web.Request) -> web.Response:
    api = api_of(request)
    station_id = station_id_of(request)
    body: AuthorizationKeyPut = await read_body(request, AuthorizationKeyPut)
    check_password(body.password)
    registration = api.registry.get(station_id)
    if registration is None:
        raise ApiError(404, "UnknownStation", f"station {station_id!r} is not registered")
    if api.commands.where(station_id) is None:
        raise ApiError(409, "NotConnected", f"station {station_id!r} is not connected")
    timeout = command_timeout(request, api.settings.command_timeout)
    new_hash = hash_password(body.password)
    await _write(request, msgspec.structs.replace(registration, next_password_hash=new_hash))
    payload = {"key": "AuthorizationKey", "value": authorization_key_value(body.password)}
    try:
        outcome = await api.commands.call(
            station_id, "ChangeConfiguration", msgspec.json.encode(payload), timeout=timeout
        )
    except NotConnected as exc:
        await _write(request, msgspec.structs.replace(_current(request, station_id), next_password_hash=None))
        raise ApiError(409, "NotConnected", f"station {station_id!r} is not connected") from exc
    if outcome.status is not OutcomeStatus.RESULT:
        return failure(outcome, station_id, timeout)  # both passwords stay accepted
    status = str(msgspec.json.decode(outcome.payload).get("status"))
    current = _current(request, station_id)
    if status in TAKEN:
        await _write(
            request, msgspec.structs.replace(current, password_hash=new_hash, next_password_hash=None)
        )
    else:
        await _write(request, msgspec.structs.replace(current, next_password_hash=None))
    accepted = "new" if status in TAKEN else "old"
    return ok(AuthorizationKeyChanged(station_id=station_id, status=status, accepted_password=accepted))


def _current(request: web.Request, station_id: str) -> StationRegistration:
    """The registration as it is now (an operator may have changed it while the CALL was out)."""
    current = api_of(request).registry.get(station_id)
    if current is None:
        raise ApiError(409, "StationDeleted", f"station {station_id!r} was deleted meanwhile")
    return current


async def _write(request: web.Request, registration: StationRegistration) -> None:
    api = api_of(request)
    registration = msgspec.structs.replace(registration, at_ms=api.clock.now_ms())
    await api.write(api.registry, api.topics.stations, registration.station_id, encode(registration))


ROUTES = [web.put("/api/v1/stations/{stationId}/authorization-key", put_authorization_key)]

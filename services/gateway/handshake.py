"""Who may open a WebSocket: pure decisions on the HTTP upgrade request, before any OCPP frame.

Kept free of I/O so every rule (path, identity, Basic auth, unknown stations) is tested directly.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import unquote

from shared.events.envelope import StationRegistration
from shared.security import PasswordVerifier

PATH_PREFIX = "/ocpp/"
MAX_IDENTITY_LENGTH = 64


@dataclass(frozen=True)
class Refusal:
    status: HTTPStatus
    reason: str
    retry_after: int | None = None


@dataclass(frozen=True)
class Admission:
    station_id: str
    authenticated: bool


def station_id_from_path(path: str) -> str | None:
    """``/ocpp/RDAM%20123`` -> ``RDAM 123``; None when the path is not a station endpoint."""
    path = path.split("?", 1)[0]
    if not path.startswith(PATH_PREFIX):
        return None
    encoded = path[len(PATH_PREFIX) :]
    if not encoded or "/" in encoded:
        return None
    identity = unquote(encoded, errors="strict") if "%" in encoded else encoded
    if not identity or len(identity) > MAX_IDENTITY_LENGTH or not identity.isprintable():
        return None
    return identity


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, b64 = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(b64.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


@dataclass(frozen=True)
class PasswordCheck:
    """Everything but the (costly) hash is decided: the caller verifies off the event loop."""

    station_id: str
    password: str
    stored: str
    # While an AuthorizationKey change awaits the station's answer, its new password counts too.
    pending: str | None = None

    def hashes(self) -> list[str]:
        """The stored hashes the password may match: the current one, then a pending one (A01)."""
        return [h for h in (self.stored, self.pending) if h is not None]


def admit(
    path: str,
    authorization: str | None,
    registration: StationRegistration | None,
    *,
    auto_register: bool,
    verifier: PasswordVerifier,
) -> Admission | Refusal:
    """:func:`pre_admit` with the password verified inline (tests, tools); the gateway hashes in a pool."""
    decision = pre_admit(path, authorization, registration, auto_register=auto_register)
    if not isinstance(decision, PasswordCheck):
        return decision
    verified = any(verifier.verify(decision.station_id, decision.password, h) for h in decision.hashes())
    return finish_admit(decision, verified)


def finish_admit(check: PasswordCheck, verified: bool) -> Admission | Refusal:
    if not verified:
        return Refusal(HTTPStatus.UNAUTHORIZED, "invalid credentials")
    return Admission(check.station_id, authenticated=True)


def pre_admit(
    path: str,
    authorization: str | None,
    registration: StationRegistration | None,
    *,
    auto_register: bool,
) -> Admission | Refusal | PasswordCheck:
    """Decide the upgrade. ``registration`` is the operator's record for the station, if any.

    - A path that names no station: 404.
    - An unknown station while auto-registration is off: 404 (OCPP-J errata 3.3; stations back off).
    - A station registered with a password: HTTP Basic with username == station id and that password
      (security profile 1), else 401.
    - A station registered without a password, or unknown with auto-registration on: admitted.
    """
    try:
        station_id = station_id_from_path(path)
    except UnicodeDecodeError:
        station_id = None
    if station_id is None:
        return Refusal(HTTPStatus.NOT_FOUND, "expected /ocpp/{chargePointId}")
    if registration is None:
        if not auto_register:
            return Refusal(HTTPStatus.NOT_FOUND, f"unknown charge point {station_id!r}")
        return Admission(station_id, authenticated=False)
    if registration.password_hash is None:
        return Admission(station_id, authenticated=False)
    credentials = basic_credentials(authorization)
    if credentials is None:
        return Refusal(HTTPStatus.UNAUTHORIZED, "HTTP Basic authentication required")
    user, password = credentials
    if user != station_id:
        return Refusal(HTTPStatus.UNAUTHORIZED, "invalid credentials")
    return PasswordCheck(station_id, password, registration.password_hash, registration.next_password_hash)

"""Security profiles per station (ADR 0037): who may connect how, pure decisions.

Whitepaper edition 2 ("Improved security for OCPP 1.6-J", ../shared/spec/): a Central System
rejects a connection with another profile than the one in use (A00.FR.002); on profile 3 it checks
that the certificate's O holds the CPO name (A00.FR.404) and its CN the station's serial number
(A00.FR.405, A00.FR.511), terminates the connection otherwise (A00.FR.407) and logs a security
event (A00.FR.408); once a station connected with an upgraded profile it may not connect with a
lower one anymore (A05.FR.09). The chain itself was verified by TLS (A00.FR.403, ADR 0035).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import unquote

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from shared.events.envelope import ClientCertificate
from shared.events.security import StationSecurity
from shared.tls import client_certificate

# SecurityEvent kinds (the record's ``kind``).
INVALID_CERTIFICATE = "InvalidChargePointCertificate"
LOWER_PROFILE = "SecurityProfileRefused"
UNTRUSTED_HEADER = "UntrustedForwardedCertificate"
# What ChangeConfiguration sets (whitepaper section 5, configuration keys).
SECURITY_PROFILE_KEY = "SecurityProfile"

_REQUIRES = {
    1: "HTTP Basic authentication (a password)",
    2: "TLS (wss) with HTTP Basic authentication",
    3: "TLS (wss) with a client certificate",
}


@dataclass(frozen=True)
class Admitted:
    """The connection's profile; whether the certificate is what authenticates it (a station on,
    or upgrading to, profile 3 with a certificate that passed the checks: no HTTP Basic then,
    A00.FR.401, and its BootNotification must name the CN as serial number); and whether HTTP
    Basic is still to be checked."""

    presented: int
    by_certificate: bool
    password_needed: bool


@dataclass(frozen=True)
class ProfileRefusal:
    """The upgrade is refused before the WebSocket exists; recorded as a SecurityEvent."""

    status: HTTPStatus
    kind: str
    reason: str
    presented: int


def presented_profile(*, tls: bool, certificate: ClientCertificate | None, password: bool) -> int:
    """The profile a connection uses: 3 with a (verified) client certificate, else Basic
    authentication (the registration has a password) over TLS 2, over ws 1; 0 neither."""
    if tls and certificate is not None:
        return 3
    if not password:
        return 0
    return 2 if tls else 1


def certificate_refusal(
    certificate: ClientCertificate,
    station_id: str,
    stored: StationSecurity | None,
    *,
    cpo_name: str,
    bound_to: str | None,
) -> str | None:
    """Why a verified certificate is not this station's (None: it is).

    ``bound_to`` is the station whose known serial number is the certificate's CN, if any: one
    certificate per station, so another station's certificate is refused even before that
    station's serial is known here. "Contains the CPO name" (A00.FR.404) is read as O *is* it: a
    substring match would let "Not <CPO>" in.
    """
    if certificate.organization != cpo_name:
        return f"certificate O {certificate.organization!r} is not the CPO {cpo_name!r} (A00.FR.404)"
    serial = certificate.common_name
    if not serial:
        return "certificate has no CN: it must be the station's serial number (A00.FR.511)"
    known = stored.serial_number if stored is not None else None
    if known is not None and known != serial:
        return f"certificate CN {serial!r} is not the station's serial number {known!r} (A00.FR.405)"
    if bound_to is not None and bound_to != station_id:
        return f"certificate CN {serial!r} is the serial number of another station (A00.FR.405)"
    return None


def decide(
    station_id: str,
    stored: StationSecurity | None,
    *,
    tls: bool,
    certificate: ClientCertificate | None,
    password: bool,
    cpo_name: str,
    bound_to: str | None,
) -> ProfileRefusal | Admitted:
    """The connection's profile, or why it is refused.

    The profile may not be lower than the one in force. A higher one is admitted: after an
    Accepted ChangeConfiguration(SecurityProfile) the station reconnects with it before it is in
    force (A05.FR.07), and it asks more of the station, not less. For a station on (or upgrading
    to) profile 3 a presented certificate must be its own, else the connection is refused
    (A00.FR.407); on a lower profile a certificate authenticates nothing (HTTP Basic does), so it
    is only recorded, never a way around the password.
    """
    presented = presented_profile(tls=tls, certificate=certificate, password=password)
    on_three = stored is not None and 3 in (stored.profile, stored.pending)
    if certificate is not None and on_three:
        why = certificate_refusal(certificate, station_id, stored, cpo_name=cpo_name, bound_to=bound_to)
        if why is not None:
            return ProfileRefusal(HTTPStatus.FORBIDDEN, INVALID_CERTIFICATE, why, presented)
    required = stored.profile if stored is not None else 0
    if presented < required:
        reason = f"security profile {required} required: {_REQUIRES[required]} (A00.FR.002, A05.FR.09)"
        return ProfileRefusal(HTTPStatus.FORBIDDEN, LOWER_PROFILE, reason, presented)
    by_certificate = presented == 3 and on_three
    return Admitted(presented, by_certificate, password_needed=password and not by_certificate)


def boot_refusal(certificate: ClientCertificate | None, serial_number: str | None) -> str | None:
    """At BootNotification: a certificate's CN must be the serial number the station reports
    (A00.FR.405); None when there is no certificate or it matches."""
    if certificate is None or certificate.common_name == serial_number:
        return None
    return (
        f"chargePointSerialNumber {serial_number!r} is not the certificate's CN "
        f"{certificate.common_name!r} (A00.FR.405)"
    )


# -- what the gateway learns (never lowers) ------------------------------------------------------


def upgrade_accepted(
    current: StationSecurity | None, station_id: str, requested: int, at_ms: int
) -> StationSecurity | None:
    """The station answered Accepted to ChangeConfiguration(SecurityProfile=requested): pending
    until it connected with it (A05.FR.05-09). Lower or equal is never learnt (A05.FR.01,
    A00.FR.005: lowering is not done over OCPP); None when nothing changes."""
    base = current or StationSecurity(station_id=station_id)
    if requested not in (1, 2, 3) or requested <= base.profile:
        return None
    if base.pending is not None and base.pending >= requested:
        return None
    return msgspec.structs.replace(base, pending=requested, by="station", at_ms=at_ms)


def connected(current: StationSecurity | None, presented: int, at_ms: int) -> StationSecurity | None:
    """A connection was admitted on ``presented``: a pending upgrade it reaches is now in force,
    so lower profiles are refused from here on (A05.FR.09)."""
    if current is None or current.pending is None or presented < current.pending:
        return None
    return msgspec.structs.replace(current, profile=current.pending, pending=None, by="station", at_ms=at_ms)


def serial_seen(
    current: StationSecurity | None, station_id: str, serial_number: str | None, at_ms: int
) -> StationSecurity | None:
    """A BootNotification's serial number binds certificates to the station when none is known
    yet (the first boot; the operator sets or changes it explicitly)."""
    if not serial_number or (current is not None and current.serial_number is not None):
        return None
    base = current or StationSecurity(station_id=station_id)
    return msgspec.structs.replace(base, serial_number=serial_number, by="station", at_ms=at_ms)


def requested_profile(payload: object) -> int | None:
    """The SecurityProfile a ChangeConfiguration.req sets, None for another key or a bad value."""
    if not isinstance(payload, dict) or payload.get("key") != SECURITY_PROFILE_KEY:
        return None
    value = payload.get("value")
    return int(value) if isinstance(value, str) and value.strip() in ("0", "1", "2", "3") else None


# -- TLS terminated at an ingress ----------------------------------------------------------------

FORWARDED_HEADERS = ("X-Forwarded-Client-Cert", "ssl-client-cert")


def trusted_networks(setting: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``CSMS_GATEWAY_TRUSTED_PROXIES``: comma-separated CIDRs (a bare address is a /32 or /128)."""
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in setting.split(",") if part.strip()
    )


def is_trusted(address: str, networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def forwarded_pem(value: str) -> str:
    """The PEM of a forwarded client certificate header: nginx's ``ssl-client-cert`` is the
    URL-encoded PEM; Envoy's ``X-Forwarded-Client-Cert`` holds it in ``Cert="..."`` among other
    ``key=value`` pairs (``;``-separated)."""
    for part in value.split(";"):
        key, sep, quoted = part.strip().partition("=")
        if sep and key.lower() == "cert":
            return unquote(quoted.strip().strip('"'))
    return unquote(value.strip())


def forwarded_certificate(value: str, ca: x509.Certificate | None) -> ClientCertificate:
    """What a trusted proxy's header says; when the charge-point CA is known, the certificate
    must be one it issued (what the proxy verified, checked again). Raises ValueError."""
    try:
        cert = x509.load_pem_x509_certificate(forwarded_pem(value).encode())
    except ValueError as exc:
        raise ValueError(f"not a PEM certificate: {exc}") from exc
    if ca is not None:
        try:
            cert.verify_directly_issued_by(ca)
        except Exception as exc:  # InvalidSignature, ValueError, TypeError: not the CA's
            raise ValueError(f"not issued by the charge-point CA: {exc!r}") from exc
    return client_certificate(cert.public_bytes(serialization.Encoding.DER))

"""Records on ``ocpp.frames`` and ``ocpp.presence``: the documented, versioned envelope.

Every record is a msgspec Struct tagged by ``type`` and carries ``v`` (the schema version of that
type). Readers accept every version they know and ignore unknown types, so adding a record type or
an optional field is backwards compatible; a breaking change gets a new ``v`` and an upcaster in
:func:`decode_frame_record`. The key of every record is the charge point id, so one station's frames,
connects and disconnects stay in order in one partition.

The *epoch* of a connection is the Kafka offset of its :class:`ConnectionOpened` record: Kafka
assigns it, it grows with every new connection of the same station (same partition), and it is the
same on replay. Everything addressed to a connection names its epoch; a newer connection wins.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

import msgspec

from shared.events.versioned import Family, VersionedDecoder, version
from shared.ocpp.frames import CALL, CALLRESULT, Call, CallResult, FrameError, parse_frame

NO_PAYLOAD = msgspec.Raw(b"null")


class Direction(StrEnum):
    IN = "in"  # charge point -> central system
    OUT = "out"  # central system -> charge point


class FrameRecord(msgspec.Struct, tag="frame", tag_field="type", kw_only=True, omit_defaults=True):
    """One WebSocket text message exactly as it crossed the wire, plus what the gateway parsed.

    Version 2 added ``payload`` (ADR 0025): services decode it once into the action's type
    instead of parsing ``raw`` again; version-1 records get it from :func:`_frame_v1_to_v2`.
    """

    v: int = version(2)
    station_id: str
    gateway_id: str
    connection_id: str
    epoch: int
    direction: Direction
    # Receive time (inbound) or send time (outbound), in ms since the Unix epoch.
    at_ms: int
    raw: str
    message_type: int | None = None
    unique_id: str | None = None
    # The action of a CALL; for CALLRESULT/CALLERROR the action of the CALL it answers, when known.
    action: str | None = None
    # Set when the gateway found the frame invalid; the CALLERROR it answered follows as an OUT frame.
    error_code: str | None = None
    error_description: str | None = None
    # The operator command this frame belongs to (outbound CALL or the station's reply to it).
    command_id: str | None = None
    # v2: the JSON payload of an inbound CALL or CALLRESULT, as the gateway parsed (and validated)
    # it, so no reader parses ``raw`` again; NO_PAYLOAD (omitted) on every other frame.
    # msgspec.Raw cannot be optional: ``null`` stands for "none", as in StationReply.
    payload: msgspec.Raw = NO_PAYLOAD


class ClientCertificate(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A station's TLS client certificate, verified against the charge-point CA (profile 3)."""

    # Subject CN (the station's serial number, whitepaper A00.FR.511) and O (the CPO, A00.FR.509).
    common_name: str | None = None
    organization: str | None = None
    serial: str  # hex, no leading zeroes (as OCPP's certificateHashData writes it)
    issuer: str
    not_after_ms: int


class ConnectionOpened(msgspec.Struct, tag="opened", tag_field="type", kw_only=True, omit_defaults=True):
    v: int = 1
    station_id: str
    gateway_id: str
    connection_id: str
    at_ms: int
    remote: str | None = None
    subprotocol: str = "ocpp1.6"
    authenticated: bool = False
    # Over TLS (the wss port, ADR 0035): the version and suite agreed, and a verified client
    # certificate when the station presented one. Absent: plain ws.
    tls_version: str | None = None
    tls_cipher: str | None = None
    client_certificate: ClientCertificate | None = None
    # The security profile the connection was admitted on (ADR 0037): 3 with a client
    # certificate, 2 Basic over TLS, 1 Basic over ws, 0 neither. Absent: written before profiles.
    security_profile: int | None = None


class ConnectionClosed(msgspec.Struct, tag="closed", tag_field="type", kw_only=True, omit_defaults=True):
    v: int = 1
    station_id: str
    gateway_id: str
    connection_id: str
    epoch: int
    at_ms: int
    code: int | None = None
    reason: str = ""


class DeliveryDropped(msgspec.Struct, tag="dropped", tag_field="type", kw_only=True, omit_defaults=True):
    """A reply or command the gateway refused to deliver because its connection is gone or replaced."""

    v: int = 1
    station_id: str
    gateway_id: str
    at_ms: int
    target_epoch: int
    current_epoch: int | None = None
    unique_id: str | None = None
    command_id: str | None = None
    reason: str


class ConnectionRefused(msgspec.Struct, tag="refused", tag_field="type", kw_only=True, omit_defaults=True):
    """An upgrade completed without an agreed subprotocol and closed at once (OCPP-J 1.6 3.2, ADR 0019)."""

    v: int = 1
    station_id: str
    gateway_id: str
    at_ms: int
    remote: str | None = None
    offered: list[str] = []
    code: int
    reason: str


class SecurityEvent(msgspec.Struct, tag="security", tag_field="type", kw_only=True, omit_defaults=True):
    """A connection refused or closed for security (ADR 0037): the security event the whitepaper
    recommends the Central System logs (A00.FR.408), on the station's own key in the frame log."""

    v: int = 1
    station_id: str
    gateway_id: str
    at_ms: int
    remote: str | None = None
    # InvalidChargePointCertificate, SecurityProfileDowngrade, UntrustedForwardedCertificate, ...
    kind: str
    reason: str
    # The HTTP status the upgrade was refused with, or the WebSocket close code.
    status: int | None = None
    close_code: int | None = None
    # The profile in force for the station, and the one the connection presented.
    profile: int | None = None
    presented: int | None = None
    client_certificate: ClientCertificate | None = None


FramesRecord = (
    FrameRecord | ConnectionOpened | ConnectionClosed | DeliveryDropped | ConnectionRefused | SecurityEvent
)


def _frame_v1_to_v2(obj: dict[str, Any]) -> dict[str, Any]:
    """Version 1 had no ``payload``: take it from ``raw`` where the gateway of today writes one
    (an inbound CALL, or CALLRESULT to a CALL of ours, i.e. with an action)."""
    if obj.get("direction") == "in" and obj.get("message_type") in (CALL, CALLRESULT) and obj.get("action"):
        try:
            frame = parse_frame(obj["raw"])
        except FrameError:
            return obj
        if isinstance(frame, Call | CallResult):
            obj["payload"] = frame.payload  # Raw: re-encoded byte for byte
    return obj


FRAMES = Family("ocpp.frames", {("frame", 1): _frame_v1_to_v2})
_frames_decoder: VersionedDecoder[FramesRecord] = VersionedDecoder(FRAMES, FramesRecord)
_encoder = msgspec.json.Encoder()


def encode(record: msgspec.Struct) -> bytes:
    return _encoder.encode(record)


def decode_frame_record(data: bytes) -> FramesRecord | None:
    """Decode a record from ``ocpp.frames`` (any version); ``None`` for a type this version does
    not know (a newer writer's). Raises UndecodableRecord for a record nothing reads."""
    return _frames_decoder.decode_known(data)


class Presence(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Value on ``ocpp.presence`` (compacted, key = station id): where a station is connected now."""

    v: int = 1
    station_id: str
    connected: bool
    gateway_id: str
    connection_id: str
    epoch: int
    since_ms: int
    # The station's registration status: how the CSMS answered its last BootNotification (Accepted,
    # Pending, Rejected), on any connection; None until it has booted. It outlives a connection: a
    # station that reconnects without booting again is still in that state (OCPP 1.6 section 4.2).
    boot_status: str | None = None


PRESENCE = Family("ocpp.presence")
presence_decoder = VersionedDecoder(PRESENCE, Presence)


class StationRegistration(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Value on ``csms.stations`` (compacted, key = station id); a tombstone deletes the station."""

    v: int = 1
    station_id: str
    # "pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>", see shared/security.py; None = no Basic auth.
    password_hash: str | None = None
    site: str | None = None
    # What a BootNotification is answered with: Accepted, Pending (the operator has not let it in
    # yet) or Rejected.
    boot_status: str = "Accepted"
    # Registered by the system because an unknown station connected while auto-registration was on.
    auto: bool = False
    at_ms: int = 0
    # The password a ChangeConfiguration(AuthorizationKey) is setting (security whitepaper A01):
    # accepted beside ``password_hash`` until the station answers; Accepted makes it the only one
    # (A01.FR.03), Rejected or NotSupported drops it (A01.FR.04). Same form as ``password_hash``.
    next_password_hash: str | None = None


REGISTRATIONS = Family("csms.stations")
registration_decoder = VersionedDecoder(REGISTRATIONS, StationRegistration)

ReplyStatus = Literal["result", "error"]

"""Domain events of firmware management, on ``firmware.events``.

Operator intents (an image added, a campaign created, paused, resumed or aborted, diagnostics
requested) are written by the operator API; what happened next (dispatches, station progress,
outcomes, stored diagnostics files) by the firmware service. Keys: campaign id for campaign events,
request id for diagnostics, image id for images, so each aggregate's events stay in order.

Every event carries a unique ``id``: the service evolves its state with its own events as it
produces them and again when it reads them back; ``evolve`` skips ids it has already applied.
Versioned by ``v`` (docs/events.md, "Versioning rules").
"""

from __future__ import annotations

import uuid

import msgspec

from shared.events.versioned import Family, VersionedDecoder


def new_id() -> str:
    return uuid.uuid4().hex


class _Event(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    v: int = 1
    id: str = msgspec.field(default_factory=new_id)
    at_ms: int


class ImageAdded(_Event, tag="image_added", kw_only=True):
    """An operator uploaded a firmware image; the bytes are in the file storage under ``storage_key``."""

    image_id: str
    name: str
    version: str | None = None
    size: int
    sha256: str
    storage_key: str
    # A signed image (whitepaper 6.7, ADR 0040): checked when uploaded, sent in SignedUpdateFirmware.
    signing_certificate: str | None = None
    signature: str | None = None


class Policy(msgspec.Struct, kw_only=True):
    """Rollout policy: batches in order; within a batch at most ``max_in_flight`` updates at a time."""

    batch_size: int = 10
    max_in_flight: int = 10
    # Pause when failed / batch size of the running batch exceeds this fraction (0..1).
    failure_threshold: float = 0.2
    # A station not connected when its turn comes waits this long for a connection (it does not
    # hold up its batch); then it fails as Offline.
    offline_wait_s: float = 3600.0


class CampaignCreated(_Event, tag="campaign_created", kw_only=True):
    campaign_id: str
    image_id: str
    # The targets, resolved when the campaign was created (list, site or filter), in rollout order.
    stations: list[str]
    target: dict[str, str | list[str]]
    # None: each station is told "now" when its UpdateFirmware is sent.
    retrieve_date: str | None = None
    retries: int | None = None
    retry_interval: int | None = None
    transport: str = "http"  # or "ftp"
    policy: Policy
    # Per-campaign credential: part of the HTTP URL, the FTP password.
    token: str
    # The stations sent SignedUpdateFirmware (the image is signed and they support the security
    # extension, ADR 0040), and its requestId (whitepaper 5.21), the same for all of them.
    signed_stations: list[str] = msgspec.field(default_factory=list)
    request_id: int | None = None


class CampaignPaused(_Event, tag="campaign_paused", kw_only=True):
    campaign_id: str
    reason: str
    batch: int | None = None


class CampaignResumed(_Event, tag="campaign_resumed", kw_only=True):
    campaign_id: str


class CampaignAborted(_Event, tag="campaign_aborted", kw_only=True):
    campaign_id: str


class StationDispatched(_Event, tag="station_dispatched", kw_only=True):
    """The service is about to send UpdateFirmware (or SignedUpdateFirmware) to the station
    (written before it is sent)."""

    campaign_id: str
    station_id: str


class StationWaiting(_Event, tag="station_waiting", kw_only=True):
    """Its UpdateFirmware could not be delivered (not connected): it is sent when the station is back."""

    campaign_id: str
    station_id: str
    reason: str
    # When it fails as Offline if it has not been reached by then (set by the first wait, kept).
    until_ms: int


class StationProgress(_Event, tag="station_progress", kw_only=True):
    """A sign of life: the UpdateFirmware answer ("Accepted"), an FSN or SignedFirmwareStatusNotification
    status, or "Booted"."""

    campaign_id: str
    station_id: str
    status: str
    firmware_version: str | None = None


class StationFinished(_Event, tag="station_finished", kw_only=True):
    campaign_id: str
    station_id: str
    succeeded: bool
    reason: str | None = None


class CampaignFinished(_Event, tag="campaign_finished", kw_only=True):
    campaign_id: str


class DiagnosticsRequested(_Event, tag="diagnostics_requested", kw_only=True):
    """GetDiagnostics, or (``log_type`` set) the security extension's GetLog (whitepaper 5.9): the
    same upload location, account and file storage; ``start_time`` / ``stop_time`` are GetLog's
    oldestTimestamp / latestTimestamp."""

    request_id: str
    station_id: str
    transport: str = "http"  # or "ftp"
    start_time: str | None = None
    stop_time: str | None = None
    retries: int | None = None
    retry_interval: int | None = None
    token: str
    # GetLog only: DiagnosticsLog or SecurityLog, and the integer requestId the station echoes in
    # LogStatusNotification (allocated by the API). None: a GetDiagnostics request.
    log_type: str | None = None
    log_request_id: int | None = None


class DiagnosticsSent(_Event, tag="diagnostics_sent", kw_only=True):
    request_id: str
    station_id: str


class DiagnosticsAnswered(_Event, tag="diagnostics_answered", kw_only=True):
    """The station's answer to GetDiagnostics (a file name, none: nothing to upload) or to GetLog
    (``status`` Accepted, Rejected or AcceptedCanceled, whitepaper 5.10, 6.13, and a filename), or why
    the CALL failed (``error``)."""

    request_id: str
    station_id: str
    file_name: str | None = None
    error: str | None = None
    status: str | None = None


class DiagnosticsStatus(_Event, tag="diagnostics_status", kw_only=True):
    """A DiagnosticsStatusNotification, linked to the station's newest GetDiagnostics request, or a
    LogStatusNotification, linked to its GetLog by requestId."""

    request_id: str
    station_id: str
    status: str


class DiagnosticsFileStored(_Event, tag="diagnostics_file_stored", kw_only=True):
    request_id: str
    station_id: str
    file_name: str
    size: int
    sha256: str
    storage_key: str
    via: str  # "http" or "ftp"


FirmwareEvent = (
    ImageAdded
    | CampaignCreated
    | CampaignPaused
    | CampaignResumed
    | CampaignAborted
    | StationDispatched
    | StationWaiting
    | StationProgress
    | StationFinished
    | CampaignFinished
    | DiagnosticsRequested
    | DiagnosticsSent
    | DiagnosticsAnswered
    | DiagnosticsStatus
    | DiagnosticsFileStored
)
FIRMWARE = Family("firmware.events")
event_decoder: VersionedDecoder[FirmwareEvent] = VersionedDecoder(FIRMWARE, FirmwareEvent)
_encoder = msgspec.json.Encoder()


def encode_event(event: FirmwareEvent) -> bytes:
    return _encoder.encode(event)


def key_of(event: FirmwareEvent) -> bytes:
    """The aggregate an event belongs to: its Kafka key, so one aggregate's events stay in order."""
    if isinstance(event, ImageAdded):
        return event.image_id.encode()
    if isinstance(event, DiagnosticsRequested | DiagnosticsSent | DiagnosticsAnswered | DiagnosticsStatus):
        return event.request_id.encode()
    if isinstance(event, DiagnosticsFileStored):
        return event.request_id.encode()
    return event.campaign_id.encode()

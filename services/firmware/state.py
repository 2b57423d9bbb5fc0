"""The firmware service's in-memory state and its pure ``evolve``.

Rebuilt by following ``firmware.events`` from the beginning, and evolved with the service's own
events as it produces them; ``evolve`` skips an event id it has already applied, so reading one's
own events back changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from services.firmware.events import (
    CampaignAborted,
    CampaignCreated,
    CampaignFinished,
    CampaignPaused,
    CampaignResumed,
    DiagnosticsAnswered,
    DiagnosticsFileStored,
    DiagnosticsRequested,
    DiagnosticsSent,
    DiagnosticsStatus,
    FirmwareEvent,
    ImageAdded,
    Policy,
    StationDispatched,
    StationFinished,
    StationProgress,
    StationWaiting,
)


class Step(StrEnum):
    """Where one station is in a campaign."""

    PENDING = "Pending"  # not sent yet
    SENT = "Sent"  # UpdateFirmware on its way / accepted, no status yet
    DOWNLOADING = "Downloading"
    DOWNLOADED = "Downloaded"
    INSTALLING = "Installing"
    INSTALLED = "Installed"  # installed, waiting for the BootNotification with the new version
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"  # the campaign was aborted before it was sent
    WAITING = "Waiting"  # not connected when its turn came: sent once it is (does not hold its batch)


ACTIVE = frozenset({Step.SENT, Step.DOWNLOADING, Step.DOWNLOADED, Step.INSTALLING, Step.INSTALLED})
TERMINAL = frozenset({Step.SUCCEEDED, Step.FAILED, Step.SKIPPED})
# FirmwareStatusNotification (OCPP 1.6 7.25) and SignedFirmwareStatusNotification (whitepaper 6.6)
# statuses that move a station on; the others (DownloadScheduled, Idle, Accepted, Booted) are signs
# of life, the failures end the run (decide.FAILED_STATUSES).
STEPS_BY_STATUS = {
    "Downloading": Step.DOWNLOADING,
    "DownloadPaused": Step.DOWNLOADING,
    "Downloaded": Step.DOWNLOADED,
    "SignatureVerified": Step.DOWNLOADED,
    "InstallScheduled": Step.INSTALLING,
    "Installing": Step.INSTALLING,
    "InstallRebooting": Step.INSTALLING,
    "Installed": Step.INSTALLED,
}


# Gateways and the firmware service stamp times on different hosts.
CLOCK_SLACK_MS = 2000


class CampaignStatus(StrEnum):
    RUNNING = "Running"
    PAUSED = "Paused"
    ABORTED = "Aborted"
    COMPLETED = "Completed"


@dataclass
class StationRun:
    station_id: str
    batch: int
    step: Step = Step.PENDING
    last_status: str | None = None
    reason: str | None = None
    booted_version: str | None = None
    dispatched_ms: int | None = None
    last_activity_ms: int | None = None
    # While WAITING: when it gives up on the station (Offline).
    waiting_until_ms: int | None = None
    # Dispatched, and our UpdateFirmware's outcome is not in yet (the CALL may still be waiting for
    # the station to reconnect): the CALL's own timeout decides first.
    awaiting_answer: bool = False


@dataclass
class Campaign:
    campaign_id: str
    image_id: str
    token: str
    policy: Policy
    transport: str
    retrieve_date: str | None
    retries: int | None
    retry_interval: int | None
    stations: dict[str, StationRun]
    status: CampaignStatus = CampaignStatus.RUNNING
    # Sent SignedUpdateFirmware with this requestId (ADR 0040); the others UpdateFirmware.
    signed_stations: frozenset[str] = frozenset()
    request_id: int | None = None
    # Batches up to this one had their failure rate accepted by an operator's resume (not re-checked).
    cleared_through: int = -1


@dataclass
class Image:
    image_id: str
    name: str
    version: str | None
    size: int
    sha256: str
    storage_key: str
    signing_certificate: str | None = None
    signature: str | None = None


@dataclass
class Diagnostics:
    request_id: str
    station_id: str
    token: str
    transport: str
    start_time: str | None
    stop_time: str | None
    retries: int | None
    retry_interval: int | None
    log_type: str | None = None  # None: GetDiagnostics; else GetLog of this logType
    log_request_id: int | None = None
    sent: bool = False
    file_name: str | None = None
    status: str = "Requested"
    stored: bool = False


@dataclass
class State:
    images: dict[str, Image] = field(default_factory=dict)
    campaigns: dict[str, Campaign] = field(default_factory=dict)
    diagnostics: dict[str, Diagnostics] = field(default_factory=dict)
    # station -> its newest GetDiagnostics request: what a DiagnosticsStatusNotification is about.
    latest_diagnostics: dict[str, str] = field(default_factory=dict)
    # (station, GetLog requestId) -> request: what a LogStatusNotification is about.
    log_requests: dict[tuple[str, int], str] = field(default_factory=dict)
    applied: set[str] = field(default_factory=set)

    def active_runs(self, station_id: str, at_ms: int) -> list[tuple[Campaign, StationRun]]:
        """The campaigns in which the station has an update in progress that a message sent at
        ``at_ms`` can be about (not one that was dispatched after it: a late-read old message)."""
        found = []
        for campaign in self.campaigns.values():
            run = campaign.stations.get(station_id)
            if run is not None and run.step in ACTIVE and (run.dispatched_ms or 0) - CLOCK_SLACK_MS <= at_ms:
                found.append((campaign, run))
        return found


def evolve(state: State, event: FirmwareEvent) -> None:
    """Apply one event; a no-op for an event already applied (or for an unknown aggregate)."""
    if event.id in state.applied:
        return
    state.applied.add(event.id)
    if isinstance(event, ImageAdded):
        state.images[event.image_id] = Image(
            event.image_id,
            event.name,
            event.version,
            event.size,
            event.sha256,
            event.storage_key,
            event.signing_certificate,
            event.signature,
        )
    elif isinstance(event, CampaignCreated):
        size = max(1, event.policy.batch_size)
        state.campaigns[event.campaign_id] = Campaign(
            campaign_id=event.campaign_id,
            image_id=event.image_id,
            token=event.token,
            policy=event.policy,
            transport=event.transport,
            retrieve_date=event.retrieve_date,
            retries=event.retries,
            retry_interval=event.retry_interval,
            stations={s: StationRun(s, i // size) for i, s in enumerate(event.stations)},
            signed_stations=frozenset(event.signed_stations),
            request_id=event.request_id,
        )
    elif isinstance(event, DiagnosticsRequested):
        state.diagnostics[event.request_id] = Diagnostics(
            request_id=event.request_id,
            station_id=event.station_id,
            token=event.token,
            transport=event.transport,
            start_time=event.start_time,
            stop_time=event.stop_time,
            retries=event.retries,
            retry_interval=event.retry_interval,
            log_type=event.log_type,
            log_request_id=event.log_request_id,
        )
        if event.log_request_id is not None:
            state.log_requests[(event.station_id, event.log_request_id)] = event.request_id
        else:
            state.latest_diagnostics[event.station_id] = event.request_id
    elif isinstance(event, DiagnosticsSent | DiagnosticsAnswered | DiagnosticsStatus | DiagnosticsFileStored):
        _evolve_diagnostics(state, event)
    else:
        _evolve_campaign(state, event)


def _evolve_diagnostics(
    state: State, event: DiagnosticsSent | DiagnosticsAnswered | DiagnosticsStatus | DiagnosticsFileStored
) -> None:
    diag = state.diagnostics.get(event.request_id)
    if diag is None:
        return
    if isinstance(event, DiagnosticsSent):
        diag.sent, diag.status = True, "Sent"
    elif isinstance(event, DiagnosticsAnswered):
        diag.file_name = event.file_name
        if diag.status in ("Requested", "Sent"):  # a quick station's DSN may come before its answer
            diag.status = answered_status(event)
    elif isinstance(event, DiagnosticsStatus):
        diag.status = event.status
    else:
        diag.stored = True


def answered_status(event: DiagnosticsAnswered) -> str:
    """A request's status after the station's answer (the read model uses the same rule)."""
    if event.error is not None:
        return "Failed"
    if event.status is not None:  # GetLog.conf
        return event.status
    return "Accepted" if event.file_name else "NoFile"


def _evolve_campaign(state: State, event: FirmwareEvent) -> None:
    campaign_id = getattr(event, "campaign_id", None)
    campaign = state.campaigns.get(campaign_id) if campaign_id is not None else None
    if campaign is None:
        return
    if isinstance(event, CampaignPaused):
        if campaign.status is CampaignStatus.RUNNING:
            campaign.status = CampaignStatus.PAUSED
    elif isinstance(event, CampaignResumed):
        if campaign.status is CampaignStatus.PAUSED:
            campaign.status = CampaignStatus.RUNNING
            started = [r.batch for r in campaign.stations.values() if r.step is not Step.PENDING]
            campaign.cleared_through = max(started, default=-1)
    elif isinstance(event, CampaignAborted):
        if campaign.status in (CampaignStatus.RUNNING, CampaignStatus.PAUSED):
            campaign.status = CampaignStatus.ABORTED
            for run in campaign.stations.values():
                if run.step in (Step.PENDING, Step.WAITING):
                    run.step, run.reason = Step.SKIPPED, "campaign aborted"
    elif isinstance(event, CampaignFinished):
        if campaign.status is not CampaignStatus.ABORTED:
            campaign.status = CampaignStatus.COMPLETED
    elif isinstance(event, StationDispatched | StationWaiting | StationProgress | StationFinished):
        target = campaign.stations.get(event.station_id)
        if target is not None:
            _evolve_run(target, event)


def _evolve_run(
    run: StationRun, event: StationDispatched | StationWaiting | StationProgress | StationFinished
) -> None:
    # A frame read late (an older boot of the station) neither moves its last sign of life back
    # nor stands for the answer to our UpdateFirmware: only the dispatch outcome ends that wait
    # (Accepted, Waiting, Finished), so the sweep keeps the CALL's allowance until then.
    run.last_activity_ms = max(run.last_activity_ms or event.at_ms, event.at_ms)
    if isinstance(event, StationDispatched):
        run.awaiting_answer = True
    elif not isinstance(event, StationProgress) or event.status == "Accepted":
        run.awaiting_answer = False
    if isinstance(event, StationDispatched):
        run.step, run.dispatched_ms = Step.SENT, event.at_ms
    elif isinstance(event, StationWaiting):
        if run.step not in TERMINAL:
            run.step, run.reason = Step.WAITING, event.reason
            run.waiting_until_ms = run.waiting_until_ms or event.until_ms
    elif isinstance(event, StationProgress):
        run.last_status = event.status
        if event.status == "Booted":
            run.booted_version = event.firmware_version
        elif event.status in STEPS_BY_STATUS and run.step in ACTIVE:
            run.step = STEPS_BY_STATUS[event.status]
    else:
        run.step = Step.SUCCEEDED if event.succeeded else Step.FAILED
        run.reason = event.reason

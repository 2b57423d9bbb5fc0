"""Pure decisions of the firmware service: what a station's message means, what the clock demands,
what a station's answer to our CALL means, what an upload records.

The service decides through four entries of the one shape (shared/decision.py, ADR 0027),
``(state, message, deps) -> (reply, events)``, the reply always None (the stations service answers
the station's CALLs): :func:`decide` for a watched station CALL, :func:`sweep` for the clock,
:func:`answered` for the outcome of UpdateFirmware / SignedUpdateFirmware / GetDiagnostics /
GetLog, :func:`uploaded` for a stored diagnostics or log file (ADR 0040). ``state.evolve`` then
applies the events. The rules below them read the state and return events (nothing is mutated);
times are arguments, so unit tests drive the clock by hand.

A station's update succeeds when it reported Installed *and* (when the image names a version)
booted with that version: OCTT TC_044_1 has the BootNotification before the final Installed, a
station that reboots first and reports later has it after; either order works.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from services.firmware.events import (
    CampaignFinished,
    CampaignPaused,
    DiagnosticsAnswered,
    DiagnosticsFileStored,
    DiagnosticsSent,
    DiagnosticsStatus,
    FirmwareEvent,
    StationDispatched,
    StationFinished,
    StationProgress,
    StationWaiting,
)
from services.firmware.state import ACTIVE, TERMINAL, Campaign, CampaignStatus, State, StationRun, Step
from services.firmware.storage import Stored
from shared.decision import Decision
from shared.events.commands import CommandOutcome, OutcomeStatus
from shared.ocpp.v16.messages import (
    BootNotificationRequest,
    DiagnosticsStatusNotificationRequest,
    FirmwareStatusNotificationRequest,
    LogStatusNotificationRequest,
    SignedFirmwareStatusNotificationRequest,
)

# The statuses that end a station's run as failed, the status its reason (whitepaper 6.6 for the
# signed ones: a signature or certificate the station does not accept, an install it cannot verify).
FAILED_STATUSES = frozenset(
    {"DownloadFailed", "InstallationFailed", "InvalidSignature", "InstallVerificationFailed"}
)
# SignedUpdateFirmware.conf statuses (whitepaper 6.16) under which the station goes ahead; the
# others (Rejected, InvalidCertificate, RevokedCertificate) fail its run with that reason.
UPDATE_ACCEPTED = frozenset({"Accepted", "AcceptedCanceled"})
NOT_CONNECTED = "NotConnected"

# The station CALLs the service follows (never answers), and their request types.
WATCHED = (
    "FirmwareStatusNotification",
    "SignedFirmwareStatusNotification",
    "DiagnosticsStatusNotification",
    "LogStatusNotification",
    "BootNotification",
)
Watched = (
    FirmwareStatusNotificationRequest
    | SignedFirmwareStatusNotificationRequest
    | DiagnosticsStatusNotificationRequest
    | LogStatusNotificationRequest
    | BootNotificationRequest
)


# -- the four entries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """What :func:`decide` reads besides state and request: the sender, and the frame's time (not
    the clock's, so a redelivered frame decides the same)."""

    station_id: str
    at_ms: int


def decide(state: State, request: Watched, frame: Frame) -> Decision[None, FirmwareEvent]:
    """A watched station CALL: progress of an update or of a diagnostics upload."""
    station_id, at_ms = frame.station_id, frame.at_ms
    if isinstance(request, FirmwareStatusNotificationRequest | SignedFirmwareStatusNotificationRequest):
        return None, on_firmware_status(state, station_id, request.status, at_ms)
    if isinstance(request, DiagnosticsStatusNotificationRequest):
        return None, on_diagnostics_status(state, station_id, request.status, at_ms)
    if isinstance(request, LogStatusNotificationRequest):
        log_request_id = request.request_id if isinstance(request.request_id, int) else None
        return None, on_log_status(state, station_id, log_request_id, request.status, at_ms)
    version = request.firmware_version if isinstance(request.firmware_version, str) else None
    return None, on_boot(state, station_id, version, at_ms)


@dataclass(frozen=True)
class Sweep:
    """What :func:`sweep` reads besides state and time."""

    station_timeout_ms: int
    # Whether a station has a live connection now (waiting stations are sent then).
    connected: Callable[[str], bool]
    # How long our own CALL to a station may take at most (the command timeout): a dispatched
    # station is not timed out for silence before its UpdateFirmware has had its answer.
    answer_allowance_ms: int = 0


def sweep(state: State, now_ms: int, deps: Sweep) -> Decision[None, FirmwareEvent]:
    """The driver's tick at ``now_ms`` (:func:`tick`): ``StationDispatched`` / ``DiagnosticsSent``
    among the events are the CALLs to send once the events are durable."""
    return None, tick(state, now_ms, deps.station_timeout_ms, deps.connected, deps.answer_allowance_ms)


@dataclass(frozen=True)
class UpdateFirmwareAnswered:
    """How our UpdateFirmware (or SignedUpdateFirmware) to a station of a campaign ended
    (``outcome`` None: not connected)."""

    campaign_id: str
    station_id: str
    outcome: CommandOutcome | None


@dataclass(frozen=True)
class GetDiagnosticsAnswered:
    """How our GetDiagnostics (or GetLog) of a request ended (``outcome`` None: not connected)."""

    request_id: str
    station_id: str
    outcome: CommandOutcome | None


def answered(
    state: State, answer: UpdateFirmwareAnswered | GetDiagnosticsAnswered, at_ms: int
) -> Decision[None, FirmwareEvent]:
    """The outcome of a CALL the driver sent, recorded at ``at_ms``."""
    error = describe(answer.outcome)
    if isinstance(answer, UpdateFirmwareAnswered):
        # UpdateFirmware.conf is empty; SignedUpdateFirmware.conf has a status (whitepaper 5.22).
        status = answer_of(answer.outcome).get("status") if error is None else None
        if isinstance(status, str) and status not in UPDATE_ACCEPTED:
            error = status
        return None, [dispatch_outcome(state, answer.campaign_id, answer.station_id, error, at_ms)]
    diag = state.diagnostics.get(answer.request_id)
    is_log = diag is not None and diag.log_type is not None
    body = answer_of(answer.outcome) if error is None else {}
    # GetDiagnostics.conf fileName (OCPP 1.6 6.26); GetLog.conf status and filename (whitepaper 5.10).
    name = body.get("filename" if is_log else "fileName")
    status = body.get("status") if is_log else None
    event = DiagnosticsAnswered(
        request_id=answer.request_id,
        station_id=answer.station_id,
        file_name=name if isinstance(name, str) else None,
        error=error,
        status=status if isinstance(status, str) else None,
        at_ms=at_ms,
    )
    return None, [event]


@dataclass(frozen=True)
class Uploaded:
    """A diagnostics file a station uploaded, now in the storage."""

    request_id: str
    file_name: str
    stored: Stored
    via: str  # "http" or "ftp"


def uploaded(state: State, upload: Uploaded, at_ms: int) -> Decision[None, DiagnosticsFileStored]:
    """A stored upload of a known request is recorded; one of an unknown request is not."""
    diag = state.diagnostics.get(upload.request_id)
    if diag is None:
        return None, []
    stored = upload.stored
    event = DiagnosticsFileStored(
        request_id=diag.request_id,
        station_id=diag.station_id,
        file_name=upload.file_name,
        size=stored.size,
        sha256=stored.sha256,
        storage_key=stored.key,
        via=upload.via,
        at_ms=at_ms,
    )
    return None, [event]


def describe(outcome: CommandOutcome | None) -> str | None:
    """None when the station answered with a CALLRESULT, else why the CALL did not work (None:
    the CALL could not be sent, the station is not connected)."""
    if outcome is None or outcome.status is OutcomeStatus.UNDELIVERABLE:
        return NOT_CONNECTED
    if outcome.status is OutcomeStatus.RESULT:
        return None
    if outcome.status is OutcomeStatus.ERROR:
        return f"CallError {outcome.error_code}: {outcome.error_description or ''}".strip()
    return f"{outcome.status.value.capitalize()}: {outcome.error_description or 'no answer'}"


def answer_of(outcome: CommandOutcome | None) -> dict[str, object]:
    """A CALLRESULT's payload as a JSON object ({} when it is none)."""
    raw = bytes(outcome.payload) if outcome is not None else b""
    answer = msgspec.json.decode(raw) if raw else None
    return answer if isinstance(answer, dict) else {}


# -- the rules ----------------------------------------------------------------------------------------


def expected_version(state: State, campaign: Campaign) -> str | None:
    image = state.images.get(campaign.image_id)
    return image.version if image is not None else None


def _verdict(state: State, campaign: Campaign, run: StationRun, at_ms: int) -> StationFinished | None:
    """How an installed update ended, once the booted version tells; None while it is still open."""
    wanted = expected_version(state, campaign)
    if wanted is not None and run.booted_version is None:
        return None  # installed; the reboot will tell which version runs
    reason = None
    if wanted is not None and run.booted_version != wanted:
        reason = f"VersionMismatch: booted {run.booted_version!r}, expected {wanted!r}"
    return StationFinished(
        campaign_id=campaign.campaign_id,
        station_id=run.station_id,
        succeeded=reason is None,
        reason=reason,
        at_ms=at_ms,
    )


def on_firmware_status(state: State, station_id: str, status: str, at_ms: int) -> list[FirmwareEvent]:
    """A FirmwareStatusNotification or SignedFirmwareStatusNotification from a station with an
    update in progress (its requestId is not needed: a station has one update at a time)."""
    events: list[FirmwareEvent] = []
    for campaign, run in state.active_runs(station_id, at_ms):
        cid = campaign.campaign_id
        events.append(StationProgress(campaign_id=cid, station_id=station_id, status=status, at_ms=at_ms))
        if status in FAILED_STATUSES:
            events.append(
                StationFinished(
                    campaign_id=cid, station_id=station_id, succeeded=False, reason=status, at_ms=at_ms
                )
            )
        elif status == "Installed" and (verdict := _verdict(state, campaign, run, at_ms)) is not None:
            events.append(verdict)
    return events


def on_boot(state: State, station_id: str, firmware_version: str | None, at_ms: int) -> list[FirmwareEvent]:
    """A BootNotification: the version it reports confirms (or refutes) an installed update."""
    events: list[FirmwareEvent] = []
    for campaign, run in state.active_runs(station_id, at_ms):
        cid = campaign.campaign_id
        events.append(
            StationProgress(
                campaign_id=cid,
                station_id=station_id,
                status="Booted",
                firmware_version=firmware_version,
                at_ms=at_ms,
            )
        )
        if run.step is Step.INSTALLED:
            booted = StationRun(run.station_id, run.batch, run.step, booted_version=firmware_version)
            verdict = _verdict(state, campaign, booted, at_ms)
            if verdict is not None:
                events.append(verdict)
    return events


def on_diagnostics_status(state: State, station_id: str, status: str, at_ms: int) -> list[FirmwareEvent]:
    """A DiagnosticsStatusNotification: about the station's newest diagnostics request, if any."""
    request_id = state.latest_diagnostics.get(station_id)
    if request_id is None or not state.diagnostics[request_id].sent:
        return []
    if status == "Idle" and state.diagnostics[request_id].status in ("Uploaded", "UploadFailed"):
        return []  # a triggered "not busy" after the upload ended says nothing about this request
    return [DiagnosticsStatus(request_id=request_id, station_id=station_id, status=status, at_ms=at_ms)]


def on_log_status(
    state: State, station_id: str, log_request_id: int | None, status: str, at_ms: int
) -> list[FirmwareEvent]:
    """A LogStatusNotification (whitepaper 5.13): about the GetLog with its requestId. One without
    a requestId (the answer to a TriggerMessage, "Idle" when no upload runs) names no request."""
    request_id = state.log_requests.get((station_id, log_request_id)) if log_request_id is not None else None
    if request_id is None or not state.diagnostics[request_id].sent:
        return []
    return [DiagnosticsStatus(request_id=request_id, station_id=station_id, status=status, at_ms=at_ms)]


def tick(
    state: State,
    now_ms: int,
    station_timeout_ms: int,
    connected: Callable[[str], bool] = lambda _: False,
    answer_allowance_ms: int = 0,
) -> list[FirmwareEvent]:
    """What time demands: silent stations time out, waiting ones give up or go when connected,
    batches advance, campaigns pause or finish.

    ``StationDispatched`` / ``DiagnosticsSent`` events in the result are the CALLs to send now.
    ``connected`` says whether a station has a live connection now (waiting stations are sent then).
    """
    events: list[FirmwareEvent] = []
    for campaign in state.campaigns.values():
        if campaign.status is CampaignStatus.COMPLETED:
            continue
        finished: dict[str, Step] = {}
        for run in campaign.stations.values():
            last = run.last_activity_ms if run.last_activity_ms is not None else now_ms
            reason = None
            allowed = station_timeout_ms + (answer_allowance_ms if run.awaiting_answer else 0)
            if run.step in ACTIVE and now_ms - last > allowed:
                reason = f"Timeout: no news for {(now_ms - last) // 1000}s (in {run.step.value})"
            elif run.step is Step.WAITING and now_ms > (run.waiting_until_ms or now_ms):
                reason = f"Offline: not connected within {campaign.policy.offline_wait_s:g}s"
            if reason is not None:
                events.append(
                    StationFinished(
                        campaign_id=campaign.campaign_id,
                        station_id=run.station_id,
                        succeeded=False,
                        reason=reason,
                        at_ms=now_ms,
                    )
                )
                finished[run.station_id] = Step.FAILED
        if campaign.status is CampaignStatus.RUNNING:
            events += _rollout(campaign, finished, now_ms, connected)
        elif campaign.status is CampaignStatus.PAUSED and all(
            finished.get(r.station_id, r.step) in TERMINAL for r in campaign.stations.values()
        ):
            # Paused on its last batch's failures: nothing is left to hold back.
            events.append(CampaignFinished(campaign_id=campaign.campaign_id, at_ms=now_ms))
    for diag in state.diagnostics.values():
        if not diag.sent:
            events.append(
                DiagnosticsSent(request_id=diag.request_id, station_id=diag.station_id, at_ms=now_ms)
            )
    return events


def _rollout(
    campaign: Campaign, finished: dict[str, Step], now_ms: int, connected: Callable[[str], bool]
) -> list[FirmwareEvent]:
    def step(run: StationRun) -> Step:
        return finished.get(run.station_id, run.step)

    runs = list(campaign.stations.values())
    cid = campaign.campaign_id
    if all(step(r) in TERMINAL for r in runs):
        return [CampaignFinished(campaign_id=cid, at_ms=now_ms)]
    # Waiting (offline) stations do not hold up their batch; the batches after run meanwhile.
    open_batches = [r.batch for r in runs if step(r) not in TERMINAL and step(r) is not Step.WAITING]
    current = min(open_batches, default=max(r.batch for r in runs) + 1)
    policy = campaign.policy
    for batch in range(campaign.cleared_through + 1, current + 1):
        members = [r for r in runs if r.batch == batch]
        failed = sum(1 for r in members if step(r) is Step.FAILED)
        if members and failed / len(members) > policy.failure_threshold:
            reason = (
                f"failure rate of batch {batch} is {failed}/{len(members)}, "
                f"above the threshold {policy.failure_threshold:g}"
            )
            return [CampaignPaused(campaign_id=cid, reason=reason, batch=batch, at_ms=now_ms)]
    in_flight = sum(1 for r in runs if step(r) in ACTIVE)
    free = policy.max_in_flight - in_flight
    events: list[FirmwareEvent] = []
    for run in runs:
        if free <= 0:
            break
        due = run.batch == current and step(run) is Step.PENDING
        back = step(run) is Step.WAITING and connected(run.station_id)
        if due or back:
            events.append(StationDispatched(campaign_id=cid, station_id=run.station_id, at_ms=now_ms))
            free -= 1
    return events


def dispatch_outcome(
    state: State, campaign_id: str, station_id: str, error: str | None, at_ms: int
) -> FirmwareEvent:
    """The station's answer to UpdateFirmware: accepted (a sign of life), not delivered because the
    station is not connected (it waits for it, within the policy's offline wait), or why it failed."""
    if error is None:
        return StationProgress(campaign_id=campaign_id, station_id=station_id, status="Accepted", at_ms=at_ms)
    campaign = state.campaigns.get(campaign_id)
    if error == NOT_CONNECTED and campaign is not None:
        run = campaign.stations.get(station_id)
        until = run.waiting_until_ms if run is not None and run.waiting_until_ms else None
        return StationWaiting(
            campaign_id=campaign_id,
            station_id=station_id,
            reason=NOT_CONNECTED,
            until_ms=until or at_ms + int(campaign.policy.offline_wait_s * 1000),
            at_ms=at_ms,
        )
    return StationFinished(
        campaign_id=campaign_id, station_id=station_id, succeeded=False, reason=error, at_ms=at_ms
    )

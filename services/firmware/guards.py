"""What an operator may do with campaigns and diagnostics requests, and in which state: pure
checks of an intent before the API records it (the firmware service then acts on the event).

Each check returns why the intent is refused, or None when it may go ahead; the operator API turns
a refusal into its error response. The state machine they guard is ``state.evolve``'s.
"""

from __future__ import annotations

from typing import Literal, TypeGuard

from services.firmware.events import CampaignAborted, CampaignPaused, CampaignResumed, Policy
from services.firmware.state import CampaignStatus

Control = Literal["pause", "resume", "abort"]

# An operator's control: the campaign statuses it applies to.
CONTROLS: dict[Control, tuple[CampaignStatus, ...]] = {
    "pause": (CampaignStatus.RUNNING,),
    "resume": (CampaignStatus.PAUSED,),
    "abort": (CampaignStatus.RUNNING, CampaignStatus.PAUSED),
}

# Targets are resolved once, at creation, into the campaign's fixed station list.
MAX_TARGETS = 100_000


def is_control(action: str) -> TypeGuard[Control]:
    return action in CONTROLS


def control_refusal(action: Control, status: str) -> str | None:
    """Pause a running campaign, resume a paused one, abort either; nothing else."""
    if status in CONTROLS[action]:
        return None
    return f"cannot {action} a campaign that is {status}"


def control_event(
    action: Control, campaign_id: str, at_ms: int
) -> CampaignPaused | CampaignResumed | CampaignAborted:
    """The event that records an allowed control."""
    if action == "pause":
        return CampaignPaused(campaign_id=campaign_id, reason="paused by the operator", at_ms=at_ms)
    if action == "resume":
        return CampaignResumed(campaign_id=campaign_id, at_ms=at_ms)
    return CampaignAborted(campaign_id=campaign_id, at_ms=at_ms)


def policy_refusal(policy: Policy) -> str | None:
    """A rollout policy the driver can follow: batches and in-flight of at least one station, a
    failure threshold that is a fraction, no negative offline wait."""
    if policy.batch_size < 1 or policy.max_in_flight < 1:
        return "batchSize and maxInFlight must be at least 1"
    if not 0 <= policy.failure_threshold <= 1:
        return "failureThreshold is a fraction in [0, 1]"
    if policy.offline_wait_s < 0:
        return "offlineWaitSeconds must not be negative"
    return None


def targets_refusal(count: int) -> tuple[str, str] | None:
    """A campaign targets at least one station and at most :data:`MAX_TARGETS`: (code, why)."""
    if count == 0:
        return "NoTargets", "no station matches the campaign's target"
    if count > MAX_TARGETS:
        return "TooManyTargets", f"at most {MAX_TARGETS} stations per campaign"
    return None


def transport_refusal(transport: str, ftp_port: int) -> str | None:
    """FTP locations only when the FTP server runs."""
    if transport == "ftp" and ftp_port < 0:
        return "FTP is switched off (CSMS_FILES_FTP_PORT=-1)"
    return None


def retries_refusal(retries: int | None, retry_interval: int | None) -> tuple[str, str] | None:
    """UpdateFirmware / GetDiagnostics retries and retryInterval are counts (OCPP 1.6 6.25, 6.55):
    (field, why)."""
    for name, value in (("retries", retries), ("retryInterval", retry_interval)):
        if value is not None and value < 0:
            return name, f"{name} must not be negative"
    return None

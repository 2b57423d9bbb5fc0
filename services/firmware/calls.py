"""The payloads of the CALLs the campaign driver sends, built from the state alone (pure)."""

from __future__ import annotations

from services.firmware.state import Campaign, Diagnostics, Image


def update_firmware(campaign: Campaign, location: str, now_iso: str) -> dict[str, object]:
    """UpdateFirmware.req (OCPP 1.6 6.55): retrieveDate is required; without one in the campaign
    the station may fetch at once (``now_iso``)."""
    payload: dict[str, object] = {"location": location, "retrieveDate": campaign.retrieve_date or now_iso}
    if campaign.retries is not None:
        payload["retries"] = campaign.retries
    if campaign.retry_interval is not None:
        payload["retryInterval"] = campaign.retry_interval
    return payload


def signed_update_firmware(
    campaign: Campaign, image: Image, location: str, now_iso: str
) -> dict[str, object]:
    """SignedUpdateFirmware.req (whitepaper 5.21, 6.7 FirmwareType): the image's signing certificate
    and signature as checked when it was uploaded; retrieveDateTime as UpdateFirmware's retrieveDate."""
    firmware: dict[str, object] = {
        "location": location,
        "retrieveDateTime": campaign.retrieve_date or now_iso,
        "signingCertificate": image.signing_certificate,
        "signature": image.signature,
    }
    payload: dict[str, object] = {"requestId": campaign.request_id or 0, "firmware": firmware}
    if campaign.retries is not None:
        payload["retries"] = campaign.retries
    if campaign.retry_interval is not None:
        payload["retryInterval"] = campaign.retry_interval
    return payload


def get_diagnostics(diag: Diagnostics, location: str) -> dict[str, object]:
    """GetDiagnostics.req (OCPP 1.6 6.25): the optional fields only when the request gave them."""
    payload: dict[str, object] = {"location": location}
    optional = {
        "startTime": diag.start_time,
        "stopTime": diag.stop_time,
        "retries": diag.retries,
        "retryInterval": diag.retry_interval,
    }
    payload.update({k: v for k, v in optional.items() if v is not None})
    return payload


def get_log(diag: Diagnostics, location: str) -> dict[str, object]:
    """GetLog.req (whitepaper 5.9, 6.12 LogParametersType): the optional fields only when given."""
    log: dict[str, object] = {"remoteLocation": location}
    window = {"oldestTimestamp": diag.start_time, "latestTimestamp": diag.stop_time}
    log.update({k: v for k, v in window.items() if v is not None})
    payload: dict[str, object] = {"logType": diag.log_type, "requestId": diag.log_request_id, "log": log}
    retry = {"retries": diag.retries, "retryInterval": diag.retry_interval}
    payload.update({k: v for k, v in retry.items() if v is not None})
    return payload

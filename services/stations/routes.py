"""The stations service's route table: which station CALLs it answers, and with which module.

One module per action under ``handlers/``; each decides in the one shape (shared/decision.py):
``handle(state, request, ctx) -> (response, events)``, pure with respect to the state, the request
and the context (clock, settings, connection and registration injected through ``Context``). Only
BootNotification decides an event (the station's presence with its registration status).
"""

from __future__ import annotations

from collections.abc import Mapping

from services.stations.context import Context
from services.stations.handlers import (
    boot_notification,
    data_transfer,
    diagnostics_status_notification,
    firmware_status_notification,
    log_status_notification,
    security_event_notification,
    sign_certificate,
    signed_firmware_status_notification,
    status_notification,
)
from services.stations.state import State, StationEvent
from shared.ocpp.v16.messages import (
    BootNotificationRequest,
    BootNotificationResponse,
    DataTransferRequest,
    DataTransferResponse,
    DiagnosticsStatusNotificationRequest,
    DiagnosticsStatusNotificationResponse,
    FirmwareStatusNotificationRequest,
    FirmwareStatusNotificationResponse,
    LogStatusNotificationRequest,
    LogStatusNotificationResponse,
    SecurityEventNotificationRequest,
    SecurityEventNotificationResponse,
    SignCertificateRequest,
    SignCertificateResponse,
    SignedFirmwareStatusNotificationRequest,
    SignedFirmwareStatusNotificationResponse,
    StatusNotificationRequest,
    StatusNotificationResponse,
)
from shared.routes import ActionRoute, route

ROUTES: Mapping[str, ActionRoute[State, Context, StationEvent]] = {
    "BootNotification": route(BootNotificationRequest, BootNotificationResponse, boot_notification.handle),
    "StatusNotification": route(
        StatusNotificationRequest, StatusNotificationResponse, status_notification.handle
    ),
    "DataTransfer": route(DataTransferRequest, DataTransferResponse, data_transfer.handle),
    # Answered here until the firmware service owns them (issue 7): the .conf is empty either way.
    "FirmwareStatusNotification": route(
        FirmwareStatusNotificationRequest,
        FirmwareStatusNotificationResponse,
        firmware_status_notification.handle,
    ),
    "DiagnosticsStatusNotification": route(
        DiagnosticsStatusNotificationRequest,
        DiagnosticsStatusNotificationResponse,
        diagnostics_status_notification.handle,
    ),
    # The security extension's notifications (whitepaper chapter 5).
    "SecurityEventNotification": route(
        SecurityEventNotificationRequest,
        SecurityEventNotificationResponse,
        security_event_notification.handle,
    ),
    "SignCertificate": route(SignCertificateRequest, SignCertificateResponse, sign_certificate.handle),
    "LogStatusNotification": route(
        LogStatusNotificationRequest, LogStatusNotificationResponse, log_status_notification.handle
    ),
    "SignedFirmwareStatusNotification": route(
        SignedFirmwareStatusNotificationRequest,
        SignedFirmwareStatusNotificationResponse,
        signed_firmware_status_notification.handle,
    ),
}

"""The security events of the 1.6 security extension and which are critical (whitepaper edition 2,
section 8 "Security Events"). A station pushes the critical ones with SecurityEventNotification
(A04.FR.01); it may send others too, and vendor-specific types (the type is a free string of up to
50 characters), which are stored like any other and are not critical."""

from __future__ import annotations

# type -> critical (whitepaper section 8, the table's CRITICAL column)
SECURITY_EVENTS: dict[str, bool] = {
    "FirmwareUpdated": True,
    "FailedToAuthenticateAtCentralSystem": False,
    "CentralSystemFailedToAuthenticate": False,
    "SettingSystemTime": True,
    "StartupOfTheDevice": True,
    "ResetOrReboot": True,
    "SecurityLogWasCleared": True,
    "ReconfigurationOfSecurityParameters": False,
    "MemoryExhaustion": True,
    "InvalidMessages": False,
    "AttemptedReplayAttacks": False,
    "TamperDetectionActivated": True,
    "InvalidFirmwareSignature": False,
    "InvalidFirmwareSigningCertificate": False,
    "InvalidCentralSystemCertificate": False,
    "InvalidChargePointCertificate": False,
    "InvalidTLSVersion": False,
    "InvalidTLSCipherSuite": False,
}


def is_critical(event_type: str) -> bool:
    return SECURITY_EVENTS.get(event_type, False)

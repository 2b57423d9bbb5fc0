"""The security events of the whitepaper's section 8 and their criticality."""

from __future__ import annotations

from shared.ocpp.v16.security_events import SECURITY_EVENTS, is_critical


def test_criticality_is_the_whitepapers_and_unknown_types_are_not_critical() -> None:
    assert is_critical("TamperDetectionActivated") and is_critical("FirmwareUpdated")
    assert not is_critical("InvalidMessages") and not is_critical("FailedToAuthenticateAtCentralSystem")
    assert not is_critical("AcmeDoorSensor")  # vendor-specific: stored, not critical
    assert len(SECURITY_EVENTS) == 18 and sum(SECURITY_EVENTS.values()) == 7

"""The checks a charging profile must pass before it is sent, as pure rules."""

from __future__ import annotations

import msgspec

from shared.ocpp.v16.messages import ChargingProfile
from shared.smartcharging.validation import Facts, allowed_units, check_profile


def make(
    purpose: str = "TxDefaultProfile",
    *,
    stack: int = 0,
    unit: str = "A",
    starts: tuple[int, ...] = (0,),
    **extra: object,
) -> ChargingProfile:
    raw = {
        "chargingProfileId": 1,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [{"startPeriod": s, "limit": 6.0} for s in starts],
        },
        **extra,
    }
    return msgspec.json.decode(msgspec.json.encode(raw), type=ChargingProfile)


NOTHING_KNOWN = Facts()


def fields(connector: int, profile: ChargingProfile, facts: Facts = NOTHING_KNOWN) -> list[str]:
    return [v.field for v in check_profile(connector, profile, facts)]


def test_a_valid_default_profile_passes() -> None:
    assert fields(1, make()) == []
    assert fields(0, make("ChargePointMaxProfile")) == []


def test_charge_point_max_only_on_connector_zero() -> None:
    assert fields(1, make("ChargePointMaxProfile")) == ["connectorId"]


def test_tx_profile_needs_the_running_transaction() -> None:
    assert fields(1, make("TxProfile")) == ["connectorId"]
    assert fields(0, make("TxProfile"), Facts(running_transaction=5)) == ["connectorId"]
    assert fields(1, make("TxProfile"), Facts(running_transaction=5)) == []
    assert fields(1, make("TxProfile", transactionId=6), Facts(running_transaction=5)) == [
        "csChargingProfiles.transactionId"
    ]
    assert fields(1, make(transactionId=6)) == ["csChargingProfiles.transactionId"]


def test_periods_start_at_zero_and_increase() -> None:
    assert fields(1, make(starts=(10,))) == ["csChargingProfiles.chargingSchedule.chargingSchedulePeriod"]
    assert fields(1, make(starts=(0, 60, 60))) == [
        "csChargingProfiles.chargingSchedule.chargingSchedulePeriod"
    ]
    assert fields(1, make(starts=(0, 60, 120))) == []


def test_station_limits_apply_only_when_known() -> None:
    assert fields(1, make(stack=9)) == []
    assert fields(1, make(stack=9), Facts(max_stack_level=8)) == ["csChargingProfiles.stackLevel"]
    assert fields(1, make(unit="W"), Facts(allowed_units=allowed_units("Current"))) == [
        "csChargingProfiles.chargingSchedule.chargingRateUnit"
    ]
    assert fields(1, make(unit="W"), Facts(allowed_units=allowed_units("Current,Power"))) == []


def test_recurring_needs_its_kind_and_validity_must_be_ordered() -> None:
    assert fields(1, make(chargingProfileKind="Recurring")) == ["csChargingProfiles.recurrencyKind"]
    profile = make(validFrom="2026-01-02T00:00:00Z", validTo="2026-01-01T00:00:00Z")
    assert fields(1, profile) == ["csChargingProfiles.validTo"]


def test_allowed_units_parses_the_configuration_value() -> None:
    assert allowed_units(None) is None
    assert allowed_units("Current") == frozenset({"A"})
    assert allowed_units("Current, Power") == frozenset({"A", "W"})

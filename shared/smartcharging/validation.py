"""Checks a charging profile must pass before it is sent (OCPP 1.6 3.13 and 7.x), as pure functions.

Everything the rules need is given as ``Facts`` (the station's reported configuration and the
transaction running on the connector), so the API can gather them and the rules stay testable.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

from shared.ocpp.v16.messages import ChargingProfile


@dataclass(frozen=True)
class Facts:
    # From GetConfiguration answers; None when the station never reported them.
    max_stack_level: int | None = None
    allowed_units: frozenset[str] | None = None  # {"A"}, {"W"} or both ("Current,Power")
    # The transaction running on the profile's connector, if any.
    running_transaction: int | None = None


@dataclass(frozen=True)
class Violation:
    field: str
    reason: str


def allowed_units(configured: str | None) -> frozenset[str] | None:
    """ChargingScheduleAllowedChargingRateUnit "Current,Power" -> {"A", "W"}."""
    if configured is None:
        return None
    names = {part.strip() for part in configured.split(",")}
    return frozenset(u for name, u in (("Current", "A"), ("Power", "W")) if name in names)


def check_profile(connector_id: int, profile: ChargingProfile, facts: Facts) -> list[Violation]:
    found: list[Violation] = []
    purpose = profile.charging_profile_purpose
    if purpose == "ChargePointMaxProfile" and connector_id != 0:
        found.append(Violation("connectorId", "a ChargePointMaxProfile can only be set on connector 0"))
    if purpose == "TxProfile":
        if connector_id == 0:
            found.append(Violation("connectorId", "a TxProfile needs a connector (not 0)"))
        elif facts.running_transaction is None:
            found.append(Violation("connectorId", f"no transaction is running on connector {connector_id}"))
        elif isinstance(profile.transaction_id, int) and profile.transaction_id != facts.running_transaction:
            found.append(
                Violation(
                    "csChargingProfiles.transactionId",
                    f"transaction {profile.transaction_id} is not the one running "
                    f"on connector {connector_id} ({facts.running_transaction})",
                )
            )
    elif isinstance(profile.transaction_id, int):
        found.append(Violation("csChargingProfiles.transactionId", "only a TxProfile may name a transaction"))
    if profile.charging_profile_kind == "Recurring" and not isinstance(profile.recurrency_kind, str):
        found.append(
            Violation("csChargingProfiles.recurrencyKind", "a Recurring profile needs recurrencyKind")
        )
    periods = profile.charging_schedule.charging_schedule_period
    starts = [p.start_period for p in periods]
    if not starts or starts[0] != 0:
        found.append(
            Violation(
                "csChargingProfiles.chargingSchedule.chargingSchedulePeriod",
                "the first period must start at 0",
            )
        )
    if any(b <= a for a, b in itertools.pairwise(starts)):
        found.append(
            Violation(
                "csChargingProfiles.chargingSchedule.chargingSchedulePeriod",
                "startPeriod values must increase",
            )
        )
    if any(p.limit < 0 for p in periods):
        found.append(
            Violation(
                "csChargingProfiles.chargingSchedule.chargingSchedulePeriod", "a limit cannot be negative"
            )
        )
    if profile.stack_level < 0:
        found.append(Violation("csChargingProfiles.stackLevel", "stackLevel cannot be negative"))
    elif facts.max_stack_level is not None and profile.stack_level > facts.max_stack_level:
        found.append(
            Violation(
                "csChargingProfiles.stackLevel",
                f"stackLevel {profile.stack_level} is above the station's ChargeProfileMaxStackLevel {facts.max_stack_level}",
            )
        )
    unit = profile.charging_schedule.charging_rate_unit
    if facts.allowed_units is not None and unit not in facts.allowed_units:
        found.append(
            Violation(
                "csChargingProfiles.chargingSchedule.chargingRateUnit",
                f"the station only accepts {'/'.join(sorted(facts.allowed_units)) or 'no'} schedules",
            )
        )
    vf, vt = profile.valid_from, profile.valid_to
    if isinstance(vf, datetime) and isinstance(vt, datetime) and vt <= vf:
        found.append(Violation("csChargingProfiles.validTo", "validTo must be after validFrom"))
    return found

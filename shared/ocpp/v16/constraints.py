"""Schema constraints msgspec cannot express, used by the generated messages.

``multipleOf 0.1`` (``limit``, ``minChargingRate``): floats cannot represent 0.1 exactly, so the check
is done on the shortest decimal text of the float, which is the text the station sent for any
number with up to 15 significant digits.
"""

from __future__ import annotations

from decimal import Decimal

from msgspec import UnsetType

# OCPP-J "integer" ids (transactionId, reservationId, connectorId, ...) are int32 on real stations and
# in the read models (PostgreSQL int); ADR 0017.
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
# meterStart/meterStop: Wh register readings, stored as bigint.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

DECIMAL_MULTIPLE_OF = "decimal_multiple_of"  # key in Meta(extra=...) read by the codec's diagnosis


def is_multiple(value: float, step: str) -> bool:
    return Decimal(repr(float(value))) % Decimal(step) == 0


def check_multiple(value: float | UnsetType, step: str, name: str) -> None:
    if isinstance(value, UnsetType):
        return
    if not is_multiple(value, step):
        raise ValueError(f"`{name}` must be a multiple of {step}")

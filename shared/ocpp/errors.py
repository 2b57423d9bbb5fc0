"""The OCPP-J 1.6 CALLERROR vocabulary.

The spellings are the 1.6 ones on purpose (OCPP-J errata 5.1/5.2): ``FormationViolation`` and
``OccurenceConstraintViolation``. 2.0.1 renamed them; a 1.6 station must never see the new names.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Every error code OCPP-J 1.6 (table 7) allows in a CALLERROR."""

    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"
    FORMATION_VIOLATION = "FormationViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    GENERIC_ERROR = "GenericError"


class OcppError(Exception):
    """A failure that is answered to the peer as a CALLERROR instead of crashing the connection.

    ``details`` becomes the CALLERROR's errorDetails object; it must be JSON-serialisable and is ``{}``
    when there is nothing to add (OCPP-J 4.2.3 forbids null there).
    """

    def __init__(self, code: ErrorCode, description: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details: dict[str, Any] = details if details is not None else {}

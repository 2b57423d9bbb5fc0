"""Records on a gateway's inbox topic and on an API instance's replies topic.

Two things reach a gateway: a service's answer to a station's CALL (:class:`StationReply`) and an
operator command to send a CALL to a station (:class:`SendCall`). Both name the station and the
epoch of the connection they are meant for; the gateway delivers only to that very connection and
reports a :class:`~shared.events.envelope.DeliveryDropped` otherwise, so nothing reaches a newer
connection that did not ask for it and nothing is delivered twice.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec

from shared.events.versioned import Family, VersionedDecoder

NULL = msgspec.Raw(b"null")


class StationReply(msgspec.Struct, tag="reply", tag_field="type", kw_only=True, omit_defaults=True):
    """A service's CALLRESULT (``payload``) or CALLERROR (``error_code``) for a station's CALL."""

    v: int = 1
    station_id: str
    epoch: int
    unique_id: str
    action: str
    # msgspec.Raw cannot be optional; ``null`` stands for "no payload" (an error reply).
    payload: msgspec.Raw = NULL
    error_code: str | None = None
    error_description: str = ""
    error_details: dict[str, Any] | None = None


class SendCall(msgspec.Struct, tag="call", tag_field="type", kw_only=True, omit_defaults=True):
    """An operator command: send ``action`` to the station and report the outcome to ``reply_to``."""

    v: int = 1
    command_id: str
    station_id: str
    # The connection the caller saw; None = whatever connection the station has now.
    epoch: int | None = None
    action: str
    payload: msgspec.Raw
    reply_to: str
    # Unix ms after which the caller no longer waits: never send it to the station after that.
    deadline_ms: int


InboxRecord = StationReply | SendCall
INBOX = Family("csms.gateway")
inbox_decoder: VersionedDecoder[InboxRecord] = VersionedDecoder(INBOX, InboxRecord)


class OutcomeStatus(StrEnum):
    RESULT = "result"  # the station answered CALLRESULT
    ERROR = "error"  # the station answered CALLERROR
    # The station answered a CALLRESULT that is not a valid 1.6 response of the action (error_code and
    # error_description say why, error_details.response holds what it sent).
    INVALID = "invalid"
    TIMEOUT = "timeout"  # the station did not answer within the call timeout
    UNDELIVERABLE = "undeliverable"  # not connected (anymore) to the gateway the command went to
    EXPIRED = "expired"  # still queued when the caller's deadline passed: never sent
    REJECTED = "rejected"  # the station's outgoing queue was full
    # Not sent: OCPP 1.6 section 4.2 forbids this CALL in the station's registration status
    # (error_code StationPending / StationRejected says which).
    NOT_ALLOWED = "not_allowed"


class CommandOutcome(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Value on ``csms.replies.<instance>``: how an operator command ended."""

    v: int = 1
    command_id: str
    station_id: str
    status: OutcomeStatus
    payload: msgspec.Raw = NULL
    error_code: str | None = None
    error_description: str = ""
    error_details: dict[str, Any] | None = None
    at_ms: int = 0
    # UNDELIVERABLE only: the gateway never wrote the CALL to any socket (the addressed connection
    # was gone or replaced), so sending it again to the newer connection cannot run it twice.
    never_sent: bool = False


OUTCOMES = Family("csms.replies")
outcome_decoder = VersionedDecoder(OUTCOMES, CommandOutcome)

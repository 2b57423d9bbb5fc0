"""The one table of the 28 OCPP 1.6 actions: who sends the CALL, which types, which feature profile,
and, for a CALL a charge point sends, the one service (or the gateway) that answers it.

``MESSAGES`` (generated from the JSON schemas, tools/generate_ocpp16.py) gives the first four;
``STATION_CALL_OWNERS`` below is the hand-kept column. A station CALL without an owner is answered
NotImplemented by the gateway at once; tests/unit/ocpp/test_action_owners.py checks that every
station action has exactly one owner and that each service's route table is exactly its share.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import msgspec

from shared.ocpp.v16.messages import MESSAGES


class Initiator(StrEnum):
    CHARGE_POINT = "ChargePoint"
    CENTRAL_SYSTEM = "CentralSystem"


@dataclass(frozen=True)
class ActionSpec:
    name: str
    request: type[msgspec.Struct]
    response: type[msgspec.Struct]
    # Who may send the CALL; DataTransfer is the one action both sides send.
    initiators: frozenset[Initiator]
    profile: str
    # The service that answers this CALL when a charge point sends it (None: nobody, or CS-only).
    owner: str | None = None


def _initiators(who: str) -> frozenset[Initiator]:
    if who == "Both":
        return frozenset(Initiator)
    return frozenset({Initiator(who)})


# Which service answers each CALL a charge point sends (services/<owner>/routes.py); "gateway":
# the gateway itself, for a CALL whose answer needs no state and decides no event (ADR 0044).
STATION_CALL_OWNERS: Mapping[str, str] = {
    "Authorize": "transactions",
    "BootNotification": "stations",
    "DataTransfer": "stations",
    "DiagnosticsStatusNotification": "stations",
    "FirmwareStatusNotification": "stations",
    "Heartbeat": "gateway",  # no state, no event: answered where it arrives (ADR 0044)
    "LogStatusNotification": "stations",
    "MeterValues": "transactions",
    "SecurityEventNotification": "stations",
    "SignCertificate": "stations",
    "SignedFirmwareStatusNotification": "stations",
    "StartTransaction": "transactions",
    "StatusNotification": "stations",
    "StopTransaction": "transactions",
}

# Station CALLs this central system recognises and does not serve (yet), and why: the gateway
# answers them NotSupported at once (OCPP-J 4.2.3). Each is work left (docs/security.md).
NOT_SUPPORTED: Mapping[str, str] = {}

ACTIONS: Mapping[str, ActionSpec] = {
    name: ActionSpec(name, request, response, _initiators(who), profile, STATION_CALL_OWNERS.get(name))
    for name, request, response, who, profile in MESSAGES
}


def owned_by(service: str) -> frozenset[str]:
    """The station CALLs ``service`` answers."""
    return frozenset(a for a, s in ACTIONS.items() if s.owner == service)


def spec_for(action: str, sender: Initiator) -> ActionSpec | None:
    """The action when ``sender`` may send it as a CALL, else None (unknown or wrong direction)."""
    spec = ACTIONS.get(action)
    return spec if spec is not None and sender in spec.initiators else None

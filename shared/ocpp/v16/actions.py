"""The registry of the 28 OCPP 1.6 actions: who sends the CALL, which types, which feature profile."""

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


def _initiators(who: str) -> frozenset[Initiator]:
    if who == "Both":
        return frozenset(Initiator)
    return frozenset({Initiator(who)})


ACTIONS: Mapping[str, ActionSpec] = {
    name: ActionSpec(name, request, response, _initiators(who), profile)
    for name, request, response, who, profile in MESSAGES
}


def spec_for(action: str, sender: Initiator) -> ActionSpec | None:
    """The action when ``sender`` may send it as a CALL, else None (unknown or wrong direction)."""
    spec = ACTIONS.get(action)
    return spec if spec is not None and sender in spec.initiators else None

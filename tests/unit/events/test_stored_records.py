"""Every record ever written keeps decoding: the stored records of each family and version.

``records/<family>-v<N>.json`` holds records as the encoders of version N wrote them (``record``)
and what they decode to today (``decoded``, the current Struct as JSON). They are never edited:
a new version of a record type adds a file (and an upcaster, shared/events/versioned.py); a change
that makes an old file fail to decode to its ``decoded`` value breaks a reader of the real log.
The version-1 files were captured from the encoders of version 1 (main at 5582ee9, before
FrameRecord v2), ``ocpp.frames-v2`` from the gateway's of today.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from services.firmware.events import FIRMWARE
from services.firmware.events import event_decoder as firmware_decoder
from services.locallists.definitions import DEFINITIONS, definition_decoder
from services.locallists.events import PUSHES, push_decoder
from services.smartcharging.events import SMARTCHARGING
from services.smartcharging.events import event_decoder as smartcharging_decoder
from services.transactions.events import event_decoder as transactions_decoder
from shared.events.apitokens import API_TOKENS, AUDIT, api_token_decoder, audit_decoder
from shared.events.commands import INBOX, OUTCOMES, inbox_decoder, outcome_decoder
from shared.events.deadletters import DEAD_LETTERS, decode_dead_letter
from shared.events.envelope import (
    FRAMES,
    PRESENCE,
    REGISTRATIONS,
    decode_frame_record,
    presence_decoder,
    registration_decoder,
)
from shared.events.families import TRANSACTIONS
from shared.events.idtags import ID_TAGS, id_tag_decoder
from shared.events.security import SECURITY, security_decoder
from shared.events.sites import SITES, site_decoder
from shared.events.versioned import Family
from shared.reservations.events import RESERVATIONS, decode_event

RECORDS = Path(__file__).parent / "records"

# Every record family and how its readers decode it.
DECODERS: dict[Family, Callable[[bytes], object]] = {
    FRAMES: decode_frame_record,
    PRESENCE: presence_decoder.decode,
    REGISTRATIONS: registration_decoder.decode,
    SECURITY: security_decoder.decode,
    ID_TAGS: id_tag_decoder.decode,
    SITES: site_decoder.decode,
    TRANSACTIONS: transactions_decoder.decode,
    RESERVATIONS: decode_event,
    FIRMWARE: firmware_decoder.decode,
    SMARTCHARGING: smartcharging_decoder.decode,
    PUSHES: push_decoder.decode,
    DEFINITIONS: definition_decoder.decode,
    INBOX: inbox_decoder.decode,
    OUTCOMES: outcome_decoder.decode,
    DEAD_LETTERS: decode_dead_letter,
    API_TOKENS: api_token_decoder.decode,
    AUDIT: audit_decoder.decode,
}
BY_NAME = {family.name: decode for family, decode in DECODERS.items()}


def as_json(value: object) -> Any:
    """A decoded record as plain JSON values, to compare with the stored expectation."""
    return msgspec.json.decode(msgspec.json.encode(value))


def stored() -> list[Any]:
    """One pytest case per stored record: (family, version, entry)."""
    cases = []
    for path in sorted(RECORDS.glob("*.json")):
        family, _, version = path.stem.rpartition("-v")
        for i, entry in enumerate(json.loads(path.read_text())):
            cases.append(pytest.param(family, int(version), entry, id=f"{path.stem}[{i}]"))
    return cases


@pytest.mark.parametrize(("family", "version", "entry"), stored())
def test_stored_record_decodes_to_the_current_value(family: str, version: int, entry: dict[str, Any]) -> None:
    record = msgspec.json.encode(entry["record"])
    assert as_json(BY_NAME[family](record)) == entry["decoded"]


def test_every_family_has_stored_records_of_every_version() -> None:
    files = {path.stem for path in RECORDS.glob("*.json")}
    for family in DECODERS:
        versions = {1} | {n + 1 for (_, n) in family.upcasters}
        for n in versions:
            assert f"{family.name}-v{n}" in files, f"no stored records of {family.name} v{n}"


def test_a_version_1_frame_is_upcast_like_the_gateway_writes_version_2() -> None:
    """The real upcast: the v1 frames carry no payload; decoded, each equals its v2 twin."""
    v1 = json.loads((RECORDS / "ocpp.frames-v1.json").read_text())
    v2 = json.loads((RECORDS / "ocpp.frames-v2.json").read_text())
    frames_v1 = [e for e in v1 if e["record"]["type"] == "frame"]
    assert len(frames_v1) == len(v2)
    for old, new in zip(frames_v1, v2, strict=True):
        assert "payload" not in old["record"] and "v" not in old["record"]
        assert new["record"]["v"] == 2
        assert decode_frame_record(msgspec.json.encode(old["record"])) == decode_frame_record(
            msgspec.json.encode(new["record"])
        )
    with_payload = [e["decoded"] for e in v2 if "payload" in e["decoded"]]
    assert [d["unique_id"] for d in with_payload] == ["m1", "m2", "m3", "c9", "m4"]

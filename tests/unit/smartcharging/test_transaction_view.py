"""The site allocator's own view of ``transactions.events`` reads every stored record the way the
transactions service does, through the family's one definition (shared/events/families.py)."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from services.smartcharging.sites import _tx_decoder
from services.transactions.events import event_decoder
from shared.events.families import TRANSACTIONS

RECORDS = Path(__file__).parents[1] / "events" / "records"


def test_the_view_shares_the_owners_family_and_reads_its_stored_records() -> None:
    assert _tx_decoder.family is TRANSACTIONS is event_decoder.family
    stored = [
        msgspec.json.encode(entry["record"])
        for path in sorted(RECORDS.glob("transactions.events-v*.json"))
        for entry in json.loads(path.read_text())
    ]
    assert stored
    for raw in stored:
        owner, view = event_decoder.decode(raw), _tx_decoder.decode(raw)
        assert (view.transaction_id, view.station_id) == (owner.transaction_id, owner.station_id)

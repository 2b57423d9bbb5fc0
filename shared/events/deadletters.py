"""Records a projection could not apply, on ``csms.deadletters`` (docs/events.md, ADR 0018).

A projection that meets a record PostgreSQL refuses (a value out of range, a constraint it breaks)
writes it here with the reason and goes on: one bad record must not stop a read model for every
station. The record is carried byte for byte with its source position, so it can be replayed into
the projection once the cause is fixed (``DeadLetter.source`` names the exact offset).
"""

from __future__ import annotations

import msgspec

from shared.events.versioned import Family, VersionedDecoder


class DeadLetter(msgspec.Struct, tag="dead-letter", tag_field="type", kw_only=True, omit_defaults=True):
    """One record of ``topic``/``partition``/``offset`` that ``projection`` could not apply."""

    v: int = 1
    projection: str
    topic: str
    partition: int
    offset: int
    error: str  # the exception class and message: the reason, for the operator
    sqlstate: str | None = None  # PostgreSQL's error code when the database refused it
    timestamp_ms: int  # the source record's Kafka timestamp
    key: bytes | None = None  # base64 in JSON
    value: bytes  # base64 in JSON: the source record exactly


def encode_dead_letter(letter: DeadLetter) -> bytes:
    return msgspec.json.encode(letter)


DEAD_LETTERS = Family("csms.deadletters")
_decoder = VersionedDecoder(DEAD_LETTERS, DeadLetter)


def decode_dead_letter(data: bytes) -> DeadLetter:
    return _decoder.decode(data)

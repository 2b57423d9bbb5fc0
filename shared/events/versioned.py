"""Versioned records: read the type tag and ``v``, upcast old versions, decode into today's Struct.

Every record on our topics is a msgspec Struct tagged by ``type`` (tagged families) and versioned
by ``v``. A reader keeps reading every version ever written: a breaking change to a type adds one
*upcaster* ``v(n) -> v(n+1)`` on the JSON object to the record's :class:`Family`, and bumps the
type's ``v`` (declared with :func:`version`). Decoding then reads the head (``type``, ``v``)
cheaply, applies the chain up to the current version and decodes the result into the current
Struct, so domain code only ever sees today's shape (docs/events.md, ADR 0025).

A family without upcasters decodes in one step. What no version reads raises
:class:`UndecodableRecord` (a known type that does not validate, or not JSON at all): the caller
logs and counts it (:mod:`shared.events.undecodable`), it is never skipped silently. A type tag this
reader does not know is a newer writer's record and raises :class:`UnknownRecordType`, which tagged
readers ignore by contract (:meth:`VersionedDecoder.decode_known`).
"""

from __future__ import annotations

import contextlib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, overload

import msgspec

T = TypeVar("T")

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns the JSON object of a record at version n into the same record at version n + 1."""


class UndecodableRecord(msgspec.ValidationError):
    """A record no version of its family's schema reads (a ValidationError, so existing handlers
    of msgspec errors, e.g. the projections' poison check, treat it as the record's fault)."""


class UnknownRecordType(msgspec.ValidationError):
    """A record whose ``type`` this reader does not know: written by a newer version, ignorable."""


def version(n: int) -> Any:
    """The default of a type's ``v`` from version 2 on: always written, because an absent ``v``
    means 1 (every version-1 record was written with ``omit_defaults`` and so without it)."""
    if n < 2:
        raise ValueError("version 1 is the plain default `v: int = 1`")
    return msgspec.field(default_factory=lambda: n)


class _Head(msgspec.Struct):
    """What is read before the rest: the type tag and the version (absent = 1)."""

    tag: str | None = msgspec.field(default=None, name="type")
    v: int = 1


_head_decoder = msgspec.json.Decoder(_Head)


def read_head(data: bytes) -> tuple[str | None, int]:
    """(type tag, version) of an encoded record, without decoding the rest of it."""
    try:
        head = _head_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise UndecodableRecord(f"not a versioned record: {exc}") from exc
    return head.tag, head.v


@dataclass(frozen=True, eq=False)  # one object per family: compared and hashed by identity
class Family:
    """The records of one topic (or one kind of value), and how their old versions upcast.

    ``upcasters[(tag, n)]`` turns a ``tag`` record of version n into version n + 1 (``tag`` is
    None for untagged values). ``name`` is the default topic name, for logs and the stored
    records under tests/unit/events/records/.
    """

    name: str
    upcasters: Mapping[tuple[str | None, int], Upcaster] = field(default_factory=dict)

    def upcast(self, obj: dict[str, Any], tag: str | None, v: int) -> dict[str, Any]:
        """``obj`` (a ``tag`` record of version ``v``) carried up to the current version."""
        while (step := self.upcasters.get((tag, v))) is not None:
            obj = step(obj)
            v += 1
            obj["v"] = v
        return obj


def _tags_of(type_: Any) -> frozenset[str] | None:
    """The type tags a (union of) tagged Struct(s) accepts; None for untagged values."""
    members = typing.get_args(type_) or (type_,)
    tags = {getattr(getattr(m, "__struct_config__", None), "tag", None) for m in members}
    tags.discard(None)
    return frozenset(str(t) for t in tags) if tags else None


class VersionedDecoder(Generic[T]):
    """Decodes a family's records of every version into the current Struct ``type_``."""

    @overload
    def __init__(self: VersionedDecoder[T], family: Family, type_: type[T]) -> None: ...

    @overload  # a union of tagged Structs: annotate the variable, as with msgspec's Decoder
    def __init__(self: VersionedDecoder[Any], family: Family, type_: Any) -> None: ...

    def __init__(self, family: Family, type_: Any) -> None:
        self.family = family
        self._decoder: msgspec.json.Decoder[T] = msgspec.json.Decoder(type_)
        self._tags = _tags_of(type_)
        # Only families with an old version pay for reading the head first, and not for records
        # as msgspec writes them at the current version (tag first, then ``v``, then the rest).
        self._upcasting = bool(family.upcasters)
        self._current = tuple(
            f'{{"type":"{tag}","v":{n + 1},'.encode()
            for (tag, n) in family.upcasters
            if tag is not None and (tag, n + 1) not in family.upcasters
        )

    def decode(self, data: bytes) -> T:
        """The record as the current type; raises UndecodableRecord or UnknownRecordType."""
        if self._upcasting and not data.startswith(self._current):
            tag, v = read_head(data)
            if (tag, v) in self.family.upcasters:
                data = self._upcast(data, tag, v)
        try:
            return self._decoder.decode(data)
        except msgspec.DecodeError as exc:
            raise self._why(data, exc) from exc

    def decode_known(self, data: bytes) -> T | None:
        """Like :meth:`decode`, but None for a type tag this reader does not know (a newer
        writer's record type: readers ignore those, docs/events.md)."""
        try:
            return self.decode(data)
        except UnknownRecordType:
            return None

    def _upcast(self, data: bytes, tag: str | None, v: int) -> bytes:
        try:
            obj = msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise UndecodableRecord(f"{self.family.name}: {exc}") from exc
        if not isinstance(obj, dict):
            raise UndecodableRecord(f"{self.family.name}: not a JSON object")
        try:
            upcast = self.family.upcast(obj, tag, v)
        except (KeyError, TypeError, ValueError) as exc:
            raise UndecodableRecord(f"{self.family.name}: {tag} v{v} does not upcast: {exc!r}") from exc
        return msgspec.json.encode(upcast)

    def _why(self, data: bytes, exc: msgspec.DecodeError) -> msgspec.ValidationError:
        """What a failed decode means: an unknown (newer) type, or a record nothing reads."""
        if self._tags is not None and isinstance(exc, msgspec.ValidationError):
            with_tag: str | None = None
            with contextlib.suppress(UndecodableRecord):
                with_tag, _ = read_head(data)
            if with_tag is not None and with_tag not in self._tags:
                return UnknownRecordType(f"{self.family.name}: unknown record type {with_tag!r}")
        return UndecodableRecord(f"{self.family.name}: {exc}")

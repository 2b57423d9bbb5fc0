"""Keyset paging for every list endpoint of the operator API (ADR 0016).

A page is ``?limit=`` rows (default 100, at most 1000) after ``?cursor=``; the response carries
``"next"``: the cursor of the page that follows, ``null`` on the last page. A cursor is the sort key
of the last row served, so a page costs one index range scan however deep it is, and rows added or
removed meanwhile never make a walk skip or repeat a row that stays (limit/offset would).

Cursors are opaque to the caller: base64url of ``[list name, key...]``. Decoding checks the name
and the key's types, so a cursor of another list, a truncated or a forged one is a 400 naming
``cursor`` instead of a database error.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import msgspec
from aiohttp import web

from services.api.errors import ApiError

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_CURSOR = 512  # characters; a real cursor is well below
PAGING = ("limit", "cursor")

T = TypeVar("T")

KeyTypes = tuple[type, ...]


@dataclass(frozen=True)
class Page:
    """What the caller asked for: at most ``limit`` rows after the key ``after`` (None: from the start)."""

    name: str
    limit: int
    after: tuple[Any, ...] | None

    def next(self, key: tuple[Any, ...] | None) -> str | None:
        return encode_cursor(self.name, key) if key is not None else None


def encode_cursor(name: str, key: Sequence[Any]) -> str:
    raw = msgspec.json.encode([name, *key])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(name: str, cursor: str, types: KeyTypes) -> tuple[Any, ...]:
    """The key in ``cursor``; :class:`ApiError` 400 (``field`` cursor) for anything but one of ours."""

    def bad(why: str) -> ApiError:
        return ApiError(
            400, "InvalidQuery", f"cursor {why}; pass the 'next' of a previous page", field="cursor"
        )

    if not cursor or len(cursor) > MAX_CURSOR:
        raise bad(f"must be 1..{MAX_CURSOR} characters")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = msgspec.json.decode(raw, type=cast(Any, tuple)[(str, *types)])
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:  # ValidationError is a DecodeError
        raise bad("is malformed") from exc
    if decoded[0] != name:
        raise bad(f"belongs to another list ({decoded[0]!r}, not {name!r})")
    for value in decoded[1:]:
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            raise bad("is malformed")
    return tuple(decoded[1:])


def invalid(name: str, why: str) -> ApiError:
    return ApiError(400, "InvalidQuery", f"{name} {why}", field=name)


def reject_unknown(query: Mapping[str, str], allowed: tuple[str, ...]) -> None:
    """A misspelt filter must not silently widen the answer to everything."""
    for name in query:
        if name not in allowed:
            raise invalid(name, f"is not a query parameter of this list (one of {', '.join(allowed)})")


def query_limit(request: web.Request, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise invalid("limit", f"must be an integer in 1..{maximum}")
    return int(raw)


def page_of(
    request: web.Request,
    name: str,
    types: KeyTypes,
    *,
    default: int = DEFAULT_LIMIT,
    maximum: int = MAX_LIMIT,
) -> Page:
    """The page ``request`` asks for (``?limit=``, ``?cursor=``), validated."""
    cursor = request.query.get("cursor")
    after = decode_cursor(name, cursor, types) if cursor is not None else None
    return Page(name, query_limit(request, default, maximum), after)


def split(
    page: Page, rows: Sequence[T], key: Callable[[T], tuple[Any, ...]]
) -> tuple[Sequence[T], str | None]:
    """Rows fetched with ``LIMIT page.limit + 1``: the page, and the next cursor if there is more."""
    if len(rows) <= page.limit:
        return rows, None
    shown = rows[: page.limit]
    return shown, page.next(key(shown[-1]))


def in_memory(page: Page, keys: Iterable[str]) -> tuple[list[str], str | None]:
    """A page of the keys of an in-memory view, in ascending order (one pass, no full sort)."""
    after = page.after[0] if page.after is not None else None
    chosen = heapq.nsmallest(page.limit + 1, (k for k in keys if after is None or k > after))
    return split_keys(page, chosen)


def split_keys(page: Page, keys: list[str]) -> tuple[list[str], str | None]:
    shown, cursor = split(page, keys, lambda k: (k,))
    return list(shown), cursor


def openapi_parameters() -> list[dict[str, Any]]:
    """``limit`` and ``cursor`` as OpenAPI query parameters, the same on every list."""
    return [
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": f"rows per page, default {DEFAULT_LIMIT}",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        },
        {
            "name": "cursor",
            "in": "query",
            "required": False,
            "description": "the `next` of the previous page; absent for the first page",
            "schema": {"type": "string", "maxLength": MAX_CURSOR},
        },
    ]


def openapi_list(items: str, item: dict[str, Any] | None = None) -> dict[str, Any]:
    """The schema of a paged list response: ``{items: [item...], next: cursor | null}``."""
    return {
        "type": "object",
        "required": [items, "next"],
        "properties": {
            items: {"type": "array", "items": item if item is not None else {"type": "object"}},
            "next": {
                "type": ["string", "null"],
                "description": "cursor of the next page (pass as ?cursor=); null on the last page",
            },
        },
    }

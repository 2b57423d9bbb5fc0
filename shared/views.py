"""Building blocks of the typed read views the services' ``queries.py`` modules return (ADR 0032).

A view is a ``msgspec.Struct`` with ``rename="camel"``: the operator API encodes it as its response
body and /openapi.json describes the response from the same type. Times are the ISO 8601 text the
API has always served (``datetime.isoformat()``, ``+00:00``), not msgspec's own ``Z`` form, so a view
changes no byte of a response.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import asyncpg
import msgspec

Timestamp = Annotated[str, msgspec.Meta(extra_json_schema={"format": "date-time"})]
# A JSON document stored as is (a BootNotification, a CALL's payload, a charging profile).
Document = dict[str, Any]


def iso(value: dt.datetime) -> str:
    return value.isoformat()


def iso_or_none(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def document(raw: str | bytes) -> Document:
    decoded: Document = msgspec.json.decode(raw)
    return decoded


def document_or_none(raw: str | bytes | None) -> Document | None:
    return document(raw) if raw else None


# What a query function reads through: a pool or one connection (e.g. inside a transaction).
Db = asyncpg.Pool | asyncpg.Connection


def newest_first(time_column: str, id_column: str, first: int) -> str:
    """The keyset condition for ``ORDER BY time DESC, id ASC`` after the key in ``$first, $first+1``
    (ADR 0016): the lists whose ties are broken by an ascending id."""
    t, i, a, b = time_column, id_column, f"${first}", f"${first + 1}"
    return f"({t} < {a} OR ({t} = {a} AND {i} > {b}))"

"""Record values as column values, the same way in every projection."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec


def as_json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def opt(value: object) -> Any:
    """An OCPP optional field as a column value: UNSET becomes NULL."""
    return None if value is msgspec.UNSET else value

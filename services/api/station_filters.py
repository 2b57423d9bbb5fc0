"""The filters of ``GET /api/v1/stations`` (ADR 0016): validated query parameters -> a
:class:`~services.stations.queries.StationFilter`, which builds the one SQL query.

Pure: no I/O, so the validation and the SQL it builds are unit-tested without a database. Every
filter reads the stations read model (``stations``, ``connectors``); ``connected`` is the
projection's view of ``ocpp.frames`` (ConnectionOpened/Closed), which follows the live presence the
items' ``connected`` shows by milliseconds.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

from services.api.paging import PAGING, invalid, reject_unknown
from services.stations.queries import StationFilter
from shared.ocpp.v16.messages import StatusNotificationRequest

BOOT_STATUSES = ("Accepted", "Pending", "Rejected")  # RegistrationStatus, OCPP 1.6 §7.38
CONNECTOR_STATUSES: tuple[str, ...] = typing.get_args(
    typing.get_type_hints(StatusNotificationRequest)["status"]
)

# query parameter -> (the BootNotification.req field it matches, §6.3; its CiString length)
BOOT_FIELDS = {
    "vendor": ("chargePointVendor", 20),
    "model": ("chargePointModel", 20),
    "firmwareVersion": ("firmwareVersion", 50),
}
MAX_SITE = 64
PARAMETERS = ("connected", "bootStatus", "site", *BOOT_FIELDS, "connectorStatus", *PAGING)


def query_choice(query: Mapping[str, str], name: str, values: tuple[str, ...]) -> str | None:
    """``?name=`` when it is one of ``values`` (None when absent); 400 with ``field`` otherwise."""
    raw = query.get(name)
    if raw is not None and raw not in values:
        raise invalid(name, f"must be one of {', '.join(values)}")
    return raw


def _text(query: Mapping[str, str], name: str, max_length: int) -> str | None:
    raw = query.get(name)
    if raw is not None and not (1 <= len(raw) <= max_length and raw.isprintable()):
        raise invalid(name, f"must be 1..{max_length} printable characters")
    return raw


def query_bool(query: Mapping[str, str], name: str) -> bool | None:
    raw = query_choice(query, name, ("true", "false"))
    return None if raw is None else raw == "true"


def station_query(query: Mapping[str, str]) -> StationFilter:
    """The filters of a stations list request; 400 with ``field`` for an unknown or bad parameter."""
    reject_unknown(query, PARAMETERS)
    boot: dict[str, str] = {}
    for name, (wire, max_length) in BOOT_FIELDS.items():
        value = _text(query, name, max_length)
        if value is not None:
            boot[wire] = value
    return StationFilter(
        connected=query_bool(query, "connected"),
        boot_status=query_choice(query, "bootStatus", BOOT_STATUSES),
        site=_text(query, "site", MAX_SITE),
        boot=boot,
        connector_status=query_choice(query, "connectorStatus", CONNECTOR_STATUSES),
    )


def openapi_parameters() -> list[dict[str, Any]]:
    def q(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}

    return [
        q("connected", {"type": "boolean"}, "connected now (the read model's view of the frames log)"),
        q(
            "bootStatus",
            {"type": "string", "enum": list(BOOT_STATUSES)},
            "how its last BootNotification was answered",
        ),
        q("site", {"type": "string", "maxLength": MAX_SITE}, "its registration's site"),
        *(
            q(name, {"type": "string", "maxLength": n}, f"{wire} of its last BootNotification (exact)")
            for name, (wire, n) in BOOT_FIELDS.items()
        ),
        q(
            "connectorStatus",
            {"type": "string", "enum": list(CONNECTOR_STATUSES)},
            "at least one connector last reported this status (StatusNotification)",
        ),
    ]

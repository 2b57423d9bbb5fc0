"""Reads of the transactions read model (``transactions``, ``meter_values``) and of the id tags
the API holds, as typed views (ADR 0032)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from shared.events.idtags import IdTagRecord, IdTagStatus
from shared.views import Db, Timestamp, iso, iso_or_none


class IdTagView(msgspec.Struct, rename="camel", kw_only=True):
    id_tag: str
    status: IdTagStatus
    expiry_date: Timestamp | None
    parent_id_tag: str | None


def id_tag_view(record: IdTagRecord) -> IdTagView:
    return IdTagView(
        id_tag=record.id_tag,
        status=record.status,
        expiry_date=iso_or_none(record.expiry_date),
        parent_id_tag=record.parent_id_tag,
    )


class TransactionView(msgspec.Struct, rename="camel", kw_only=True):
    transaction_id: int
    station_id: str
    connector_id: int
    id_tag: str
    id_tag_status: str
    parent_id_tag: str | None
    reservation_id: int | None
    meter_start: int
    meter_stop: int | None
    started_at: Timestamp
    stopped_at: Timestamp | None
    stop_reason: str | None
    # Stopped: meterStop - meterStart; running: the newest energy register reading - meterStart.
    energy_wh: int | None
    anomaly: str | None


class MeterValueView(msgspec.Struct, rename="camel", kw_only=True):
    timestamp: Timestamp
    source: str
    measurand: str
    phase: str | None
    location: str
    context: str
    unit: str | None
    format: str
    value: str


class TransactionDetail(TransactionView, kw_only=True):
    """A transaction with its meter values, in sampling order."""

    meter_values: list[MeterValueView]


# The keyset of the transactions list, newest first: (started_at, transaction_id).
TransactionKey = tuple[dt.datetime, int]

# Energy of a running transaction: the newest Energy.Active.Import.Register reading (Wh or kWh).
SELECT = """
SELECT t.*, (
    SELECT CASE m.unit WHEN 'kWh' THEN m.value::float8 * 1000 ELSE m.value::float8 END
    FROM meter_values m
    WHERE m.transaction_id = t.transaction_id AND m.measurand = 'Energy.Active.Import.Register'
      AND m.phase = '' AND m.unit IN ('Wh', 'kWh') AND m.value ~ '^[0-9]+(\\.[0-9]+)?$'
    ORDER BY m.sampled_at DESC LIMIT 1
) AS last_register_wh
FROM transactions t"""


def _fields(r: Any) -> dict[str, Any]:
    energy = r["energy_wh"]
    if energy is None and r["stopped_at"] is None and r["last_register_wh"] is not None:
        energy = max(0, round(r["last_register_wh"] - r["meter_start"]))
    return {
        "transaction_id": r["transaction_id"],
        "station_id": r["station_id"],
        "connector_id": r["connector_id"],
        "id_tag": r["id_tag"],
        "id_tag_status": r["id_tag_status"],
        "parent_id_tag": r["parent_id_tag"],
        "reservation_id": r["reservation_id"],
        "meter_start": r["meter_start"],
        "meter_stop": r["meter_stop"],
        "started_at": iso(r["started_at"]),
        "stopped_at": iso_or_none(r["stopped_at"]),
        "stop_reason": r["stop_reason"],
        "energy_wh": energy,
        "anomaly": r["anomaly"],
    }


async def transactions(
    db: Db, *, station_id: str | None, active: bool | None, after: TransactionKey | None, limit: int
) -> list[tuple[TransactionKey, TransactionView]]:
    """Up to ``limit`` transactions, newest first, after the key ``after``."""
    where: list[str] = []
    args: list[object] = []
    if station_id is not None:
        args.append(station_id)
        where.append(f"t.station_id = ${len(args)}")
    if active is not None:
        where.append("t.stopped_at IS NULL" if active else "t.stopped_at IS NOT NULL")
    if after is not None:
        args.extend(after)
        where.append(f"(t.started_at, t.transaction_id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit)
    sql = SELECT + (" WHERE " + " AND ".join(where) if where else "")
    sql += f" ORDER BY t.started_at DESC, t.transaction_id DESC LIMIT ${len(args)}"
    return [
        ((r["started_at"], r["transaction_id"]), TransactionView(**_fields(r)))
        for r in await db.fetch(sql, *args)
    ]


async def transaction(db: Db, transaction_id: int) -> TransactionDetail | None:
    row = await db.fetchrow(SELECT + " WHERE t.transaction_id = $1", transaction_id)
    if row is None:
        return None
    values = await db.fetch(
        """SELECT connector_id, source, sampled_at, measurand, phase, location, context, unit, format, value
           FROM meter_values WHERE transaction_id = $1 AND station_id = $2 ORDER BY sampled_at""",
        transaction_id,
        row["station_id"],
    )
    return TransactionDetail(
        **_fields(row),
        meter_values=[
            MeterValueView(
                timestamp=iso(v["sampled_at"]),
                source=v["source"],
                measurand=v["measurand"],
                phase=v["phase"] or None,
                location=v["location"],
                context=v["context"],
                unit=v["unit"] or None,
                format=v["format"],
                value=v["value"],
            )
            for v in values
        ],
    )

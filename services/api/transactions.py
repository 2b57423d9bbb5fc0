"""/api/v1/transactions: the transactions read model, with energy and meter values."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.api.context import api_of
from services.api.errors import ApiError, ok, query_int
from shared.ocpp.v16.constraints import INT32_MAX

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


def transaction_json(r: Any) -> dict[str, Any]:
    energy = r["energy_wh"]
    if energy is None and r["stopped_at"] is None and r["last_register_wh"] is not None:
        energy = max(0, round(r["last_register_wh"] - r["meter_start"]))
    return {
        "transactionId": r["transaction_id"],
        "stationId": r["station_id"],
        "connectorId": r["connector_id"],
        "idTag": r["id_tag"],
        "idTagStatus": r["id_tag_status"],
        "parentIdTag": r["parent_id_tag"],
        "reservationId": r["reservation_id"],
        "meterStart": r["meter_start"],
        "meterStop": r["meter_stop"],
        "startedAt": r["started_at"].isoformat(),
        "stoppedAt": r["stopped_at"].isoformat() if r["stopped_at"] else None,
        "stopReason": r["stop_reason"],
        "energyWh": energy,
        "anomaly": r["anomaly"],
    }


async def list_transactions(request: web.Request) -> web.Response:
    """``?stationId=`` and ``?active=true|false`` filter; ``?limit=`` (default 100, at most 1000)."""
    q = request.query
    where: list[str] = []
    args: list[object] = []
    if "stationId" in q:
        args.append(q["stationId"])
        where.append(f"t.station_id = ${len(args)}")
    if "active" in q:
        if q["active"] not in ("true", "false"):
            raise ApiError(400, "InvalidQuery", "active must be true or false")
        where.append("t.stopped_at IS NULL" if q["active"] == "true" else "t.stopped_at IS NOT NULL")
    limit = max(1, min(1000, query_int(request, "limit", 100)))
    args.append(limit)
    sql = SELECT + (" WHERE " + " AND ".join(where) if where else "")
    sql += f" ORDER BY t.started_at DESC, t.transaction_id DESC LIMIT ${len(args)}"
    rows = await (await api_of(request).pool()).fetch(sql, *args)
    return ok({"transactions": [transaction_json(r) for r in rows]})


async def get_transaction(request: web.Request) -> web.Response:
    raw = request.match_info["transactionId"]
    try:
        transaction_id = int(raw)
    except ValueError as exc:
        raise ApiError(400, "InvalidTransactionId", f"{raw!r} is not an integer") from exc
    if not 0 < transaction_id <= INT32_MAX:
        raise ApiError(404, "UnknownTransaction", f"no transaction {transaction_id}")
    pool = await api_of(request).pool()
    row = await pool.fetchrow(SELECT + " WHERE t.transaction_id = $1", transaction_id)
    if row is None:
        raise ApiError(404, "UnknownTransaction", f"no transaction {transaction_id}")
    values = await pool.fetch(
        """SELECT connector_id, source, sampled_at, measurand, phase, location, context, unit, format, value
           FROM meter_values WHERE transaction_id = $1 AND station_id = $2 ORDER BY sampled_at""",
        transaction_id,
        row["station_id"],
    )
    body = transaction_json(row)
    body["meterValues"] = [
        {
            "timestamp": v["sampled_at"].isoformat(),
            "source": v["source"],
            "measurand": v["measurand"],
            "phase": v["phase"] or None,
            "location": v["location"],
            "context": v["context"],
            "unit": v["unit"] or None,
            "format": v["format"],
            "value": v["value"],
        }
        for v in values
    ]
    return ok(body)

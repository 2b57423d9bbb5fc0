"""The transactions read model: transactions, meter values, and stops that matched no transaction.

Built from ``transactions.events`` (what the service decided) and from ``ocpp.frames`` (the station's
MeterValues and StopTransaction.transactionData, stored as sent: every measurand, phase, unit,
context and location). Idempotent: a redelivered or retried record inserts nothing twice (unique
keys, ``ON CONFLICT DO NOTHING``; a transaction's first stop wins).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from aiokafka import ConsumerRecord

from services.transactions.events import TransactionStarted, event_decoder
from services.transactions.service import SERVICE
from shared.events.envelope import Direction, decode_frame_record
from shared.ocpp.v16.messages import MeterValue, MeterValuesRequest, StopTransactionRequest, TransactionData
from shared.projection import TableProjection, call_payload, opt

DDL = [
    """CREATE TABLE IF NOT EXISTS transactions (
        transaction_id int PRIMARY KEY,
        station_id text NOT NULL,
        connector_id int NOT NULL,
        id_tag text NOT NULL,
        id_tag_status text NOT NULL,
        parent_id_tag text,
        reservation_id int,
        meter_start bigint NOT NULL,
        started_at timestamptz NOT NULL,
        meter_stop bigint,
        stopped_at timestamptz,
        stop_reason text,
        stop_id_tag text,
        energy_wh bigint,
        anomaly text
    )""",
    "CREATE INDEX IF NOT EXISTS transactions_station ON transactions (station_id, started_at)",
    """CREATE TABLE IF NOT EXISTS unmatched_stops (
        station_id text NOT NULL,
        transaction_id int NOT NULL,
        meter_stop bigint NOT NULL,
        stopped_at timestamptz NOT NULL,
        reason text,
        id_tag text,
        PRIMARY KEY (station_id, transaction_id, stopped_at, meter_stop)
    )""",
    """CREATE TABLE IF NOT EXISTS meter_values (
        station_id text NOT NULL,
        connector_id int NOT NULL,
        transaction_id int,
        source text NOT NULL,
        sampled_at timestamptz NOT NULL,
        measurand text NOT NULL,
        phase text NOT NULL,
        location text NOT NULL,
        context text NOT NULL,
        unit text NOT NULL,
        format text NOT NULL,
        value text NOT NULL
    )""",
    """CREATE UNIQUE INDEX IF NOT EXISTS meter_values_unique ON meter_values (station_id, connector_id,
        coalesce(transaction_id, 0), sampled_at, measurand, phase, location, context, value)""",
    "CREATE INDEX IF NOT EXISTS meter_values_tx ON meter_values (transaction_id, sampled_at)",
]

INSERT_SAMPLE = """INSERT INTO meter_values (station_id, connector_id, transaction_id, source, sampled_at,
        measurand, phase, location, context, unit, format, value)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING"""


def default_unit(measurand: str) -> str:
    """OCPP 1.6 7.45 SampledValue.unit: "Default = 'Wh' if the (default) measurand is an 'Energy'
    value. Otherwise, the unit SHOULD be specified." So no unit for any other measurand: '' (the
    column is NOT NULL, as phase), shown as null by the API (issue 11.2).
    """
    return "Wh" if measurand.startswith("Energy.") else ""


def stop_reason(reason: str | None) -> str:
    """OCPP 1.6 4.10: a StopTransaction without reason 'SHOULD be assumed Local' (issue 11.2)."""
    return reason or "Local"


def samples(
    station_id: str,
    connector_id: int,
    transaction_id: int | None,
    source: str,
    values: Sequence[MeterValue | TransactionData],
) -> list[tuple[object, ...]]:
    """Rows for meter values, with the spec's defaults made explicit (1.6 section 7.45)."""
    rows: list[tuple[object, ...]] = []
    for mv in values:
        for sv in mv.sampled_value:
            measurand = opt(sv.measurand) or "Energy.Active.Import.Register"
            rows.append(
                (
                    station_id,
                    connector_id,
                    transaction_id,
                    source,
                    mv.timestamp,
                    measurand,
                    opt(sv.phase) or "",
                    opt(sv.location) or "Outlet",
                    opt(sv.context) or "Sample.Periodic",
                    opt(sv.unit) or default_unit(measurand),
                    opt(sv.format) or "Raw",
                    sv.value,
                )
            )
    return rows


class TransactionsProjection(TableProjection):
    name = "transactions"
    statements = DDL
    table_names = ["meter_values", "unmatched_stops", "transactions"]

    def topics(self) -> Sequence[str]:
        return [self._topics.domain(SERVICE), self._topics.frames]

    async def apply(self, conn: asyncpg.Connection, batch: Sequence[ConsumerRecord]) -> None:
        """In bulk: starts first, then stops in log order (the first stop wins), then samples."""
        samples_: list[tuple[object, ...]] = []
        started: list[tuple[object, ...]] = []
        stopped: list[tuple[object, ...]] = []
        unmatched: list[tuple[object, ...]] = []
        for msg in batch:
            if msg.topic == self._topics.frames:
                samples_ += self._frame_samples(msg.value)
                continue
            e = event_decoder.decode(msg.value)
            if isinstance(e, TransactionStarted):
                started.append(
                    (
                        e.transaction_id,
                        e.station_id,
                        e.connector_id,
                        e.id_tag,
                        e.id_tag_status,
                        e.parent_id_tag,
                        e.reservation_id,
                        e.meter_start,
                        e.started_at,
                    )
                )
            elif e.known:
                stopped.append(
                    (e.transaction_id, e.meter_stop, e.stopped_at, stop_reason(e.reason), e.id_tag, e.anomaly)
                )
            else:
                unmatched.append(
                    (
                        e.station_id,
                        e.transaction_id,
                        e.meter_stop,
                        e.stopped_at,
                        stop_reason(e.reason),
                        e.id_tag,
                    )
                )
        if started:
            await conn.executemany(
                """INSERT INTO transactions (transaction_id, station_id, connector_id, id_tag, id_tag_status,
                     parent_id_tag, reservation_id, meter_start, started_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (transaction_id) DO NOTHING""",
                started,
            )
        if stopped:
            await conn.executemany(
                """UPDATE transactions SET meter_stop = $2, stopped_at = $3, stop_reason = $4, stop_id_tag = $5,
                     anomaly = $6,
                     energy_wh = CASE WHEN $2 >= meter_start THEN $2 - meter_start END
                   WHERE transaction_id = $1 AND stopped_at IS NULL""",
                stopped,
            )
        if unmatched:
            await conn.executemany(
                """INSERT INTO unmatched_stops (station_id, transaction_id, meter_stop, stopped_at, reason, id_tag)
                   VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING""",
                unmatched,
            )
        if samples_:
            await conn.executemany(INSERT_SAMPLE, samples_)

    def _frame_samples(self, value: bytes) -> list[tuple[object, ...]]:
        call = call_payload(decode_frame_record(value), ("MeterValues", "StopTransaction"), Direction.IN)
        if call is None:
            return []
        record, request = call
        if isinstance(request, MeterValuesRequest):
            return samples(
                record.station_id,
                request.connector_id,
                opt(request.transaction_id),
                "MeterValues",
                request.meter_value,
            )
        assert isinstance(request, StopTransactionRequest)
        values = opt(request.transaction_data) or []
        return samples(record.station_id, 0, request.transaction_id, "StopTransaction", values)

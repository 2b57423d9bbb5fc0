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
from shared.events.envelope import decode_frame_record
from shared.events.frames import station_request
from shared.ocpp.v16.messages import MeterValue, MeterValuesRequest, StopTransactionRequest, TransactionData
from shared.projection.base import TableProjection
from shared.projection.bulk import execute_rows, unnest_insert, unnest_select
from shared.projection.columns import opt

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
    # GET /api/v1/transactions pages newest first by (started_at, transaction_id) (ADR 0016).
    "CREATE INDEX IF NOT EXISTS transactions_recent ON transactions (started_at, transaction_id)",
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

# Each batch is one statement per kind of row (shared/projection/bulk.py, ADR 0045).
INSERT_SAMPLES = unnest_insert(
    "meter_values",
    [
        ("station_id", "text"),
        ("connector_id", "int"),
        ("transaction_id", "int"),
        ("source", "text"),
        ("sampled_at", "timestamptz"),
        ("measurand", "text"),
        ("phase", "text"),
        ("location", "text"),
        ("context", "text"),
        ("unit", "text"),
        ("format", "text"),
        ("value", "text"),
    ],
)
INSERT_STARTS = unnest_insert(
    "transactions",
    [
        ("transaction_id", "int"),
        ("station_id", "text"),
        ("connector_id", "int"),
        ("id_tag", "text"),
        ("id_tag_status", "text"),
        ("parent_id_tag", "text"),
        ("reservation_id", "int"),
        ("meter_start", "bigint"),
        ("started_at", "timestamptz"),
    ],
    "ON CONFLICT (transaction_id) DO NOTHING",
)
# The first stop wins: a batch brings at most one per transaction (apply keeps the first), and a
# stopped transaction is never updated again.
STOP_ROWS = unnest_select(
    [
        ("transaction_id", "int"),
        ("meter_stop", "bigint"),
        ("stopped_at", "timestamptz"),
        ("reason", "text"),
        ("id_tag", "text"),
        ("anomaly", "text"),
    ]
)
UPDATE_STOPS = f"""UPDATE transactions t SET meter_stop = rows.meter_stop, stopped_at = rows.stopped_at,
        stop_reason = rows.reason, stop_id_tag = rows.id_tag, anomaly = rows.anomaly,
        energy_wh = CASE WHEN rows.meter_stop >= t.meter_start THEN rows.meter_stop - t.meter_start END
    FROM {STOP_ROWS}
    WHERE t.transaction_id = rows.transaction_id AND t.stopped_at IS NULL"""
INSERT_UNMATCHED = unnest_insert(
    "unmatched_stops",
    [
        ("station_id", "text"),
        ("transaction_id", "int"),
        ("meter_stop", "bigint"),
        ("stopped_at", "timestamptz"),
        ("reason", "text"),
        ("id_tag", "text"),
    ],
)


DEFAULT_MEASURAND = "Energy.Active.Import.Register"
# OCPP 1.6 section 4.10: a StopTransaction without a reason "SHOULD be assumed 'Local'".
ASSUMED_STOP_REASON = "Local"


def default_unit(measurand: str) -> str:
    """ "Wh" if the measurand is an "Energy" type (1.6 section 7.43), else no unit (``''``)."""
    return "Wh" if measurand.startswith("Energy.") else ""


def samples(
    station_id: str,
    connector_id: int,
    transaction_id: int | None,
    source: str,
    values: Sequence[MeterValue | TransactionData],
) -> list[tuple[object, ...]]:
    """Rows for meter values, with the spec's defaults made explicit and no others (1.6 section
    7.43 SampledValue): context, format, measurand and location have defaults; phase has none (absent
    = an overall value) and unit only for an Energy measurand ("Wh"). ``''`` stores "absent"."""
    rows: list[tuple[object, ...]] = []
    for mv in values:
        for sv in mv.sampled_value:
            measurand = opt(sv.measurand) or DEFAULT_MEASURAND
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
    version = 2  # 2: unit only defaults for Energy measurands; an absent stop reason is 'Local'

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
            e = event_decoder.decode_known(msg.value)
            if e is None:  # a newer record type this version does not know
                continue
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
                reason = e.reason or ASSUMED_STOP_REASON
                stopped.append((e.transaction_id, e.meter_stop, e.stopped_at, reason, e.id_tag, e.anomaly))
            else:
                unmatched.append(
                    (
                        e.station_id,
                        e.transaction_id,
                        e.meter_stop,
                        e.stopped_at,
                        e.reason or ASSUMED_STOP_REASON,
                        e.id_tag,
                    )
                )
        first_stops = list({stop[0]: stop for stop in reversed(stopped)}.values())  # first per id
        await execute_rows(conn, INSERT_STARTS, started)
        await execute_rows(conn, UPDATE_STOPS, first_stops)
        await execute_rows(conn, INSERT_UNMATCHED, unmatched)
        await execute_rows(conn, INSERT_SAMPLES, samples_)

    def _frame_samples(self, value: bytes) -> list[tuple[object, ...]]:
        call = station_request(decode_frame_record(value), ("MeterValues", "StopTransaction"))
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

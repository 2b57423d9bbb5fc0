"""StartTransaction (OCPP 1.6 4.8): always a new, never reused transaction id, even when not Accepted.

The station has already started charging (possibly offline, hours ago): refusing an id would make it
retry forever. A retry of the same start (connector, idTag, timestamp, meterStart) gets the id it
was given before, so a lost answer never makes a second transaction.
"""

from __future__ import annotations

from msgspec import UNSET

from services.transactions.authorization import respecting_reservations
from services.transactions.context import Context
from services.transactions.events import TransactionEvent, TransactionStarted
from services.transactions.state import State, start_key
from shared.decision import Decision
from shared.events.idtags import id_tag_info
from shared.ocpp.v16.messages import StartTransactionRequest, StartTransactionResponse


def handle(
    state: State, request: StartTransactionRequest, ctx: Context
) -> Decision[StartTransactionResponse, TransactionEvent]:
    record = ctx.id_tag(request.id_tag)
    key = start_key(request.connector_id, request.id_tag, request.timestamp, request.meter_start)
    recent = state.recent.get(ctx.station_id)
    previous = recent.get(key) if recent is not None else None
    if previous is not None:  # the station's retry: the same answer again, no second transaction
        transaction_id, status = previous
        info = id_tag_info(record, ctx.now)
        info.status = status  # type: ignore[assignment]
        return StartTransactionResponse(id_tag_info=info, transaction_id=transaction_id), []
    elsewhere = any(
        (a.station_id, a.connector_id) != (ctx.station_id, request.connector_id)
        for a in (state.active[tx] for tx in state.by_tag.get(request.id_tag, ()))
    )
    reservation_id = request.reservation_id if request.reservation_id is not UNSET else None
    info = respecting_reservations(
        id_tag_info(record, ctx.now, charging_elsewhere=elsewhere),
        request.id_tag,
        ctx.reservations.holding(ctx.station_id, request.connector_id, ctx.now),
        reservation_id,
    )
    transaction_id = state.allocate(ctx.partition)
    event = TransactionStarted(
        transaction_id=transaction_id,
        partition=ctx.partition,
        station_id=ctx.station_id,
        connector_id=request.connector_id,
        id_tag=request.id_tag,
        meter_start=request.meter_start,
        started_at=request.timestamp,
        reservation_id=reservation_id,
        id_tag_status=info.status,
        parent_id_tag=record.parent_id_tag if record is not None else None,
        frame_offset=ctx.offset,
    )
    return StartTransactionResponse(id_tag_info=info, transaction_id=transaction_id), [event]

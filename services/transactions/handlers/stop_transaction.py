"""StopTransaction (OCPP 1.6 4.10): always a normal answer; the data is kept whatever the id.

An unknown, 0 or -1 transaction id (a start the station never got an id for, offline backlog, another
system's id) is answered like any other and recorded as not matched: answering with an error would
make the station retry it forever. A stop of an already stopped transaction (the station's retry)
is answered again without a second event. meterStop below meterStart is flagged, never billed.
"""

from __future__ import annotations

from msgspec import UNSET

from services.transactions.context import Context
from services.transactions.events import TransactionEvent, TransactionStopped
from services.transactions.state import State
from shared.decision import Decision
from shared.events.idtags import id_tag_info
from shared.ocpp.v16.messages import StopTransactionRequest, StopTransactionResponse


def handle(
    state: State, request: StopTransactionRequest, ctx: Context
) -> Decision[StopTransactionResponse, TransactionEvent]:
    id_tag = request.id_tag if request.id_tag is not UNSET else None
    response = StopTransactionResponse()
    if id_tag is not None:
        response.id_tag_info = id_tag_info(ctx.id_tag(id_tag), ctx.now)
    known = state.is_known(request.transaction_id)
    active = state.active.get(request.transaction_id) or state.superseded.get(request.transaction_id)
    if known and active is None:
        return response, []  # already stopped: a retry
    if active is not None and active.station_id != ctx.station_id:
        known = False  # another station's transaction id: keep the data, do not touch theirs
        active = None
    anomaly = None
    if active is not None and request.meter_stop < active.meter_start:
        anomaly = f"meterStop {request.meter_stop} is below meterStart {active.meter_start}"
    event = TransactionStopped(
        transaction_id=request.transaction_id,
        partition=ctx.partition,
        station_id=ctx.station_id,
        known=known,
        meter_stop=request.meter_stop,
        stopped_at=request.timestamp,
        id_tag=id_tag,
        reason=request.reason if request.reason is not UNSET else None,
        anomaly=anomaly,
        frame_offset=ctx.offset,
    )
    return response, [event]

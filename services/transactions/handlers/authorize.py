"""Authorize (OCPP 1.6 4.1): the tag's verdict; ConcurrentTx when it charges at another station."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.transactions.events import TransactionEvent
from shared.events.idtags import id_tag_info
from shared.ocpp.v16.messages import AuthorizeRequest, AuthorizeResponse

if TYPE_CHECKING:
    from services.transactions.context import Context


def handle(request: AuthorizeRequest, ctx: Context) -> tuple[AuthorizeResponse, list[TransactionEvent]]:
    # A station authorizes the tag that is charging at it to stop that transaction: only charging at
    # *another* station makes it concurrent.
    elsewhere = any(
        ctx.state.active[tx].station_id != ctx.station_id for tx in ctx.state.by_tag.get(request.id_tag, ())
    )
    info = id_tag_info(ctx.id_tag(request.id_tag), ctx.now, charging_elsewhere=elsewhere)
    return AuthorizeResponse(id_tag_info=info), []

"""Authorize (OCPP 1.6 4.1): the tag's verdict; ConcurrentTx when it charges at another station.

Decides no event: the verdict is in the answer, and the answer is in ``ocpp.frames``.
"""

from __future__ import annotations

from typing import Never

from services.transactions.context import Context
from services.transactions.state import State
from shared.decision import Decision
from shared.events.idtags import id_tag_info
from shared.ocpp.v16.messages import AuthorizeRequest, AuthorizeResponse


def handle(state: State, request: AuthorizeRequest, ctx: Context) -> Decision[AuthorizeResponse, Never]:
    # A station authorizes the tag that is charging at it to stop that transaction: only charging at
    # *another* station makes it concurrent.
    elsewhere = any(
        state.active[tx].station_id != ctx.station_id for tx in state.by_tag.get(request.id_tag, ())
    )
    info = id_tag_info(ctx.id_tag(request.id_tag), ctx.now, charging_elsewhere=elsewhere)
    return AuthorizeResponse(id_tag_info=info), []

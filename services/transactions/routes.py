"""The transactions service's route table: the station CALLs it answers, one module per action.

Each handler decides in the one shape (shared/decision.py): ``handle(state, request, ctx) ->
(response, events)``, pure with respect to the state, the request and the context (id tags, clock
and the frame's position injected through ``Context``). The service evolves the state with the
events and appends them to ``transactions.events`` before it answers (shared/service.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from services.transactions.context import Context
from services.transactions.events import TransactionEvent
from services.transactions.handlers import authorize, meter_values, start_transaction, stop_transaction
from services.transactions.state import State
from shared.ocpp.v16.messages import (
    AuthorizeRequest,
    AuthorizeResponse,
    MeterValuesRequest,
    MeterValuesResponse,
    StartTransactionRequest,
    StartTransactionResponse,
    StopTransactionRequest,
    StopTransactionResponse,
)
from shared.routes import ActionRoute, route

ROUTES: Mapping[str, ActionRoute[State, Context, TransactionEvent]] = {
    "Authorize": route(AuthorizeRequest, AuthorizeResponse, authorize.handle),
    "StartTransaction": route(StartTransactionRequest, StartTransactionResponse, start_transaction.handle),
    "StopTransaction": route(StopTransactionRequest, StopTransactionResponse, stop_transaction.handle),
    "MeterValues": route(MeterValuesRequest, MeterValuesResponse, meter_values.handle),
}

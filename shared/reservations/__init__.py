"""Reservations: the events on ``reservations.events`` and the state every reader rebuilds from them
(the reservations service, the transactions service to authorize, the operator API to allocate ids)."""

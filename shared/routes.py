"""Typed route entries: which handler decides a station CALL, for which request and response type.

A service's route table maps an action to a :class:`Route` (request type, response type, handler);
the handler has the one decision shape (shared/decision.py) with the action's own request and
response types. tests/unit/ocpp/test_action_owners.py checks every entry against the action table
(shared/ocpp/v16/actions.py): the route's types are the action's, and so are the handler's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import msgspec

from shared.decision import Decide, Decision

Req = TypeVar("Req", bound=msgspec.Struct)
Resp = TypeVar("Resp", bound=msgspec.Struct)
S = TypeVar("S")
D = TypeVar("D")
E = TypeVar("E")
S_contra = TypeVar("S_contra", contravariant=True)
D_contra = TypeVar("D_contra", contravariant=True)
E_co = TypeVar("E_co", covariant=True)


@dataclass(frozen=True)
class Route(Generic[Req, Resp, S, D, E]):
    """One action's entry: mypy ties ``request`` to the handler's request parameter."""

    request: type[Req]
    response: type[Resp]
    handler: Decide[S, Req, D, Resp, E]

    def decide(self, state: S, request: msgspec.Struct, deps: D) -> Decision[Resp, E]:
        """Decide ``request``, which must have been decoded into exactly ``self.request``."""
        if not isinstance(request, self.request) or type(request) is not self.request:
            raise TypeError(f"{type(request).__name__} given to the route of {self.request.__name__}")
        return self.handler(state, request, deps)


class ActionRoute(Protocol[S_contra, D_contra, E_co]):
    """What a service needs of a route, whatever its action: a table holds routes of many request
    types, which one type parameter cannot say (see :func:`route`)."""

    @property
    def request(self) -> type[msgspec.Struct]: ...

    @property
    def response(self) -> type[msgspec.Struct]: ...

    def decide(
        self, state: S_contra, request: msgspec.Struct, deps: D_contra, /
    ) -> Decision[msgspec.Struct, E_co]: ...


def route(
    request: type[Req], response: type[Resp], handler: Decide[S, Req, D, Resp, E]
) -> ActionRoute[S, D, E]:
    """A table entry: ``Route(request, response, handler)`` seen as an :class:`ActionRoute`.

    Built here rather than in the table's literal because mypy would take the request and response
    types from the table's annotation (``msgspec.Struct``) instead of from the handler, and then
    refuse a handler that takes only its own request type.
    """
    entry: Route[Req, Resp, S, D, E] = Route(request, response, handler)
    return entry

"""How a service decides: one shape for every domain service (ADR 0027, docs/architecture.md).

``decide(state, message, deps) -> (reply, events)`` is pure: ``message`` is what came in (a station's
CALL, a frame the service follows, a sweep of the clock), ``deps`` everything else it may read (now,
the frame's position, views of other services' topics), all injected so that a test passes fixed
ones. ``reply`` is the answer to the station (None when the message needs none), ``events`` what was
decided. ``evolve(state, event)`` then applies each event; the runner records the events before it
sends the reply (shared/service.py ``apply_decision``), so whoever reads the service's topic to the
end when the station has its answer sees what was decided.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeAlias, TypeVar

Reply = TypeVar("Reply")
Event = TypeVar("Event")

# A decision: the reply (None: nothing to answer) and the events, in the order they are applied.
Decision: TypeAlias = tuple[Reply, Sequence[Event]]

S_contra = TypeVar("S_contra", contravariant=True)
M_contra = TypeVar("M_contra", contravariant=True)
D_contra = TypeVar("D_contra", contravariant=True)
E_contra = TypeVar("E_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)
E_co = TypeVar("E_co", covariant=True)


class Decide(Protocol[S_contra, M_contra, D_contra, R_co, E_co]):
    """``decide(state, message, deps) -> (reply, events)``: reads ``state``, never changes it."""

    def __call__(self, state: S_contra, message: M_contra, deps: D_contra, /) -> Decision[R_co, E_co]: ...


class Evolve(Protocol[S_contra, E_contra]):
    """``evolve(state, event)``: the only way a service's state changes; applying an event twice
    (the service reads its own events back) changes nothing the second time."""

    def __call__(self, state: S_contra, event: E_contra, /) -> None: ...

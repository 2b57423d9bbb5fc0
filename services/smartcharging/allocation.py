"""Site load management, the pure part: who gets how much of the grid, and which limits to send when.

``allocate`` shares a site's grid limit among its charging sessions: every session first gets its
minimum (in start order while the grid holds them), then the rest is water-filled up to each
session's cap, where a car drawing clearly less than its cap is capped at what it draws plus a
margin, so idle or slower cars leave their share to the others.

``decreases`` and ``increases`` turn targets into limits to send without ever letting the sum of
the limits in force pass the grid limit: decreases first (never delayed), then first limits and
raises only into the headroom the limits actually in force leave, a raise at most once per
``min_interval`` per session. A session whose station refused its limit counts at its cap.
"""

from __future__ import annotations

import math
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass

Key = tuple[str, int]  # (station id, connector id)

STEP = 0.1  # limits are sent with one decimal; rounding down keeps sums under the grid limit


@dataclass(frozen=True)
class Demand:
    key: Key
    transaction_id: int
    # Start order: when the grid cannot hold every minimum, the earliest sessions keep theirs.
    started_ms: int
    minimum: float
    cap: float
    # What the car draws now (site unit), when a meter value said so.
    drawing: float | None = None


def floor_step(value: float) -> float:
    return math.floor(value / STEP + 1e-9) * STEP


def effective_cap(d: Demand, margin: float) -> float:
    """A car drawing well under its cap gets what it draws plus ``margin`` (never under its minimum)."""
    if d.drawing is None or d.drawing + margin >= d.cap:
        return d.cap
    return max(min(d.minimum, d.cap), d.drawing + margin)


def allocate(grid_limit: float, demands: Sequence[Demand], margin: float = 2.0) -> dict[Key, float]:
    """Fair shares of ``grid_limit``: minimums first, then water-filling up to each effective cap."""
    budget = max(grid_limit, 0.0)
    base: dict[Key, float] = {}
    for d in sorted(demands, key=lambda d: (d.started_ms, d.key)):
        floor = min(d.minimum, d.cap)
        if floor <= budget:
            base[d.key] = floor
            budget -= floor
        else:
            base[d.key] = 0.0  # the grid cannot hold this car's minimum: it waits (limit 0)
    # Water-filling: the smallest room first, each takes at most an equal share of what is left.
    rooms = sorted(
        ((max(effective_cap(d, margin) - base[d.key], 0.0), d.key) for d in demands if base[d.key] > 0),
    )
    shares = dict(base)
    left = len(rooms)
    for room, key in rooms:
        give = min(room, budget / left) if left else 0.0
        shares[key] += give
        budget -= give
        left -= 1
    return {k: floor_step(v) for k, v in shares.items()}


@dataclass(frozen=True)
class Change:
    key: Key
    transaction_id: int
    limit: float


def in_force(
    demands: Iterable[Demand], applied: Mapping[Key, float], refused: Container[Key] = ()
) -> dict[Key, float]:
    """The limit each session runs under as far as the allocator knows.

    Its accepted limit; a session whose station refused one counts at its cap; a session that has
    not been sent one yet counts at 0 (its first limit is granted out of the headroom, like a raise).
    """
    return {d.key: applied.get(d.key, d.cap if d.key in refused else 0.0) for d in demands}


def decreases(
    demands: Sequence[Demand],
    targets: Mapping[Key, float],
    applied: Mapping[Key, float],
    deadband: float,
) -> list[Change]:
    """Limits to lower now (never delayed: they make room); small changes within ``deadband`` wait."""
    out = []
    for d in demands:
        target, current = targets.get(d.key), applied.get(d.key)
        if target is None or current is None:
            continue
        if target < current - deadband or (target == 0 < current):
            out.append(Change(d.key, d.transaction_id, target))
    return out


def increases(
    grid_limit: float,
    demands: Sequence[Demand],
    targets: Mapping[Key, float],
    applied: Mapping[Key, float],
    refused: Container[Key],
    last_raised_ms: Mapping[Key, int],
    now_ms: int,
    min_interval_ms: int,
    deadband: float,
) -> tuple[list[Change], int | None]:
    """First limits and raises, in start order, out of the headroom the limits in force leave.

    Returns the changes and, when a raise waits for its session's minimum interval, the time (ms)
    it becomes due. A session's first limit never waits.
    """
    headroom = grid_limit - sum(in_force(demands, applied, refused).values())
    out: list[Change] = []
    due: int | None = None
    for d in sorted(demands, key=lambda d: (d.started_ms, d.key)):
        target = targets.get(d.key)
        if target is None or d.key in refused:
            continue
        current = applied.get(d.key)
        if current is not None:
            if target < current + deadband:
                continue
            ready = last_raised_ms.get(d.key, -(10**15)) + min_interval_ms
            if ready > now_ms:
                due = ready if due is None else min(due, ready)
                continue
        base = current or 0.0
        limit = floor_step(max(min(target, base + headroom), 0.0))
        if current is None or limit >= current + deadband:
            out.append(Change(d.key, d.transaction_id, limit))
            headroom -= limit - base
    return out, due

"""Presence: which gateway holds a station's newest connection. Pure evolve function.

Derived from the ``opened``/``closed`` records on ``ocpp.frames``, which stay in order per station,
so the newest connection always wins: a ``closed`` only counts when it closes the current epoch (an
old gateway noticing a dead connection late must not disconnect a station that already reconnected
elsewhere).
"""

from __future__ import annotations

import msgspec

from shared.events.envelope import ConnectionClosed, ConnectionOpened, Presence


def evolve(
    current: Presence | None, event: ConnectionOpened | ConnectionClosed, offset: int
) -> Presence | None:
    """New presence after ``event`` (found at ``offset``), or None when nothing changes."""
    if isinstance(event, ConnectionOpened):
        if current is not None and current.epoch >= offset:
            return None  # a replay of an older connection
        return Presence(
            station_id=event.station_id,
            connected=True,
            gateway_id=event.gateway_id,
            connection_id=event.connection_id,
            epoch=offset,
            since_ms=event.at_ms,
            boot_status=current.boot_status if current is not None else None,
        )
    if current is None or current.epoch != event.epoch or not current.connected:
        return None
    return Presence(
        station_id=event.station_id,
        connected=False,
        gateway_id=event.gateway_id,
        connection_id=event.connection_id,
        epoch=event.epoch,
        since_ms=event.at_ms,
        boot_status=current.boot_status,
    )


def booted(current: Presence | None, epoch: int, status: str) -> Presence | None:
    """Presence after the CSMS answered a BootNotification on connection ``epoch`` with ``status``;
    None when nothing changes (the answer belongs to an older connection, or the status is the same)."""
    if current is None or current.epoch != epoch or current.boot_status == status:
        return None
    return msgspec.structs.replace(current, boot_status=status)

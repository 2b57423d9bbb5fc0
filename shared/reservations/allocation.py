"""Reservation id allocation for whoever sends ReserveNow (the operator API): one record, one id.

The id is derived from the position of an ``allocated`` record on ``reservations.events``
(``offset * partitions + partition + 1``, ADR 0011): Kafka hands out every offset once, replays
and restarts see the same positions, and no allocator state or coordination is needed.
"""

from __future__ import annotations

from datetime import datetime

from aiokafka import AIOKafkaProducer

from shared.events.envelope import encode
from shared.events.topics import Topics
from shared.reservations.events import SERVICE, ReservationAllocated
from shared.reservations.state import reservation_id


async def allocate(producer: AIOKafkaProducer, topics: Topics, station_id: str, now: datetime) -> int:
    record = ReservationAllocated(station_id=station_id, at=now)
    meta = await producer.send_and_wait(topics.domain(SERVICE), encode(record), key=station_id.encode())
    return reservation_id(meta.partition, meta.offset, topics.frame_partitions)

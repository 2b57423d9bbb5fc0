"""The operator API's audit trail on ``csms.audit``, and GET /api/v1/audit (admins).

Every request that may change something (any method but GET/HEAD) and every refused one of a known
token is appended before its response leaves, with its outcome (the status). The trail is read
from Kafka itself: one partition, kept forever, so an offset is a stable, ordered key and a page is
one seek (ADR 0036; no read model to keep in step with it).
"""

from __future__ import annotations

import asyncio

import msgspec
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.api.context import api_of
from services.api.errors import ApiError, ok
from services.api.paging import PAGING, page_of, reject_unknown
from shared.events import undecodable
from shared.events.apitokens import AuditRecord, Role, audit_decoder
from shared.events.envelope import encode
from shared.events.versioned import UndecodableRecord
from shared.kafka import make_consumer
from shared.projection.columns import ms_to_datetime
from shared.views import Timestamp


class AuditView(msgspec.Struct, rename="camel", kw_only=True):
    at: Timestamp
    token_id: str
    token_name: str
    role: Role
    method: str
    path: str
    status: int
    action: str | None
    station_id: str | None


def audit_view(record: AuditRecord) -> AuditView:
    at = ms_to_datetime(record.at_ms).isoformat()
    return AuditView(
        at=at,
        token_id=record.token_id,
        token_name=record.token_name,
        role=record.role,
        method=record.method,
        path=record.path,
        status=record.status,
        action=record.action,
        station_id=record.station_id,
    )


class AuditTrail:
    """Appends audit records, and reads pages of them newest first (one reader, one page at a time)."""

    def __init__(self, bootstrap: str, topic: str, producer: AIOKafkaProducer) -> None:
        self._bootstrap, self._topic, self._producer = bootstrap, topic, producer
        self._tp = TopicPartition(topic, 0)
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        # Assigned only while a page is read: an idle assigned consumer would fetch all the time,
        # and a seek would wait behind its fetch parked at the broker.
        self._consumer = make_consumer(self._bootstrap)
        await self._consumer.start()

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def append(self, record: AuditRecord) -> None:
        await self._producer.send_and_wait(self._topic, encode(record), key=record.token_id.encode())

    async def newest(self, before: int | None, limit: int) -> tuple[list[AuditRecord], int | None]:
        """Up to ``limit`` records older than offset ``before`` (None: the newest), newest first, and
        the offset to continue before (None: nothing older)."""
        assert self._consumer is not None
        consumer, tp = self._consumer, self._tp
        async with self._lock, asyncio.timeout(10):
            first = (await consumer.beginning_offsets([tp]))[tp]
            end = (await consumer.end_offsets([tp]))[tp]
            stop = end if before is None else min(before, end)
            start = max(first, stop - limit)
            found: list[AuditRecord] = []
            if start < stop:
                consumer.assign([tp])
                consumer.seek(tp, start)
                try:
                    while await consumer.position(tp) < stop:
                        batch = await consumer.getmany(tp, timeout_ms=500, max_records=stop - start)
                        for msg in batch.get(tp, []):
                            if msg.offset >= stop or msg.value is None:
                                continue
                            try:
                                found.append(audit_decoder.decode(msg.value))
                            except UndecodableRecord as exc:
                                undecodable.report(self._topic, 0, msg.offset, exc)
                finally:
                    consumer.unsubscribe()
        found.reverse()
        return found, (start if start > first else None)


async def list_audit(request: web.Request) -> web.Response:
    """A page of the audit trail, newest first (ADR 0016: ``limit``, ``cursor``, ``next``)."""
    reject_unknown(request.query, PAGING)
    page = page_of(request, "audit", (int,))
    before = page.after[0] if page.after is not None else None
    try:
        records, more = await api_of(request).audit.newest(before, page.limit)
    except TimeoutError as exc:
        raise ApiError(504, "AuditUnavailable", "the audit trail could not be read within 10s") from exc
    return ok(
        {"audit": [audit_view(r) for r in records], "next": page.next((more,) if more is not None else None)}
    )

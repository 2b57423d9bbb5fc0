"""Site load management, the I/O part: follows the inputs, runs allocation rounds, sends the limits.

Inputs: the sites (``csms.sites``, consumed in a consumer group: the partitions this process is
assigned are the sites it manages, so several instances share the sites and each site has exactly
one allocator), the station registry (which site a station belongs to), ``transactions.events``
(who charges where, under which transaction id), the MeterValues in ``ocpp.frames`` (what each car
draws) and presence (a station that reconnects gets another chance). Output: TxProfiles sent
through the station's gateway, and the site's events (``events.py``).

A round (:meth:`SiteManager._round`) runs the two phases ``site_round`` plans: each is planned
(pure), recorded, then sent, and the answers applied; the round ends with its SiteAllocated. A
station that refuses (or cannot be reached) is reported in the event, its session counts at its
cap, and it is not asked again for that transaction (a reconnect clears "unreachable").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

import msgspec
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from services.smartcharging import site_round
from services.smartcharging.allocation import Change, Key
from services.smartcharging.events import SmartChargingEvent, event_decoder
from services.smartcharging.metering import drawing
from shared.clock import SYSTEM, Clock
from shared.commands import CommandClient, NotConnected
from shared.config import Settings
from shared.events import undecodable
from shared.events.envelope import (
    Presence,
    StationRegistration,
    decode_frame_record,
    encode,
    registration_decoder,
)
from shared.events.families import TRANSACTIONS
from shared.events.frames import station_request
from shared.events.sites import SiteRecord, site_decoder
from shared.events.topics import Topics
from shared.events.versioned import UndecodableRecord, VersionedDecoder
from shared.kafka import Wake, ensure_topics, make_consumer, make_producer, stop_reader
from shared.ocpp.v16.messages import MeterValuesRequest
from shared.tables import CompactedView, LogFollower

log = logging.getLogger(__name__)

SERVICE = "smartcharging"


class _TxStarted(msgspec.Struct, tag="started", tag_field="type", kw_only=True):
    """What the allocator reads of the transactions service's events (a tolerant reader)."""

    transaction_id: int
    station_id: str
    connector_id: int
    frame_offset: int


class _TxStopped(msgspec.Struct, tag="stopped", tag_field="type", kw_only=True):
    transaction_id: int
    station_id: str


# A view of two of transactions.events' types (this service does not import that one's module),
# decoded through the family's one definition, so old records are upcast as the owner does.
_tx_decoder: VersionedDecoder[_TxStarted | _TxStopped] = VersionedDecoder(
    TRANSACTIONS, _TxStarted | _TxStopped
)


@dataclass
class _Site:
    """A managed site's pure state and the tasks that run its rounds."""

    state: site_round.SiteState
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle | None = None


class _Assignment(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, manager: SiteManager) -> None:
        self._manager = manager

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._manager.release({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._manager.assigned |= {tp.partition for tp in assigned}


class SiteManager:
    """A Runner: manages the sites of the ``csms.sites`` partitions this process is assigned."""

    def __init__(self, settings: Settings, clock: Clock = SYSTEM, group: str | None = None) -> None:
        self.settings = settings
        # The consumer group that shares the sites among allocators (a test may run one apart).
        self.group = group or Topics(settings.topic_prefix).group("smartcharging.sites")
        self.topics = Topics(settings.topic_prefix, settings.frame_partitions)
        self._clock = clock.now_ms
        self._stopping = asyncio.Event()
        self.assigned: set[int] = set()
        self.sites: dict[str, tuple[int, SiteRecord]] = {}  # site id -> (partition, record)
        self._state: dict[str, _Site] = {}
        # Completed allocation rounds per site (for operators' metrics and for tests to wait on).
        self.rounds: dict[str, int] = {}
        self._sessions: dict[Key, site_round.Session] = {}
        self._history: dict[
            str, site_round.History
        ] = {}  # site id -> its own events since its newest allocation
        self._registry: CompactedView[StationRegistration] = CompactedView(
            settings.kafka_bootstrap, self.topics.stations, registration_decoder.decode
        )
        self._transactions = LogFollower(
            settings.kafka_bootstrap, self.topics.domain("transactions"), self._on_tx
        )
        self._own = LogFollower(settings.kafka_bootstrap, self.topics.domain(SERVICE), self._on_own_event)
        self._commands = CommandClient(settings, clock)
        self._producer = make_producer(settings.kafka_bootstrap, client_id="smartcharging-sites")
        self._meters: AIOKafkaConsumer | None = None
        self._meter_task: asyncio.Task[None] | None = None

    # -- life cycle --------------------------------------------------------------------------------

    async def run(self) -> None:
        s = self.settings
        await ensure_topics(
            s.kafka_bootstrap,
            [
                *self.topics.shared_specs(),
                self.topics.domain_spec("transactions"),
                self.topics.domain_spec(SERVICE),
            ],
            s.replication_factor,
        )
        await self._registry.start()
        self._registry.on_change(self._on_registration)
        await self._own.start()
        await self._transactions.start()
        await self._commands.start()
        self._commands.presence.on_change(self._on_presence)
        await self._producer.start()
        await self._start_meters()
        consumer = make_consumer(
            s.kafka_bootstrap,
            client_id="smartcharging-sites",
            group_id=self.group,
        )
        consumer.subscribe([self.topics.sites], listener=_Assignment(self))
        await consumer.start()
        log.info("site allocator following %s", self.topics.sites)
        try:
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=1000)
                for tp, records in batches.items():
                    for msg in records:
                        try:
                            self._on_site(tp.partition, msg.key, msg.value)
                        except UndecodableRecord as exc:
                            undecodable.report(msg.topic, tp.partition, msg.offset, exc)
        finally:
            self.release(set(self.assigned))
            with contextlib.suppress(Exception):
                await consumer.stop()
            await stop_reader(self._meter_task, self._meters)
            await self._producer.stop()
            await self._commands.stop()
            await self._transactions.stop()
            await self._own.stop()
            await self._registry.stop()

    def stop(self) -> None:
        self._stopping.set()

    def release(self, partitions: set[int]) -> None:
        """Stop managing the sites of ``partitions`` (revoked, or this process stops)."""
        for site_id, (partition, _) in list(self.sites.items()):
            if partition in partitions:
                del self.sites[site_id]
                self._forget(site_id)
        self.assigned -= partitions

    def _forget(self, site_id: str) -> None:
        managed = self._state.pop(site_id, None)
        if managed is not None:
            if managed.task is not None:
                managed.task.cancel()
            if managed.timer is not None:
                managed.timer.cancel()

    # -- inputs ------------------------------------------------------------------------------------

    def _on_site(self, partition: int, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        site_id = key.decode()
        if value is None:
            self.sites.pop(site_id, None)
            self._forget(site_id)
            return
        record = site_decoder.decode(value)  # undecodable: reported by the loop above
        self.sites[site_id] = (partition, record)
        self._wake(site_id)

    def _on_tx(self, partition: int, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            return
        event = _tx_decoder.decode_known(value)
        if event is None:
            return  # another event type of that service: not the allocator's business
        if isinstance(event, _TxStarted):
            key_ = (event.station_id, event.connector_id)
            current = self._sessions.get(key_)
            if current is None or event.frame_offset >= current.order:
                self._sessions[key_] = site_round.Session(event.transaction_id, event.frame_offset)
        else:
            for k, session in list(self._sessions.items()):
                if k[0] == event.station_id and session.transaction_id == event.transaction_id:
                    del self._sessions[k]
        self._wake_station(event.station_id)

    def _on_own_event(self, partition: int, key: bytes | None, value: bytes | None) -> None:
        if value is not None:
            self._remember(event_decoder.decode(value))

    def _remember(self, event: SmartChargingEvent) -> None:
        site_round.remember(self._history.setdefault(event.site_id, site_round.History()), event)

    def _on_registration(self, station_id: str, registration: StationRegistration | None) -> None:
        """A station with a running session joined, left or changed site: every site it may have
        been part of shares again (the old one learns it is gone, the new one that it came)."""
        if any(k[0] == station_id for k in self._sessions):
            for site_id in list(self._state):
                self._wake(site_id)
            if registration is not None and registration.site is not None:
                self._wake(registration.site)

    def _on_presence(self, station_id: str, presence: Presence | None) -> None:
        """A station that connects again may take a limit now: forget that it was unreachable."""
        site_id = self._site_of(station_id)
        managed = self._state.get(site_id) if site_id else None
        if managed is None or presence is None or not presence.connected:
            return
        refused = managed.state.refused
        for k, (_, status, _) in list(refused.items()):
            if k[0] == station_id and status == "unreachable":
                del refused[k]
        self._wake_station(station_id)

    async def _start_meters(self) -> None:
        """MeterValues from now on (what cars draw now); no group: every allocator sees every site."""
        self._meters = make_consumer(
            self.settings.kafka_bootstrap, auto_offset_reset="latest", wake=Wake.BATCH
        )
        await self._meters.start()
        self._meters.subscribe([self.topics.frames])
        self._meter_task = asyncio.create_task(self._read_meters(), name="site-meters")

    async def _read_meters(self) -> None:
        assert self._meters is not None
        while True:
            batches = await self._meters.getmany(timeout_ms=500)
            for records in batches.values():
                for msg in records:
                    # The key is the station: frames of stations outside managed sites are not decoded.
                    site_id = self._site_of(msg.key.decode()) if msg.key is not None else None
                    if site_id is not None and site_id in self._state and site_id in self.sites:
                        try:
                            self._on_meter(site_id, msg.value)
                        except UndecodableRecord as exc:
                            undecodable.report(msg.topic, msg.partition, msg.offset, exc)

    def _on_meter(self, site_id: str, raw: bytes) -> None:
        call = station_request(decode_frame_record(raw), {"MeterValues"})
        if call is None:
            return
        record, request = call
        assert isinstance(request, MeterValuesRequest)
        site = self.sites[site_id][1]
        value = drawing(request, site.unit, site.voltage, site.phases)
        if value is None:
            return
        managed = self._state[site_id]
        key = (record.station_id, request.connector_id)
        before = managed.state.drawing.get(key)
        managed.state.drawing[key] = value
        if before is None or abs(before - value) >= site.deadband:
            managed.wake.set()

    # -- rounds ------------------------------------------------------------------------------------

    def _site_of(self, station_id: str) -> str | None:
        reg = self._registry.get(station_id)
        return reg.site if reg is not None else None

    def _wake_station(self, station_id: str) -> None:
        site_id = self._site_of(station_id)
        if site_id is not None:
            self._wake(site_id)

    def _wake(self, site_id: str) -> None:
        if site_id not in self.sites:
            return
        managed = self._state.get(site_id)
        if managed is None:
            restored = site_round.restore(self._history.get(site_id, site_round.History()))
            managed = self._state[site_id] = _Site(restored)
            managed.task = asyncio.create_task(self._loop(site_id), name=f"site:{site_id}")
        managed.wake.set()

    async def _loop(self, site_id: str) -> None:
        managed = self._state[site_id]
        while True:
            await managed.wake.wait()
            await asyncio.sleep(0.05)  # let a burst of inputs (a fleet starting) land in one round
            managed.wake.clear()
            try:
                await self._round(site_id, managed)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("site %s: allocation round failed", site_id)

    async def _round(self, site_id: str, managed: _Site) -> None:
        site, state = self.sites[site_id][1], managed.state
        found = site_round.demands(site, self._sessions, self._site_of, state.drawing)
        site_round.forget_ended(state, {d.key: d.transaction_id for d in found})
        down = site_round.plan_decreases(site, found, state, self._clock())
        refusals = await self._carry_out(site, state, down)
        now = self._clock()
        up = site_round.plan_increases(site, found, state, down.targets, now)
        refusals += await self._carry_out(site, state, up, raised_at=now)
        if refusals:
            managed.wake.set()  # a refusing station counts at its cap from now on: share again
        if up.due_ms is not None:
            if managed.timer is not None:
                managed.timer.cancel()
            delay = max((up.due_ms - self._clock()) / 1000, 0.0)
            managed.timer = asyncio.get_running_loop().call_later(delay, managed.wake.set)
        event = site_round.allocation(site, state, found, down.targets, self._clock())
        history = self._history.get(site_id)
        planned = down.event is not None or up.event is not None
        if planned or not site_round.decided_the_same(history.allocated if history else None, event):
            await self._append(event)
        self.rounds[site_id] = self.rounds.get(site_id, 0) + 1

    def limits(self, site_id: str) -> dict[Key, float]:
        """The limits in force this allocator knows of for ``site_id`` (accepted by the stations)."""
        managed = self._state.get(site_id)
        return {k: v[1] for k, v in managed.state.applied.items()} if managed is not None else {}

    async def _append(self, event: SmartChargingEvent) -> None:
        self._remember(event)
        await self._producer.send_and_wait(
            self.topics.domain(SERVICE), encode(event), key=event.site_id.encode()
        )

    async def _carry_out(
        self,
        site: SiteRecord,
        state: site_round.SiteState,
        plan: site_round.Plan,
        raised_at: int | None = None,
    ) -> int:
        """Record the plan, then send its limits at once and apply the answers; returns how many
        were refused."""
        if plan.event is None:
            return 0
        await self._append(plan.event)
        answers = await asyncio.gather(*(self._set_limit(site, c) for c in plan.changes))
        refusals = site_round.answered(state, plan.changes, answers, raised_at)
        for change, status, reason in refusals:
            log.warning(
                "site %s: %s connector %d did not take limit %.1f %s (%s: %s)",
                site.site_id,
                change.key[0],
                change.key[1],
                change.limit,
                site.unit,
                status,
                reason,
            )
        return len(refusals)

    async def _set_limit(self, site: SiteRecord, change: Change) -> site_round.Answer:
        """Send one TxProfile and say how the station took it."""
        try:
            outcome = await self._commands.call(
                change.key[0],
                "SetChargingProfile",
                msgspec.json.encode(site_round.profile_request(site, change)),
                timeout=self.settings.command_timeout,
            )
        except NotConnected:
            return "unreachable", "not connected"
        return site_round.answer_of(outcome)

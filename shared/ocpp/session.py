"""The OCPP-J session rules of one WebSocket connection, as a Sans-I/O core.

No sockets, no asyncio, no clock: text and ``now`` (monotonic seconds) go in, events and frames to
send come out. The gateway (central-system side) and the simulator (station side) drive the same
core. Usage::

    session = Session(call_timeout=30)
    for event in session.receive_text(text, now):      # a frame arrived
        ...                                            # CallReceived -> answer later with reply()
    session.send_call("Reset", b'{"type":"Soft"}', now, ref="cmd-1")
    for out in session.data_to_send():                 # persist out.text, then write it
        ...
    for event in session.tick(now):                    # at session.next_deadline()
        ...                                            # AnswerOverdue -> answer it now

Rules (OCPP-J 1.6 section 4 with errata J 3.4):
- *One CALL in flight per direction.* Our CALLs queue (bounded; :class:`QueueFull` beyond) and go
  out one at a time, the next when the previous is answered or times out. A queued CALL whose caller
  deadline passes is dropped unsent (:class:`CallExpired`).
- *The peer's CALLs* are surfaced as :class:`CallReceived`; answers are released in the order the
  CALLs arrived, whatever order the application answers in. A peer that breaks the one-in-flight
  rule is still served (rejecting a station's transaction messages would lose data) up to
  ``max_inbound_pending``; beyond that, CALLERROR GenericError.
- *Our answers have a deadline* (``answer_timeout``, none by default): a peer's CALL still unanswered
  that long after it arrived is reported once (:class:`AnswerOverdue`); the application answers it
  then (the gateway: CALLERROR InternalError, OCPP-J 4.2.3), and an answer coming after that finds the
  CALL answered and is refused (:meth:`Session.reply` is False; :meth:`Session.overdue` tells a late
  answer from one for a CALL never received). Time is the core's alone, so no answer can slip in
  between a deadline kept elsewhere and the core's own bookkeeping.
- *Repeated message ids.* A CALL whose id is still being handled gets CALLERROR ProtocolError
  (OCPP-J 4.2.3 lists "an existing call with the same unique identifier is being handled already");
  a CALL repeating a recently answered id is a retransmission after a lost answer: the cached answer
  is sent again without processing the CALL twice (:class:`CallRepeated`).
- *Replies* are matched by id to our outstanding CALL; unknown ids and replies after a timeout are
  reported (:class:`UnexpectedReply`) and otherwise ignored.
- *Bad frames* give :class:`ProtocolViolation`; a CALLERROR is queued when the frame could be a CALL
  (never in answer to a CALLRESULT/CALLERROR). The session keeps working.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from shared.ocpp.errors import ErrorCode
from shared.ocpp.frames import (
    CALL,
    CALLERROR,
    CALLRESULT,
    Call,
    CallError,
    CallResult,
    FrameError,
    UnknownMessageType,
    encode_call,
    encode_error,
    encode_result,
    parse_frame,
)

_encode = msgspec.json.encode


class QueueFull(Exception):
    """The outgoing CALL queue of this connection is full."""


@dataclass(frozen=True)
class Outgoing:
    """A frame to persist and then write, with what the adapter needs to log it without parsing."""

    text: str
    message_type: int
    unique_id: str
    action: str | None = None
    ref: object = None


@dataclass(frozen=True)
class CallReceived:
    unique_id: str
    action: str
    payload: msgspec.Raw


@dataclass(frozen=True)
class CallRepeated:
    """The peer re-sent a CALL we already answered; the cached answer went out again."""

    unique_id: str
    action: str


@dataclass(frozen=True)
class ResultReceived:
    unique_id: str
    action: str
    payload: msgspec.Raw
    ref: object
    elapsed: float


@dataclass(frozen=True)
class ErrorReceived:
    unique_id: str
    action: str
    error_code: str
    error_description: str
    error_details: msgspec.Raw
    ref: object
    elapsed: float


@dataclass(frozen=True)
class UnexpectedReply:
    """A CALLRESULT/CALLERROR for no outstanding CALL; ``late`` when its CALL had timed out."""

    message_type: int
    unique_id: str
    late: bool


@dataclass(frozen=True)
class ProtocolViolation:
    unique_id: str | None
    message_type: int | None
    code: ErrorCode
    description: str
    answered: bool


@dataclass(frozen=True)
class Ignored:
    """A message type other than 2/3/4 (OCPP-J 4.1.3)."""

    message_type: int
    unique_id: str | None


@dataclass(frozen=True)
class CallTimedOut:
    unique_id: str
    action: str
    ref: object


@dataclass(frozen=True)
class AnswerOverdue:
    """A peer's CALL is still unanswered ``answer_timeout`` after it arrived.

    Answer it before anything else reaches the session (the gateway answers InternalError): the
    session only refuses answers to it once it is answered."""

    unique_id: str
    action: str


@dataclass(frozen=True)
class CallExpired:
    """A queued CALL whose caller deadline passed before it could be sent; it never went out."""

    action: str
    ref: object


Event = (
    CallReceived
    | CallRepeated
    | ResultReceived
    | ErrorReceived
    | UnexpectedReply
    | ProtocolViolation
    | Ignored
    | CallTimedOut
    | AnswerOverdue
    | CallExpired
)


@dataclass(slots=True)
class _OurCall:
    action: str
    payload: bytes
    ref: object
    deadline: float | None
    unique_id: str = ""
    sent_at: float = 0.0


@dataclass(slots=True)
class _TheirCall:
    action: str
    answer_by: float | None  # None: no deadline, or its AnswerOverdue was reported


def _uuid() -> str:
    return str(uuid.uuid4())


class Session:
    # One per connection on a gateway: slots, not an instance dict (ADR 0042).
    __slots__ = (
        "_answered",
        "_answered_cache",
        "_answers",
        "_dup_answers",
        "_inbound",
        "_late_memory",
        "_max_inbound",
        "_max_queued",
        "_new_id",
        "_out",
        "_outstanding",
        "_overdue",
        "_pending_events",
        "_queue",
        "_timed_out",
        "answer_timeout",
        "call_timeout",
    )

    def __init__(
        self,
        *,
        call_timeout: float = 30.0,
        answer_timeout: float | None = None,
        max_queued_calls: int = 32,
        max_inbound_pending: int = 8,
        answered_cache: int = 16,
        late_memory: int = 64,
        id_factory: Callable[[], str] = _uuid,
    ) -> None:
        self.call_timeout = call_timeout
        self.answer_timeout = answer_timeout
        self._max_queued = max_queued_calls
        self._max_inbound = max_inbound_pending
        self._new_id = id_factory
        self._out: list[Outgoing] = []
        # Our side: at most one outstanding CALL, the rest queued.
        self._outstanding: _OurCall | None = None
        # A list, not a deque: at most max_queued_calls long, and an empty deque is 600 bytes
        # on every connection (most never queue a CALL).
        self._queue: list[_OurCall] = []
        # Plain dicts, ordered since Python 3.7, for every memory of ids below: an OrderedDict
        # costs each of the gateway's connections several hundred bytes more (ADR 0042).
        self._timed_out: dict[str, None] = {}
        self._late_memory = late_memory
        # Their side: CALLs in arrival order; answers wait here until every earlier CALL is answered.
        self._inbound: dict[str, _TheirCall] = {}
        self._answers: dict[str, str] = {}
        self._answered: dict[str, tuple[str, str]] = {}  # id -> (action, frame)
        self._answered_cache = answered_cache
        self._dup_answers: dict[str, list[str]] = {}
        self._overdue: dict[str, None] = {}  # CALLs that went unanswered too long
        # Events produced outside receive_text/tick (a send_call that expired queued calls).
        self._pending_events: list[Event] = []

    # -- input ----------------------------------------------------------------------------------

    def receive_text(self, text: str | bytes, now: float) -> list[Event]:
        try:
            frame = parse_frame(text)
        except FrameError as error:
            # Never answer a reply with an error: only what may have been a CALL gets a CALLERROR.
            answer = error.message_type in (None, CALL) and error.unique_id is not None
            if answer:
                assert error.unique_id is not None
                self._emit(
                    Outgoing(
                        encode_error(error.unique_id, error.code, error.description),
                        CALLERROR,
                        error.unique_id,
                    )
                )
            return [
                ProtocolViolation(error.unique_id, error.message_type, error.code, error.description, answer)
            ]
        if isinstance(frame, Call):
            return self._on_call(frame, now)
        if isinstance(frame, UnknownMessageType):
            return [Ignored(frame.message_type, frame.unique_id)]
        return self._on_reply(frame, now)

    def _on_call(self, call: Call, now: float) -> list[Event]:
        uid = call.unique_id
        if uid in self._inbound:
            self._queue_answer_after_pending(
                uid,
                encode_error(
                    uid, ErrorCode.PROTOCOL_ERROR, "a CALL with this message id is already being handled"
                ),
            )
            return [
                ProtocolViolation(
                    uid, CALL, ErrorCode.PROTOCOL_ERROR, "duplicate message id of a CALL in progress", True
                )
            ]
        if uid in self._answered:
            action, frame = self._answered[uid]
            self._emit(Outgoing(frame, CALLRESULT if frame.startswith("[3") else CALLERROR, uid, action))
            return [CallRepeated(uid, call.action)]
        if len(self._inbound) >= self._max_inbound:
            self._emit(
                Outgoing(
                    encode_error(
                        uid, ErrorCode.GENERIC_ERROR, "too many CALLs in progress on this connection"
                    ),
                    CALLERROR,
                    uid,
                    call.action,
                )
            )
            return [ProtocolViolation(uid, CALL, ErrorCode.GENERIC_ERROR, "too many CALLs in progress", True)]
        answer_by = None if self.answer_timeout is None else now + self.answer_timeout
        self._inbound[uid] = _TheirCall(sys.intern(call.action), answer_by)  # kept in _answered
        self._overdue.pop(uid, None)  # a new CALL reusing the id of one that went overdue
        return [CallReceived(uid, call.action, call.payload)]

    def _queue_answer_after_pending(self, uid: str, frame: str) -> None:
        """A duplicate id cannot be a key of its own; answer it right after the original's answer."""
        self._dup_answers.setdefault(uid, []).append(frame)

    def _on_reply(self, frame: CallResult | CallError, now: float) -> list[Event]:
        mtype = CALLRESULT if isinstance(frame, CallResult) else CALLERROR
        ours = self._outstanding
        if ours is None or ours.unique_id != frame.unique_id:
            return [UnexpectedReply(mtype, frame.unique_id, late=frame.unique_id in self._timed_out)]
        self._outstanding = None
        elapsed = now - ours.sent_at
        event: Event
        if isinstance(frame, CallResult):
            event = ResultReceived(frame.unique_id, ours.action, frame.payload, ours.ref, elapsed)
        else:
            event = ErrorReceived(
                frame.unique_id,
                ours.action,
                frame.error_code,
                frame.error_description,
                frame.error_details,
                ours.ref,
                elapsed,
            )
        return [event, *self._release_next(now)]

    # -- answering the peer ---------------------------------------------------------------------

    def reply(self, unique_id: str, payload: bytes) -> bool:
        """Answer a received CALL; False when no such CALL is waiting (already answered or unknown)."""
        return self._answer(unique_id, encode_result(unique_id, payload))

    def reply_error(
        self, unique_id: str, code: ErrorCode | str, description: str, details: dict[str, Any] | None = None
    ) -> bool:
        return self._answer(
            unique_id, encode_error(unique_id, code, description, _encode(details) if details else None)
        )

    def _answer(self, unique_id: str, frame: str) -> bool:
        if not self.awaits_answer(unique_id):
            return False
        self._answers[unique_id] = frame
        while self._inbound:
            head = next(iter(self._inbound))
            if head not in self._answers:
                break
            action = self._inbound.pop(head).action
            text = self._answers.pop(head)
            self._emit(Outgoing(text, CALLRESULT if text.startswith("[3") else CALLERROR, head, action))
            for dup in self._dup_answers.pop(head, []):
                self._emit(Outgoing(dup, CALLERROR, head, action))
            self._answered[head] = (action, text)
            if len(self._answered) > self._answered_cache:
                del self._answered[next(iter(self._answered))]
        return True

    def drop_peer_calls(self) -> None:
        """The connection is gone: no answer can reach the peer, so its CALLs are awaited no more
        (answers to them are refused, none goes overdue). Our own CALLs are left as they are."""
        self._inbound.clear()
        self._answers.clear()
        self._dup_answers.clear()

    # -- calling the peer -----------------------------------------------------------------------

    def send_call(
        self, action: str, payload: bytes, now: float, *, ref: object = None, deadline: float | None = None
    ) -> None:
        """Queue a CALL; it goes out at once when nothing is outstanding. Raises QueueFull."""
        if len(self._queue) >= self._max_queued:
            raise QueueFull(f"{len(self._queue)} CALLs already queued")
        self._queue.append(_OurCall(action, payload, ref, deadline))
        if self._outstanding is None:
            self._pending_events.extend(self._release_next(now))

    def _release_next(self, now: float) -> list[Event]:
        events: list[Event] = []
        while self._outstanding is None and self._queue:
            call = self._queue.pop(0)
            if call.deadline is not None and call.deadline <= now:
                events.append(CallExpired(call.action, call.ref))
                continue
            call.unique_id = self._new_id()
            call.sent_at = now
            self._outstanding = call
            self._emit(
                Outgoing(
                    encode_call(call.unique_id, call.action, call.payload),
                    CALL,
                    call.unique_id,
                    call.action,
                    call.ref,
                )
            )
        return events

    # -- time -----------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        times = [c.deadline for c in self._queue if c.deadline is not None]
        times.extend(c.answer_by for c in self._inbound.values() if c.answer_by is not None)
        if self._outstanding is not None:
            times.append(self._outstanding.sent_at + self.call_timeout)
        return min(times) if times else None

    def tick(self, now: float) -> list[Event]:
        events, self._pending_events = self._pending_events, []
        for uid, theirs in self._inbound.items():
            if theirs.answer_by is not None and theirs.answer_by <= now and uid not in self._answers:
                theirs.answer_by = None  # reported once
                _remember(self._overdue, uid, self._late_memory)
                events.append(AnswerOverdue(uid, theirs.action))
        ours = self._outstanding
        if ours is not None and now >= ours.sent_at + self.call_timeout:
            self._outstanding = None
            _remember(self._timed_out, ours.unique_id, self._late_memory)
            events.append(CallTimedOut(ours.unique_id, ours.action, ours.ref))
        kept: list[_OurCall] = []
        for call in self._queue:
            if call.deadline is not None and call.deadline <= now:
                events.append(CallExpired(call.action, call.ref))
            else:
                kept.append(call)
        self._queue = kept
        events.extend(self._release_next(now))
        return events

    # -- output ---------------------------------------------------------------------------------

    def _emit(self, out: Outgoing) -> None:
        self._out.append(out)

    def data_to_send(self) -> list[Outgoing]:
        """Frames to persist and write, in order; each is returned once."""
        out, self._out = self._out, []
        return out

    def awaits_answer(self, unique_id: str) -> bool:
        """Whether the peer's CALL ``unique_id`` was received here and is not answered yet.

        Ids are per session, that is per connection: a CALL received on an earlier connection is
        never matched by a new connection's session."""
        return unique_id in self._inbound and unique_id not in self._answers

    @property
    def unanswered(self) -> list[str]:
        """The peer's CALLs waiting for the application's answer, in arrival order."""
        return [uid for uid in self._inbound if uid not in self._answers]

    def overdue(self, unique_id: str) -> bool:
        """Whether the peer's CALL ``unique_id`` went overdue (:class:`AnswerOverdue`): an answer for
        it arriving now is late, not one for a CALL never received (the last ``late_memory`` kept)."""
        return unique_id in self._overdue

    @property
    def outstanding(self) -> str | None:
        return self._outstanding.unique_id if self._outstanding else None

    def is_in_flight(self, ref: object) -> bool:
        """Whether the CALL sent with ``ref`` is on the wire (not still queued behind another)."""
        return self._outstanding is not None and self._outstanding.ref is ref


def _remember(memory: dict[str, None], unique_id: str, size: int) -> None:
    """Add to a bounded memory of ids, forgetting the oldest beyond ``size``."""
    memory[unique_id] = None
    if len(memory) > size:
        del memory[next(iter(memory))]

"""Which database errors are the database's fault and which are the record's (ADR 0018).

A projection retries a *transient* error (the connection, the server, a timeout) with backoff and
loses nothing; it cannot retry its way past a *poison* record (PostgreSQL refuses the value), so it
dead-letters that one record and goes on. Treating every error as "database unavailable" stopped a
read model for all stations on one bad frame; treating too few as transient let
``InternalClientError`` escape and kill the process during an outage.
"""

from __future__ import annotations

import asyncpg
import msgspec

# The data of one record, not the database, is wrong: retrying it can never succeed.
POISON: tuple[type[BaseException], ...] = (
    asyncpg.DataError,  # class 22: out of range, U+0000 in text, invalid text representation
    asyncpg.IntegrityConstraintViolationError,  # class 23
    asyncpg.ProgramLimitExceededError,  # class 54: e.g. an index row too large for one value
    # Raised by a projection's own code on a record it cannot read.
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    ArithmeticError,
    msgspec.MsgspecError,
)

# Errors of the connection, the server or the client library: wait and try again.
TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,  # includes ConnectionError and TimeoutError (asyncio.TimeoutError)
    asyncpg.PostgresError,  # connection classes 08, 53, 57 (shutdown), 40 (serialisation), ...
    asyncpg.InterfaceError,  # "connection is closed", "another operation is in progress"
    asyncpg.InternalClientError,  # "cannot switch to state 15" after a lost connection
)


def is_poison(exc: BaseException) -> bool:
    """The record that raised ``exc`` can never be applied; anything else is retried."""
    return isinstance(exc, POISON) and not isinstance(exc, OSError)


def is_transient(exc: BaseException) -> bool:
    """A database failure to wait out (never one caused by the record being applied)."""
    return isinstance(exc, TRANSIENT) and not is_poison(exc)

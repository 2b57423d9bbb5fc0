"""What a projection is: a deterministic function of records into its own tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import asyncpg
from aiokafka import ConsumerRecord

from shared.events.topics import Topics


class Projection(Protocol):
    name: str
    # Bump when what ``apply`` writes changes while the DDL does not (the DDL is part of the shape).
    version: int

    def topics(self) -> Sequence[str]: ...

    def ddl(self) -> Sequence[str]:
        """Idempotent CREATE statements; a projection whose shape changes is dropped and replayed."""

    def tables(self) -> Sequence[str]:
        """Its tables, for a rebuild (dropped in this order)."""

    async def apply(self, conn: asyncpg.Connection, batch: Sequence[ConsumerRecord]) -> None:
        """Apply records in log order, inside the runner's transaction. Must be deterministic."""


class TableProjection:
    """What every projection shares: its tables, their DDL, and the topics it reads (default: frames).

    Subclasses set ``name``, ``statements`` (idempotent DDL) and ``table_names`` (drop order), and
    implement ``apply``.
    """

    name: str
    version: int = 1
    statements: Sequence[str] = ()
    table_names: Sequence[str] = ()

    def __init__(self, topics: Topics) -> None:
        self._topics = topics

    def topics(self) -> Sequence[str]:
        return [self._topics.frames]

    def ddl(self) -> Sequence[str]:
        return self.statements

    def tables(self) -> Sequence[str]:
        return self.table_names

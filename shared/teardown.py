"""Remove an isolated system: the topics under its prefix and its read models' schema.

Benchmark runs and test sessions each run a whole system under a topic prefix and a PostgreSQL
schema of their own on a shared broker and server; this removes what one of them made.
"""

from __future__ import annotations

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka import connection


async def remove_system(bootstrap: str, database_url: str, prefix: str, schema: str) -> None:
    if not prefix:
        raise ValueError("refusing to delete every topic: the prefix is empty")
    try:
        admin = AIOKafkaAdminClient(**connection(), bootstrap_servers=bootstrap)
        await admin.start()
        try:
            names = [t for t in await admin.list_topics() if t.startswith(prefix)]
            if names:
                await admin.delete_topics(names)
        finally:
            await admin.close()
    finally:  # the schema goes even when the broker refused: each removal is worth doing alone
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

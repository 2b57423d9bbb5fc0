"""Test-wide fixtures.

End-to-end tests run against the real Kafka and PostgreSQL that ``make test`` starts
(deploy/local/); they fail loudly, never skip, when those are absent. testcontainers is used
instead when a Docker engine exists and no service URL is configured (see tests/infra.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvloop

from tests import infra


def pytest_configure(config: object) -> None:
    infra.provide()


def pytest_unconfigure(config: object) -> None:
    infra.release()


def pytest_asyncio_loop_factories(config: object, item: object) -> dict[str, object]:
    return {"uvloop": uvloop.new_event_loop}


UNIT = Path(__file__).parent / "unit"


@pytest.fixture(autouse=True)
async def asyncio_debug(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """asyncio's debug mode for unit tests: a coroutine never awaited, a resource left open or a call
    from the wrong thread is reported (and, with ``filterwarnings = error``, fails the test).

    Not for tests/e2e and tests/faults: there the whole system runs in (or beside) the test process,
    and debug mode's bookkeeping (a stack for every task and handle) slowed it several-fold, enough
    to turn each fixed window a test waits in into a failure (ADR 0031)."""
    loop = asyncio.get_running_loop()
    was = loop.get_debug()
    loop.set_debug(UNIT in request.path.parents)
    yield
    loop.set_debug(was)

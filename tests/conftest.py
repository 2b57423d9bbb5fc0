"""Test-wide fixtures.

End-to-end tests run against the real Kafka and PostgreSQL that ``make test`` starts
(deploy/local/); they fail loudly, never skip, when those are absent. testcontainers is used
instead when a Docker engine exists and no service URL is configured (see tests/infra.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import uvloop

from tests import infra


def pytest_configure(config: object) -> None:
    infra.provide()


def pytest_unconfigure(config: object) -> None:
    infra.release()


def pytest_asyncio_loop_factories(config: object, item: object) -> dict[str, object]:
    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture(scope="session", autouse=True)
async def asyncio_debug() -> AsyncIterator[None]:
    """asyncio's debug mode for the tests' loop: a coroutine never awaited, a resource left open or a
    call from the wrong thread is reported (and, with ``filterwarnings = error``, fails the test).
    Processes the tests start run without it, as in production."""
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    yield
    loop.set_debug(False)

"""Test-wide fixtures.

End-to-end tests run against the real Kafka and PostgreSQL that ``make test`` starts
(deploy/local/); they fail loudly, never skip, when those are absent. testcontainers is used
instead when a Docker engine exists and no service URL is configured (see tests/infra.py).
"""

from __future__ import annotations

import asyncio
import inspect
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Unit tests that are coroutines run with :func:`asyncio_debug`. Only those: a sync test that
    asked for an async fixture would make pytest-asyncio set up the session loop's runner anew,
    closing the loop the end-to-end system ran on."""
    for item in items:
        if UNIT in item.path.parents and inspect.iscoroutinefunction(getattr(item, "obj", None)):
            item.fixturenames.append("asyncio_debug")  # type: ignore[attr-defined]


@pytest.fixture
async def asyncio_debug() -> AsyncIterator[None]:
    """asyncio's debug mode for unit tests: a coroutine never awaited, a resource left open or a call
    from the wrong thread is reported (and, with ``filterwarnings = error``, fails the test).

    Not for tests/e2e and tests/faults: there the whole system runs in (or beside) the test process,
    and debug mode's bookkeeping (a stack for every task and handle) slowed it several-fold, enough
    to turn each fixed window a test waits in into a failure (ADR 0031)."""
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    yield
    loop.set_debug(False)

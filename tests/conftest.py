"""Test-wide fixtures.

End-to-end tests run against the real Kafka and PostgreSQL that ``make test`` starts
(deploy/local/); they fail loudly, never skip, when those are absent. testcontainers is used
instead when a Docker engine exists and no service URL is configured (see tests/infra.py).
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvloop

from tests import infra


def pytest_configure(config: object) -> None:
    infra.provide()


def pytest_unconfigure(config: object) -> None:
    infra.release()


# Every resource a test run left open (ResourceWarning), reported and failing the run at its end.
LEAKS: list[str] = []


def pytest_warning_recorded(warning_message: warnings.WarningMessage, when: str, nodeid: str) -> None:
    if issubclass(warning_message.category, ResourceWarning):
        LEAKS.append(f"{nodeid or when}: {warning_message.message}")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """A leaked socket, connection or file fails the run (ADR 0031).

    Not raised where it is found: the leaks of the session's event loop surface inside its
    ``loop.close()``, and an exception there aborted the close and hung the run. So they are
    reported (``default::ResourceWarning``), collected here, and what the garbage collector still
    finds now (the loop is closed: nothing can hang) is added; then the exit status says failed."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    LEAKS.extend(f"at the end: {w.message}" for w in caught if issubclass(w.category, ResourceWarning))
    if LEAKS:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_sep("=", f"{len(LEAKS)} resources left open (ResourceWarning)", red=True)
            for leak in LEAKS:
                reporter.write_line(leak)
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


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

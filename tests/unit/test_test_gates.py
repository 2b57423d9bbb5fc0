"""The test suite's own gates (pyproject.toml, tests/conftest.py) are on: a change that drops one fails here."""

from __future__ import annotations

import asyncio
import warnings

import pytest


async def test_the_loop_runs_in_debug_mode() -> None:
    assert asyncio.get_running_loop().get_debug()


def test_a_sync_test_does_not_ask_for_debug_mode(request: pytest.FixtureRequest) -> None:
    """Sync unit tests and e2e tests do not ask for it (tests/conftest.py)."""
    assert "asyncio_debug" not in request.fixturenames


def test_a_warning_fails_the_test() -> None:
    with pytest.raises(UserWarning):
        warnings.warn("any warning is an error in tests", UserWarning, stacklevel=1)

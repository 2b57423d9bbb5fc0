"""The test suite's own gates (pyproject.toml, tests/conftest.py) are on: a change that drops one fails here."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


async def test_the_loop_runs_in_debug_mode() -> None:
    assert asyncio.get_running_loop().get_debug()


def test_a_sync_test_does_not_ask_for_debug_mode(request: pytest.FixtureRequest) -> None:
    """Sync unit tests and e2e tests do not ask for it (tests/conftest.py)."""
    assert "asyncio_debug" not in request.fixturenames


def test_a_warning_fails_the_test() -> None:
    with pytest.raises(UserWarning):
        warnings.warn("any warning is an error in tests", UserWarning, stacklevel=1)


LEAKING_TEST = """
import socket


def test_leaks_a_socket() -> None:
    sock = socket.socket()
    del sock
"""


def test_a_resource_left_open_fails_the_run() -> None:
    """A leak is reported where it is found and fails the run at its end (tests/conftest.py)."""
    leaking = ROOT / "tests" / "unit" / f"test_leak_{uuid.uuid4().hex[:8]}.py"
    leaking.write_text(LEAKING_TEST)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", str(leaking), "-q", "-p", "no:cacheprovider"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        leaking.unlink()
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout + done.stderr
    assert "1 passed" in done.stdout and "1 resources left open" in done.stdout, done.stdout
    assert "test_leaks_a_socket: unclosed <socket.socket" in done.stdout, done.stdout

"""``kill -USR1`` shows what a live process waits on: every task with the frame it is suspended in."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from shared.diagnostics import install_task_dump, task_stacks


async def waits_for_the_log(event: asyncio.Event) -> None:
    await event.wait()


async def test_task_stacks_name_each_task_and_where_it_waits() -> None:
    event = asyncio.Event()
    task = asyncio.create_task(waits_for_the_log(event), name="gateway-inbox")
    await asyncio.sleep(0)
    dump = task_stacks(asyncio.get_running_loop())
    event.set()
    await task
    assert "--- gateway-inbox:" in dump
    assert "in waits_for_the_log" in dump
    assert "await event.wait()" in dump


async def test_sigusr1_logs_the_dump(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    install_task_dump(loop)
    try:
        with caplog.at_level("WARNING", logger="shared.diagnostics"):
            os.kill(os.getpid(), signal.SIGUSR1)

            def dumps() -> list[str]:
                return [r.getMessage() for r in caplog.records if r.getMessage().startswith("SIGUSR1:")]

            async with asyncio.timeout(5):
                while not dumps():  # noqa: ASYNC110 - the signal handler runs on this loop
                    await asyncio.sleep(0.01)
        assert " tasks\n--- " in dumps()[0]
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)

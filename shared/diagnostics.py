"""What a live process is waiting on, for an operator: ``kill -USR1 <pid>`` writes the stack of
every asyncio task to the log (a hung exchange shows the await it hangs in). No restart, no
debugger, no cost until the signal arrives."""

from __future__ import annotations

import asyncio
import io
import logging
import signal

log = logging.getLogger(__name__)


def task_stacks(loop: asyncio.AbstractEventLoop) -> str:
    """Every task of ``loop`` with the frames it is suspended in."""
    out = io.StringIO()
    tasks = sorted(asyncio.all_tasks(loop), key=lambda t: t.get_name())
    out.write(f"{len(tasks)} tasks\n")
    for task in tasks:
        out.write(f"--- {task.get_name()}: {task.get_coro()!r}\n")
        task.print_stack(limit=12, file=out)
    return out.getvalue()


def install_task_dump(loop: asyncio.AbstractEventLoop) -> None:
    """Log every task's stack on SIGUSR1."""
    loop.add_signal_handler(signal.SIGUSR1, lambda: log.warning("SIGUSR1: %s", task_stacks(loop)))

"""The 3-node KRaft cluster of the broker fault tests, run by the project's script
(``deploy/local/kafka.sh start --nodes 3``): its own ports, data and pid files, never the shared
single broker. A test kills nodes with SIGKILL and brings them back with the same script."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "local" / "kafka.sh"


def kafka_sh(*args: str) -> str:
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(
        ["bash", str(SCRIPT), *args, "--nodes", "3"], env=env, capture_output=True, text=True, timeout=180
    )
    if done.returncode != 0:
        raise RuntimeError(f"kafka.sh {' '.join(args)} failed: {done.stderr}")
    return done.stdout.strip()


class Cluster:
    def start(self) -> None:
        """Start every node that is not running and wait until all three are registered."""
        kafka_sh("start")

    @property
    def bootstrap(self) -> str:
        return kafka_sh("bootstrap")

    def kill(self, node: int) -> None:
        kafka_sh("kill", "--node", str(node))

    def stop(self) -> None:
        kafka_sh("stop")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    c.start()
    yield c
    c.stop()

"""Fault tests: the system against a PostgreSQL of the test's own, which the test stops and starts.

The shared server on 5432 is never touched: ``private_postgres`` runs ``initdb``/``pg_ctl`` (as in
deploy/local/postgres.sh) in a temporary directory on a free port, and the session's services are
pointed at it by overriding ``settings``; the other e2e fixtures are reused as they are.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from shared.config import Settings
from tests.e2e.conftest import api, db, session_settings, system

__all__ = ["api", "db", "system"]


def _bindir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if not found:
        pytest.fail("no PostgreSQL binaries in /usr/lib/postgresql (deploy/local/postgres.sh install)")
    return found[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class PrivatePostgres:
    """A throw-away cluster: trust authentication, its own socket directory, one database."""

    base: str
    port: int
    bindir: str
    run_as: list[str]

    @property
    def data(self) -> str:
        return os.path.join(self.base, "data")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.run_as, f"{self.bindir}/pg_ctl", "-D", self.data, *args], check=True, capture_output=True
        )

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.base} -c fsync=off"
        self._ctl("-l", os.path.join(self.base, "log"), "-w", "-t", "60", "-o", options, "start")

    def stop(self) -> None:
        """Fast shutdown: open connections are cut, as in a crash of the database host."""
        self._ctl("-m", "fast", "-w", "stop")


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    root = os.geteuid() == 0
    base = tempfile.mkdtemp(prefix="csms-faults-pg-")
    run_as = ["runuser", "-u", "postgres", "--"] if root else []  # the server refuses to run as root
    if root:
        shutil.chown(base, "postgres", "postgres")
    pg = PrivatePostgres(base, _free_port(), _bindir(), run_as)
    subprocess.run(
        [*run_as, f"{pg.bindir}/initdb", "-D", pg.data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    pg.start()
    try:
        yield pg
    finally:
        subprocess.run(
            [*run_as, f"{pg.bindir}/pg_ctl", "-D", pg.data, "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(private_postgres: PrivatePostgres, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The e2e session settings, with the read models in the private cluster."""
    return dataclasses.replace(session_settings(tmp_path_factory), database_url=private_postgres.url)

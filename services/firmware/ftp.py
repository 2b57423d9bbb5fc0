"""FTP for stations that only speak FTP (many 1.6 ones): pyftpdlib in a thread of its own.

Accounts are not configured but looked up per login from the service's state: ``fw-<campaign>``
(password: the campaign's token) reads the campaign's image directory; ``diag-<request>`` (password:
the request's token) writes into a private staging directory. A finished upload is handed to the
asyncio loop, which stores it and records the event.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyftpdlib.authorizers import AuthenticationFailed  # type: ignore[import-untyped]
from pyftpdlib.handlers import DTPHandler, FTPHandler  # type: ignore[import-untyped]
from pyftpdlib.ioloop import IOLoop  # type: ignore[import-untyped]
from pyftpdlib.servers import FTPServer  # type: ignore[import-untyped]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Account:
    password: str
    home: Path
    perms: str  # pyftpdlib letters: "elr" read-only, "elw" upload


class _Authorizer:
    """pyftpdlib's authorizer interface, answered from the service's state (no static user list)."""

    def __init__(self, lookup: Callable[[str], Account | None]) -> None:
        self._lookup = lookup

    def validate_authentication(self, username: str, password: str, handler: Any) -> None:
        account = self._lookup(username)
        if account is None or not hmac.compare_digest(account.password.encode(), password.encode()):
            raise AuthenticationFailed("authentication failed")
        account.home.mkdir(parents=True, exist_ok=True)

    def get_home_dir(self, username: str) -> str:
        account = self._lookup(username)
        return str(account.home) if account is not None else "/nonexistent"

    def has_user(self, username: str) -> bool:
        return self._lookup(username) is not None

    def has_perm(self, username: str, perm: str, path: str | None = None) -> bool:
        account = self._lookup(username)
        if account is None or perm not in account.perms:
            return False
        if path is None:
            return True
        home = account.home.resolve()
        target = Path(path).resolve()
        return target == home or home in target.parents

    def get_perms(self, username: str) -> str:
        account = self._lookup(username)
        return account.perms if account is not None else ""

    def get_msg_login(self, username: str) -> str:
        return "welcome"

    def get_msg_quit(self, username: str) -> str:
        return "bye"

    def impersonate_user(self, username: str, password: str) -> None:
        return None

    def terminate_impersonation(self, username: str) -> None:
        return None


class FtpServer:
    def __init__(
        self,
        host: str,
        port: int,
        lookup: Callable[[str], Account | None],
        on_upload: Callable[[str, Path], None],
        max_upload_bytes: int,
        *,
        passive_ports: range | None = None,
        masquerade_address: str | None = None,
    ) -> None:
        """``on_upload(username, path)`` is called from the FTP thread when a file was received.

        ``passive_ports`` and ``masquerade_address``: behind a load balancer or NAT (a Kubernetes
        Service), data connections must use ports the Service exposes and the address clients reach.
        """
        logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
        ports, masquerade = passive_ports, masquerade_address

        class Capped(DTPHandler):  # type: ignore[misc]
            """Stops an upload at the size limit (552), instead of storing first and judging after."""

            def handle_read(self) -> None:
                super().handle_read()
                if self.receive and self.tot_bytes_received > max_upload_bytes:
                    self._resp = ("552 Upload exceeds the size limit.", log.info)
                    self.transfer_finished = False
                    self.close()

            handle_read_event = handle_read  # the base class aliases its own handle_read

        class Handler(FTPHandler):  # type: ignore[misc]
            authorizer = _Authorizer(lookup)
            dtp_handler = Capped
            banner = "csms firmware"
            permit_foreign_addresses = False
            passive_ports = list(ports) if ports is not None else None
            masquerade_address = masquerade

            def on_file_received(self, file: str) -> None:
                on_upload(self.username, Path(file))

            def on_incomplete_file_received(self, file: str) -> None:
                Path(file).unlink(missing_ok=True)  # an aborted or capped upload is not kept

        # Its own I/O loop: pyftpdlib's default is one per process, which a second server (another
        # replica in the same process, as in the tests) would share and close with its own.
        self._server = FTPServer((host, port), Handler, ioloop=IOLoop())
        self.port: int = self._server.socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="ftp", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                self._server.serve_forever(timeout=0.2, blocking=False, handle_exit=False)
        finally:
            self._server.close_all()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

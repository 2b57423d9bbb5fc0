"""The station-facing FTP file server's glue to the service: accounts looked up in the state
(``fw-<campaign>`` reads the image, ``diag-<request>`` uploads), finished uploads moved into the
storage and recorded. The FTP protocol itself runs in ``ftp.py``'s thread."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from services.firmware import decide
from services.firmware.context import FirmwarePort
from services.firmware.ftp import Account, FtpServer
from services.firmware.storage import Stored, safe_name

log = logging.getLogger(__name__)


def port_range(text: str) -> range | None:
    """ "30000-30009" -> range(30000, 30010); "" -> None. A malformed range stops the start-up."""
    if not text:
        return None
    low, _, high = text.partition("-")
    try:
        first, last = int(low), int(high or low)
    except ValueError as exc:
        raise ValueError(f"CSMS_FILES_FTP_PASSIVE_PORTS must look like 30000-30009, not {text!r}") from exc
    if not 0 < first <= last < 65536:
        raise ValueError(f"CSMS_FILES_FTP_PASSIVE_PORTS {text!r} is not a port range")
    return range(first, last + 1)


class FtpFiles:
    def __init__(self, port: FirmwarePort) -> None:
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: FtpServer | None = None

    @property
    def bound_port(self) -> int:
        assert self._server is not None
        return self._server.port

    def start(self) -> None:
        """Start the FTP thread (on the loop whose tasks store the uploads)."""
        s = self.port.settings
        self._loop = asyncio.get_running_loop()
        self._server = FtpServer(
            s.files_host,
            s.files_ftp_port,
            self.account,
            self._uploaded,
            s.diagnostics_max_bytes,
            passive_ports=port_range(s.files_ftp_passive_ports),
            masquerade_address=s.files_ftp_masquerade or None,
        )
        self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await asyncio.to_thread(self._server.stop)
            self._server = None

    def account(self, username: str) -> Account | None:
        """Called from the FTP thread; reads the state only."""
        state, storage = self.port.state, self.port.storage
        kind, _, ident = username.partition("-")
        if kind == "fw":
            campaign = state.campaigns.get(ident)
            image = state.images.get(campaign.image_id) if campaign is not None else None
            path = storage.local_path(image.storage_key) if image is not None else None
            if campaign is None or path is None:
                return None
            return Account(campaign.token, path.parent, "elr")
        if kind == "diag":
            diag = state.diagnostics.get(ident)
            if diag is None:
                return None
            return Account(diag.token, storage.root / "ftp-staging" / diag.request_id, "elw")
        return None

    def _uploaded(self, username: str, path: Path) -> None:
        """From the FTP thread: store the file on the loop."""
        assert self._loop is not None
        request_id = username.partition("-")[2]

        def schedule() -> None:
            self.port.spawn(self._adopt_upload(request_id, path))

        self._loop.call_soon_threadsafe(schedule)

    async def _adopt_upload(self, request_id: str, path: Path) -> None:
        if request_id not in self.port.state.diagnostics:
            return
        stored = await asyncio.to_thread(self._adopt, request_id, path)
        if stored is not None:
            upload = decide.Uploaded(request_id, path.name, stored, "ftp")
            await self.port.record(decide.uploaded(self.port.state, upload, self.port.clock()))

    def _adopt(self, request_id: str, path: Path) -> Stored | None:
        """Move an FTP upload into the storage, or drop it (bad name, over the size limit)."""
        size = path.stat().st_size
        if not safe_name(path.name) or size > self.port.settings.diagnostics_max_bytes:
            log.warning("diagnostics %s: FTP upload %r (%d bytes) dropped", request_id, path.name, size)
            path.unlink(missing_ok=True)
            return None
        return self.port.storage.adopt(f"diagnostics/{request_id}/{path.name}", path)

"""What a simulated station does after UpdateFirmware and GetDiagnostics: real transfers, real statuses.

Firmware is downloaded from the location (HTTP in two Range requests, as a station resuming an
interrupted download does, or FTP), "installed", and confirmed by a BootNotification carrying the
new version (read from the image's first line ``CSMS-SIM-FW <version>``, else its sha256 prefix).
Diagnostics are a generated log uploaded over HTTP PUT or FTP STOR.

Failures are scripted per station (:func:`script`), so a fleet test can fail exactly the stations
it chooses; transfer errors fail for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import ftplib
import hashlib
import io
import logging
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import aiohttp

if TYPE_CHECKING:
    from services.simulator.station import SimStation

log = logging.getLogger(__name__)

MAGIC = b"CSMS-SIM-FW "
STEP = 0.05  # seconds between status notifications
MAX_WAIT = 5.0  # a retrieveDate further away is not waited for (a simulator, not a clock)


@dataclass
class Script:
    fail_download: bool = False
    fail_install: bool = False
    fail_upload: bool = False


@dataclass
class Memory:
    """What the station remembers across calls: its firmware version, what it uploaded last."""

    version: str = "1.0.0"
    downloaded: bytes | None = None
    uploaded: bytes | None = None


_scripts: weakref.WeakKeyDictionary[SimStation, Script] = weakref.WeakKeyDictionary()
_memory: weakref.WeakKeyDictionary[SimStation, Memory] = weakref.WeakKeyDictionary()


def script(st: SimStation, **failures: bool) -> None:
    """Script failures: ``fail_download``, ``fail_install``, ``fail_upload``."""
    _scripts[st] = Script(**failures)


def memory(st: SimStation) -> Memory:
    return _memory.setdefault(st, Memory())


def version_of(image: bytes) -> str:
    if image.startswith(MAGIC):
        return image[len(MAGIC) :].split(b"\n", 1)[0].decode(errors="replace").strip()[:50]
    return hashlib.sha256(image).hexdigest()[:12]


# -- transfers ----------------------------------------------------------------------------------------


async def download(location: str) -> bytes:
    url = urlsplit(location)
    if url.scheme == "ftp":
        return await asyncio.to_thread(_ftp_retrieve, location)
    if url.scheme not in ("http", "https"):
        raise ValueError(f"unsupported scheme {url.scheme!r}")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        async with session.head(location) as head:
            head.raise_for_status()
            size = int(head.headers["Content-Length"])
        half = size // 2
        parts = []
        for first, last in ((0, half - 1), (half, size - 1)):
            if last < first:
                continue
            async with session.get(location, headers={"Range": f"bytes={first}-{last}"}) as resp:
                if resp.status != 206:
                    raise OSError(f"expected 206 Partial Content, got {resp.status}")
                parts.append(await resp.read())
    data = b"".join(parts)
    if len(data) != size:
        raise OSError(f"got {len(data)} of {size} bytes")
    return data


async def upload(location: str, name: str, data: bytes) -> None:
    url = urlsplit(location)
    if url.scheme == "ftp":
        await asyncio.to_thread(_ftp_store, location, name, data)
        return
    if url.scheme not in ("http", "https"):
        raise ValueError(f"unsupported scheme {url.scheme!r}")
    target = location if location.endswith("/") else location + "/"
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
        session.put(target + name, data=data) as resp,
    ):
        resp.raise_for_status()


@contextlib.contextmanager
def _ftp(location: str) -> Iterator[tuple[ftplib.FTP, str]]:
    """A logged-in FTP session and the location's path; closed on the way out, even when the server
    dropped the connection or refused the login (ftplib.FTP's own ``with``: QUIT, then close)."""
    url = urlsplit(location)
    with ftplib.FTP() as ftp:
        ftp.connect(url.hostname or "127.0.0.1", url.port or 21, timeout=30)
        ftp.login(unquote(url.username or "anonymous"), unquote(url.password or ""))
        yield ftp, url.path


def _ftp_retrieve(location: str) -> bytes:
    buffer = io.BytesIO()
    with _ftp(location) as (ftp, path):
        ftp.retrbinary(f"RETR {path.lstrip('/')}", buffer.write)
    return buffer.getvalue()


def _ftp_store(location: str, name: str, data: bytes) -> None:
    with _ftp(location) as (ftp, path):
        directory = path.strip("/")
        if directory:
            ftp.cwd(directory)
        ftp.storbinary(f"STOR {name}", io.BytesIO(data))


# -- what the station does ------------------------------------------------------------------------------


async def _wait_for(retrieve_date: str | None) -> None:
    if not retrieve_date:
        return
    try:
        when = datetime.fromisoformat(retrieve_date)
    except ValueError:
        return
    delay = (when - datetime.now(UTC)).total_seconds()
    if delay > 0:
        await asyncio.sleep(min(delay, MAX_WAIT))


async def update(st: SimStation, req: dict[str, Any]) -> None:
    """Download, install, reboot (BootNotification with the new version), report Installed."""
    plan = _scripts.get(st, Script())
    mem = memory(st)
    await _wait_for(req.get("retrieveDate"))
    await st.call("FirmwareStatusNotification", {"status": "Downloading"})
    try:
        if plan.fail_download:
            raise OSError("scripted download failure")
        image = await download(req["location"])
    except (OSError, ValueError, aiohttp.ClientError, ftplib.Error, KeyError) as exc:
        log.info("%s: download failed: %s", st.station_id, exc)
        await asyncio.sleep(STEP)
        await st.call("FirmwareStatusNotification", {"status": "DownloadFailed"})
        return
    mem.downloaded = image
    await asyncio.sleep(STEP)
    await st.call("FirmwareStatusNotification", {"status": "Downloaded"})
    await asyncio.sleep(STEP)
    await st.call("FirmwareStatusNotification", {"status": "Installing"})
    await asyncio.sleep(STEP)
    if plan.fail_install:
        await st.call("FirmwareStatusNotification", {"status": "InstallationFailed"})
        return
    mem.version = version_of(image)
    await st.call(
        "BootNotification",
        {
            "chargePointVendor": "csms-sim",
            "chargePointModel": "Sim-2",
            "chargePointSerialNumber": st.station_id[-25:],
            "firmwareVersion": mem.version,
        },
    )
    await st.call("FirmwareStatusNotification", {"status": "Installed"})


def diagnostics_file(st: SimStation) -> tuple[str, bytes]:
    """A file name and content: text plus binary noise, so a transfer that mangles bytes is caught."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    name = f"{st.station_id[-40:]}-{stamp}.log"
    text = f"diagnostics of {st.station_id} at {stamp}\n".encode()
    noise = bytes(st.rng.randrange(256) for _ in range(4096))
    return name, text + noise + b"\r\n\x00end\n"


async def upload_diagnostics(st: SimStation, req: dict[str, Any], name: str, data: bytes) -> None:
    """Report Uploading, upload, report Uploaded (or UploadFailed)."""
    plan = _scripts.get(st, Script())
    await asyncio.sleep(STEP)
    await st.call("DiagnosticsStatusNotification", {"status": "Uploading"})
    try:
        if plan.fail_upload:
            raise OSError("scripted upload failure")
        await upload(req["location"], name, data)
    except (OSError, ValueError, aiohttp.ClientError, ftplib.Error, KeyError) as exc:
        log.info("%s: upload failed: %s", st.station_id, exc)
        await st.call("DiagnosticsStatusNotification", {"status": "UploadFailed"})
        return
    memory(st).uploaded = data
    await st.call("DiagnosticsStatusNotification", {"status": "Uploaded"})

"""The station-facing HTTP(S) file server alone (no Kafka): TLS, Range, tokens, uploads."""

from __future__ import annotations

import hashlib
import os
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.firmware.events import (
    CampaignCreated,
    DiagnosticsFileStored,
    DiagnosticsRequested,
    FirmwareEvent,
    ImageAdded,
    Policy,
)
from services.firmware.service import FirmwareService
from services.firmware.state import evolve
from shared.config import Settings


def self_signed(tmp: Path) -> tuple[str, str]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[FirmwareService, list[FirmwareEvent], bytes, str]]:
    cert, key = self_signed(tmp_path)
    settings = Settings(
        files_dir=str(tmp_path / "files"),
        files_http_port=0,
        files_ftp_port=-1,
        files_tls_cert=cert,
        files_tls_key=key,
        diagnostics_max_bytes=50_000,
    )
    service = FirmwareService(settings)
    emitted: list[FirmwareEvent] = []

    async def record(decision: Any) -> None:  # no Kafka here: keep what would be produced
        emitted.extend(decision[1])

    service.record = record  # type: ignore[method-assign]
    image = os.urandom(10_000)
    stored = await service.storage.save("images/i/fw.bin", chunks(image), 1 << 20)
    for event in (
        ImageAdded(
            image_id="i",
            name="fw.bin",
            size=stored.size,
            sha256=stored.sha256,
            storage_key=stored.key,
            at_ms=0,
        ),
        CampaignCreated(
            campaign_id="c", image_id="i", stations=["S"], target={}, policy=Policy(), token="secret", at_ms=0
        ),
        DiagnosticsRequested(request_id="r", station_id="S", token="t0k", at_ms=0),
    ):
        evolve(service.state, event)
    await service.http.start()
    yield service, emitted, image, cert
    await service.http.stop()


async def test_https_with_range_requests_and_tokens(server: tuple[FirmwareService, Any, bytes, str]) -> None:
    service, _, image, cert = server
    location = service.firmware_location(service.state.campaigns["c"])
    assert location.startswith("https://127.0.0.1:") and location.endswith("/c/secret/fw.bin")
    tls = ssl.create_default_context(cafile=cert)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as session:
        async with session.head(location) as resp:
            assert resp.status == 200 and int(resp.headers["Content-Length"]) == len(image)
            assert resp.headers.get("Accept-Ranges") == "bytes"
        async with session.get(location, headers={"Range": "bytes=4000-"}) as resp:
            assert resp.status == 206 and await resp.read() == image[4000:]
        for wrong in (location.replace("secret", "guess"), location.replace("fw.bin", "other.bin")):
            async with session.get(wrong) as resp:
                assert resp.status == 404
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            async with aiohttp.ClientSession() as untrusting, untrusting.get(location):
                pass  # the default trust store does not know our self-signed certificate


async def test_uploads_are_recorded_and_limited(server: tuple[FirmwareService, Any, bytes, str]) -> None:
    service, emitted, _, cert = server
    location = service.diagnostics_location(service.state.diagnostics["r"])
    tls = ssl.create_default_context(cafile=cert)
    data = os.urandom(30_000)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as session:
        async with session.put(location + "d.log", data=data) as resp:
            assert resp.status == 201
        async with session.put(location + "big.log", data=os.urandom(60_000)) as resp:
            assert resp.status == 413
        async with session.put(location.replace("t0k", "bad") + "d.log", data=data) as resp:
            assert resp.status == 404
        async with session.post(location + "a%2Fb", data=data) as resp:
            assert resp.status in (400, 404)
    [event] = emitted
    assert isinstance(event, DiagnosticsFileStored)
    assert (event.file_name, event.size, event.sha256) == (
        "d.log",
        len(data),
        hashlib.sha256(data).hexdigest(),
    )
    path = service.storage.local_path(event.storage_key)
    assert path is not None and path.read_bytes() == data
    assert service.storage.local_path("diagnostics/r/big.log") is None

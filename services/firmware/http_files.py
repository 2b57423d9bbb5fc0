"""The station-facing HTTP(S) file server: images to download (Range requests, for resumed
downloads) with a campaign's token, diagnostics uploads with a request's token (ADR 0010)."""

from __future__ import annotations

import hmac
import ssl
from collections.abc import AsyncIterator

from aiohttp import BodyPartReader, web

from services.firmware import decide
from services.firmware.context import FirmwarePort
from services.firmware.locations import tls_configured
from services.firmware.storage import TooLarge, safe_name
from shared.config import Settings


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The server's TLS context when a certificate is configured; None: plain HTTP."""
    if not tls_configured(settings):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.files_tls_cert, settings.files_tls_key)
    return context


class HttpFileServer:
    def __init__(self, port: FirmwarePort) -> None:
        self.port = port
        self.bound_port = port.settings.files_http_port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        settings = self.port.settings
        app = web.Application()
        app.router.add_get("/firmware/{campaignId}/{token}/{name}", self._download)
        for method in ("PUT", "POST"):
            app.router.add_route(method, "/diagnostics/{requestId}/{token}/{name:.*}", self._upload)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, settings.files_host, settings.files_http_port, ssl_context=tls_context(settings)
        )
        await site.start()
        sockets = getattr(site._server, "sockets", None)
        if sockets:
            self.bound_port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _download(self, request: web.Request) -> web.StreamResponse:
        """The campaign's image; aiohttp's FileResponse answers Range (206) and If-Range for resumes."""
        state = self.port.state
        campaign = state.campaigns.get(request.match_info["campaignId"])
        if campaign is None or not hmac.compare_digest(
            campaign.token.encode(), request.match_info["token"].encode()
        ):
            raise web.HTTPNotFound(text="no such file")
        image = state.images.get(campaign.image_id)
        path = self.port.storage.local_path(image.storage_key) if image is not None else None
        if image is None or path is None or request.match_info["name"] != image.name:
            raise web.HTTPNotFound(text="no such file")
        return web.FileResponse(path, headers={"Content-Type": "application/octet-stream"})

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        """A station's diagnostics upload: the raw body (PUT/POST) or the first file of a multipart POST."""
        diag = self.port.state.diagnostics.get(request.match_info["requestId"])
        if diag is None or not hmac.compare_digest(diag.token.encode(), request.match_info["token"].encode()):
            raise web.HTTPNotFound(text="no such upload location")
        name = request.match_info["name"]
        chunks: AsyncIterator[bytes]
        if request.content_type.startswith("multipart/"):
            part = await (await request.multipart()).next()
            if not isinstance(part, BodyPartReader):
                raise web.HTTPBadRequest(text="multipart body without a file part")
            name = name or part.filename or ""
            chunks = part_chunks(part)
        else:
            chunks = request.content.iter_chunked(1 << 16)
        name = name or diag.file_name or "diagnostics.bin"
        if not safe_name(name):
            raise web.HTTPBadRequest(text=f"file name {name!r} is not a plain file name")
        limit = self.port.settings.diagnostics_max_bytes
        try:
            stored = await self.port.storage.save(f"diagnostics/{diag.request_id}/{name}", chunks, limit)
        except TooLarge as exc:
            raise web.HTTPRequestEntityTooLarge(
                max_size=limit, actual_size=0, text=f"upload too large: {exc}"
            ) from exc
        upload = decide.Uploaded(diag.request_id, name, stored, "http")
        await self.port.record(decide.uploaded(self.port.state, upload, self.port.clock()))
        return web.Response(status=201, text="stored\n")


async def part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    """A multipart part's bytes, 64 KiB at a time."""
    while chunk := await part.read_chunk(1 << 16):
        yield chunk

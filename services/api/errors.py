"""JSON errors of the operator API: ``{"error": {"code", "description", ...}}`` with a 4xx/5xx status."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web


def error(status: int, code: str, description: str, **extra: Any) -> web.Response:
    body = {"error": {"code": code, "description": description, **extra}}
    return web.Response(status=status, body=msgspec.json.encode(body), content_type="application/json")


def ok(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=msgspec.json.encode(body), content_type="application/json")


class ApiError(Exception):
    """Raised inside a handler; the middleware turns it into :func:`error`."""

    def __init__(self, status: int, code: str, description: str, **extra: Any) -> None:
        super().__init__(description)
        self.status, self.code, self.description, self.extra = status, code, description, extra


NUL = "\x00"


async def read_body(request: web.Request, kind: type[Any]) -> Any:
    """The request body decoded into ``kind``; 400 when it is not JSON, 422 when it does not fit.

    A string holding U+0000 is refused (422, ``field``): no PostgreSQL text can hold it, and once on
    a compacted topic it would poison every read model that stores it (ADR 0017).
    """
    raw = await request.read()
    try:
        decoded = msgspec.json.decode(raw or b"{}", type=kind)
    except msgspec.ValidationError as exc:
        raise ApiError(422, "InvalidBody", str(exc), **_field(str(exc))) from exc
    except msgspec.DecodeError as exc:
        raise ApiError(400, "MalformedJson", f"body is not JSON: {exc}") from exc
    except RecursionError as exc:
        # msgspec recurses per nesting level: a body of thousands of `[` would otherwise be a 500.
        raise ApiError(400, "MalformedJson", "body is not JSON: nested too deeply") from exc
    except UnicodeDecodeError as exc:
        raise ApiError(400, "MalformedJson", f"body is not UTF-8: {exc}") from exc
    # JSON text cannot hold a raw NUL inside a string, only the escape: look closer only then.
    if b"\\u0000" in raw:
        path = nul_path(msgspec.json.decode(raw))
        if path is not None:
            raise ApiError(422, "InvalidBody", f"{path or 'body'}: must not contain U+0000", field=path)
    return decoded


def nul_path(value: Any, path: str = "") -> str | None:
    """The path (``site``, ``limits[0].stationId``) of the first string or key holding U+0000."""
    if isinstance(value, str):
        return path if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if NUL in key:
                return here
            found = nul_path(item, here)
            if found is not None:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = nul_path(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def check_no_nul(request: web.Request) -> None:
    """Path and query parameters with U+0000 (``%00``) are refused with 400 before any handler."""
    for name, value in [*request.match_info.items(), *request.query.items()]:
        if NUL in name or NUL in value:
            raise ApiError(400, "InvalidParameter", f"{name!r}: must not contain U+0000", field=name)


def _field(message: str) -> dict[str, str]:
    """msgspec says "... - at `$.site`" or "unknown field `x`": name the field for the caller."""
    for marker in ("at `$.", "unknown field `"):
        if marker in message:
            return {"field": message.split(marker, 1)[1].split("`", 1)[0]}
    return {}


def query_int(request: web.Request, name: str, default: int | None = None) -> int:
    """An integer query parameter; 400 when it is not one, or when it is missing and required."""
    raw = request.query.get(name)
    if raw is None:
        if default is None:
            raise ApiError(400, "InvalidQuery", f"{name} is required")
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ApiError(400, "InvalidQuery", f"{name} must be an integer") from exc

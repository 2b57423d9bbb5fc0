"""The operator API's contract document covers every route it serves, with the same methods."""

from __future__ import annotations

import re

from aiohttp import web

from services.api.app import ROUTES
from services.api.openapi import document


def pattern(route_path: str) -> re.Pattern[str]:
    """A served path as the documented paths spell it: ``{action}`` and ``{x:a|b}`` placeholders are
    documented as one concrete path per value, every other placeholder as itself."""
    parts = []
    for piece in re.split(r"(\{[^}]+\})", route_path):
        if piece == "{action}":
            parts.append(r"[^/{}]+")
        elif piece.startswith("{") and ":" in piece:
            parts.append("(?:" + "|".join(map(re.escape, piece[1:-1].split(":", 1)[1].split("|"))) + ")")
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts) + "$")


def test_every_route_is_in_the_openapi_document() -> None:
    paths = document()["paths"]
    missing = []
    for route in ROUTES:
        assert isinstance(route, web.RouteDef)
        wanted = pattern(route.path)
        if not any(wanted.match(p) and route.method.lower() in ops for p, ops in paths.items()):
            missing.append(f"{route.method} {route.path}")
    assert not missing, missing

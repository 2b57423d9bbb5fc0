"""The operator API's contract document covers every route it serves, with the same methods."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from services.api.app import ROUTES
from services.api.openapi import ITEMS, PAGED, VIEWS, document


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


def resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_covered_responses_are_described_by_their_view_types() -> None:
    """Every GET the domains' queries modules serve (ADR 0032) says what it returns: no bare object,
    and a paged list names its item type."""
    doc = document()
    components = doc["components"]["schemas"]
    covered = [(path, method) for path, method in VIEWS] + [(path, "get") for path in ITEMS]
    assert {p for p, m in covered if m == "get"} >= {
        p
        for p, ops in doc["paths"].items()
        if "get" in ops and "firmware" not in p and "diagnostics" not in p
    }
    for path, method in covered:
        responses = doc["paths"][path][method]["responses"]
        success = [r for status, r in responses.items() if status in ("200", "201", "202")]
        assert success, (method, path)
        for response in success:
            body = resolve(response["content"]["application/json"]["schema"], components)
            assert body != {"type": "object"}, (method, path)
            assert body["properties"] and body["required"], (method, path)
        if path in ITEMS:
            body = resolve(responses["200"]["content"]["application/json"]["schema"], components)
            item = body["properties"][PAGED[path]]["items"]
            assert resolve(item, components)["properties"], path

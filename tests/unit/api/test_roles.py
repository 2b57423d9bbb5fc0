"""Every route of the operator API says which role it needs (ADR 0036)."""

from __future__ import annotations

from aiohttp import web

from services.api.app import ROUTE_ROLES, ROUTES, role_of
from services.api.auth import bearer
from services.api.openapi import document


def routes() -> list[tuple[str, str]]:
    out = []
    for route in ROUTES:
        assert isinstance(route, web.RouteDef)
        out.append((route.method, route.path))
    return out


def test_every_route_but_a_read_is_in_the_role_table() -> None:
    missing = [r for r in routes() if r[0] != "GET" and r not in ROUTE_ROLES]
    assert missing == []


def test_the_role_table_names_only_routes_that_exist() -> None:
    assert set(ROUTE_ROLES) <= set(routes())


def test_the_roles_of_the_issue() -> None:
    assert role_of("GET", "/api/v1/stations") == "viewer"
    assert role_of("POST", "/api/v1/stations/{stationId}/commands/{action}") == "operator"
    assert role_of("POST", "/api/v1/reservations") == "operator"
    assert role_of("POST", "/api/v1/firmware-campaigns") == "operator"
    assert role_of("PUT", "/api/v1/stations/{stationId}") == "admin"
    assert role_of("PUT", "/api/v1/id-tags/{idTag}") == "admin"
    assert role_of("GET", "/api/v1/audit") == "admin"
    assert role_of("GET", "/api/v1/tokens") == "admin"
    assert role_of("PATCH", "/not/in/the/table") == "admin"  # fails closed


def test_every_operation_needs_the_bearer_token() -> None:
    doc = document()
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert doc["security"] == [{"bearerAuth": []}]
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if method != "parameters":
                assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)
                assert "security" not in operation, (method, path)  # no operation opts out


def test_bearer_header() -> None:
    assert bearer("Bearer abc.def") == "abc.def"
    assert bearer("bearer  abc.def ") == "abc.def"
    assert bearer("Basic abc") is None
    assert bearer("Bearer") is None
    assert bearer(None) is None

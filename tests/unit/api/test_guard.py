"""The guard middleware on a tiny app, without Kafka: 401/403/429, open paths, what is audited."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.api.auth import Guard
from services.api.ratelimit import TokenBuckets
from shared.apitokens import mint, revoked
from shared.clock import Clock
from shared.events.apitokens import ApiTokenRecord, AuditRecord, Role


class Sink:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    async def append(self, record: AuditRecord) -> None:
        self.records.append(record)


class Ticks:
    now = 0.0

    def __call__(self) -> float:
        return self.now


async def ok(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


class Setup:
    def __init__(self) -> None:
        self.tokens: dict[str, ApiTokenRecord] = {}
        self.sink = Sink()
        self.ticks = Ticks()
        self.guard = Guard(
            self.tokens.get, self.sink, TokenBuckets(1.0, 3, self.ticks), Clock(wall_ns=lambda: 5_000_000)
        )

    def token(self, role: Role) -> tuple[ApiTokenRecord, str]:
        record, token = mint(role, role, 0)
        self.tokens[record.id] = record
        return record, token

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.guard.middleware])
        routes = [
            web.get("/things", ok),
            web.post("/stations/{stationId}/commands/{action}", ok),
            web.put("/stations/{stationId}", ok),
            web.get("/openapi.json", ok),
        ]
        registered = app.router.add_routes(routes)
        needs: list[Role] = ["viewer", "operator", "admin", "viewer"]
        self.guard.roles = {(r.resource, r.method): n for r, n in zip(registered, needs, strict=True)}
        return app


@pytest.fixture
async def setup() -> AsyncIterator[tuple[Setup, str, aiohttp.ClientSession]]:
    s = Setup()
    server = TestServer(s.app())
    await server.start_server()
    async with aiohttp.ClientSession() as http:
        yield s, str(server.make_url("")), http
    await server.close()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_refusals_and_what_is_audited(setup: tuple[Setup, str, aiohttp.ClientSession]) -> None:
    s, base, http = setup
    viewer, viewer_token = s.token("viewer")
    _, operator_token = s.token("operator")
    async with http.get(base + "/things") as resp:
        assert resp.status == 401 and resp.headers["WWW-Authenticate"] == 'Bearer realm="csms"'
        assert (await resp.json())["error"]["code"] == "Unauthorized"
    async with http.get(base + "/things", headers=auth(viewer_token + "x")) as resp:
        assert resp.status == 401 and "invalid_token" in resp.headers["WWW-Authenticate"]
    async with http.get(base + "/openapi.json") as resp:
        assert resp.status == 200
    async with http.get(base + "/things", headers=auth(viewer_token)) as resp:
        assert resp.status == 200
    async with http.post(base + "/stations/CP1/commands/Reset", headers=auth(viewer_token)) as resp:
        assert resp.status == 403
    async with http.post(base + "/stations/CP1/commands/Reset", headers=auth(operator_token)) as resp:
        assert resp.status == 200
    async with http.put(base + "/stations/CP1", headers=auth(operator_token)) as resp:
        assert resp.status == 403
    audited = [(r.role, r.method, r.status, r.action, r.station_id, r.at_ms) for r in s.sink.records]
    assert audited == [
        ("viewer", "POST", 403, "Reset", "CP1", 5),
        ("operator", "POST", 200, "Reset", "CP1", 5),
        ("operator", "PUT", 403, None, "CP1", 5),
    ]
    s.tokens[viewer.id] = revoked(viewer, 1)
    async with http.get(base + "/things", headers=auth(viewer_token)) as resp:
        assert resp.status == 401


async def test_429_with_retry_after_per_token(setup: tuple[Setup, str, aiohttp.ClientSession]) -> None:
    s, base, http = setup
    _, token = s.token("viewer")
    _, other = s.token("viewer")
    statuses = []
    for _ in range(4):
        async with http.get(base + "/things", headers=auth(token)) as resp:
            statuses.append(resp.status)
            retry_after = resp.headers.get("Retry-After")
    assert statuses == [200, 200, 200, 429] and retry_after == "1"
    async with http.get(base + "/things", headers=auth(other)) as resp:
        assert resp.status == 200
    s.ticks.now += 1.0
    async with http.get(base + "/things", headers=auth(token)) as resp:
        assert resp.status == 200

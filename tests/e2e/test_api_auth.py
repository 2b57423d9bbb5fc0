"""The locked operator API (issue 14, ADR 0036): bearer tokens, roles, audit, rate limits, the
local admin token file."""

from __future__ import annotations

import dataclasses
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from services.api.app import OperatorApi
from shared.apitokens import ensure_local_admin_token, is_admin_token, read_token_file
from shared.events.apitokens import Role
from tests.e2e.conftest import Api, System, bearer, create_token, unique_station

pytestmark = pytest.mark.e2e


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def as_role(system: System, http: aiohttp.ClientSession, role: Role) -> Api:
    token = await create_token(system.api, f"test-{role}", role)
    return Api(http, system.api_url, bearer(token))


async def test_no_token_or_a_wrong_one_is_401_with_a_bearer_challenge(
    system: System, http: aiohttp.ClientSession
) -> None:
    token = system.api_token
    token_id, secret = token.split(".")
    wrong = f"{token_id}.{'0' * len(secret)}"
    for headers in ({}, bearer(wrong), bearer("garbage"), bearer("nobody.secret"), {"Authorization": token}):
        async with http.get(system.api_url + "/api/v1/stations", headers=headers) as resp:
            assert resp.status == 401, headers
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            body = await resp.json()
            assert body["error"]["code"] == "Unauthorized"
    async with http.post(
        system.api_url + f"/api/v1/stations/{unique_station()}/commands/Reset", json={}
    ) as resp:
        assert resp.status == 401
    async with http.get(system.api_url + "/api/v1/no-such-path") as resp:
        assert resp.status == 401  # every request needs a token, even one no route serves


async def test_the_contract_and_the_health_probe_need_no_token(
    system: System, http: aiohttp.ClientSession
) -> None:
    async with http.get(system.api_url + "/openapi.json") as resp:
        assert resp.status == 200
        doc = await resp.json()
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    async with http.get(system.api_url + "/healthz") as resp:
        assert resp.status == 200


async def test_roles(system: System, api: Api, http: aiohttp.ClientSession) -> None:
    viewer = await as_role(system, http, "viewer")
    operator = await as_role(system, http, "operator")
    station_id = unique_station()
    assert (await viewer.get("/api/v1/stations"))[0] == 200
    code, body = await viewer.post(f"/api/v1/stations/{station_id}/commands/Reset", {"type": "Soft"})
    assert code == 403 and body["error"]["code"] == "Forbidden"
    assert (await viewer.put(f"/api/v1/id-tags/{station_id[:20]}", {"status": "Accepted"}))[0] == 403
    code, body = await operator.put(f"/api/v1/stations/{station_id}", {})
    assert code == 403 and "admin" in body["error"]["description"]
    # The operator gets through to the command path: this station is unknown.
    assert (await operator.post(f"/api/v1/stations/{station_id}/commands/Reset", {"type": "Soft"}))[0] == 404
    assert (await operator.get("/api/v1/tokens"))[0] == 403
    assert (await api.put(f"/api/v1/stations/{station_id}", {}))[0] == 201
    assert (await viewer.get(f"/api/v1/stations/{station_id}"))[0] == 200


async def test_changes_and_refusals_are_audited_for_admins(
    system: System, api: Api, http: aiohttp.ClientSession
) -> None:
    operator = await as_role(system, http, "operator")
    station_id = unique_station()
    assert (await api.put(f"/api/v1/stations/{station_id}", {}))[0] == 201
    assert (await operator.put(f"/api/v1/stations/{station_id}", {}))[0] == 403
    assert (await operator.post(f"/api/v1/stations/{station_id}/commands/Reset", {"type": "Soft"}))[0] == 409
    code, body = await operator.get("/api/v1/audit")
    assert code == 403 and body["error"]["code"] == "Forbidden"
    code, page = await api.get("/api/v1/audit", limit="4")
    assert code == 200
    mine = [e for e in page["audit"] if e["stationId"] == station_id]
    assert [(e["method"], e["status"], e["role"], e["action"]) for e in mine] == [
        ("POST", 409, "operator", "Reset"),  # newest first
        ("PUT", 403, "operator", None),
        ("PUT", 201, "admin", None),
    ]
    assert mine[2]["tokenName"] == "tests" and mine[2]["path"] == f"/api/v1/stations/{station_id}"
    assert page["next"] is not None
    code, older = await api.get("/api/v1/audit", limit="4", cursor=page["next"])
    assert code == 200 and older["audit"] and older["audit"][0] not in page["audit"]
    assert (await api.get("/api/v1/audit", cursor="forged"))[0] == 400


async def test_tokens_through_the_api_and_revocation(
    system: System, api: Api, http: aiohttp.ClientSession
) -> None:
    code, created = await api.post("/api/v1/tokens", {"name": "ci", "role": "viewer"})
    assert code == 201 and created["role"] == "viewer" and created["revokedAt"] is None
    token = created["token"]
    assert token.startswith(created["id"] + ".")
    async with http.get(system.api_url + "/api/v1/stations", headers=bearer(token)) as resp:
        assert resp.status == 200
    listed = await api.until(
        "/api/v1/tokens?limit=1000", lambda b: any(t["id"] == created["id"] for t in b["tokens"])
    )
    assert all("token" not in t and "digest" not in t for t in listed["tokens"])
    assert (await api.post("/api/v1/tokens", {"name": "x", "role": "root"}))[0] == 422
    assert (await api.request("DELETE", f"/api/v1/tokens/{created['id']}"))[0] == 204
    async with http.get(system.api_url + "/api/v1/stations", headers=bearer(token)) as resp:
        assert resp.status == 401
    assert (await api.request("DELETE", "/api/v1/tokens/unknown"))[0] == 404
    listed = await api.get("/api/v1/tokens", limit="1000")
    assert next(t for t in listed[1]["tokens"] if t["id"] == created["id"])["revokedAt"] is not None


async def test_a_token_beyond_its_rate_gets_429_with_retry_after(
    system: System, http: aiohttp.ClientSession
) -> None:
    limited = OperatorApi(
        dataclasses.replace(
            system.settings, instance_id=f"{system.settings.instance_id}-rate", api_rate=0.2, api_burst=2
        )
    )
    await limited.start()
    try:
        url = f"http://127.0.0.1:{limited.port}/api/v1/id-tags"
        statuses = []
        for _ in range(3):
            async with http.get(url, headers=bearer(system.api_token)) as resp:
                statuses.append(resp.status)
                retry_after = resp.headers.get("Retry-After")
        assert statuses == [200, 200, 429]
        assert retry_after is not None and int(retry_after) >= 1
        async with http.get(url, headers=bearer(await create_token(limited, "other", "viewer"))) as resp:
            assert resp.status == 200  # each token has its own bucket
    finally:
        await limited.stop()


async def test_startup_writes_a_live_admin_token_file_of_mode_600(
    system: System, api: Api, tmp_path: Path
) -> None:
    path = tmp_path / "cache" / "csms" / "api-token"
    settings = dataclasses.replace(system.settings, api_token_file=str(path))
    written, minted = await ensure_local_admin_token(settings, system.api.clock.now_ms())
    assert written == path and minted
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    token = read_token_file(path)
    assert token is not None
    await system.api.tokens.wait_for_end()
    assert is_admin_token(token, system.api.tokens.get)
    async with aiohttp.ClientSession(headers=bearer(token)) as session:
        assert (await Api(session, system.api_url).put(f"/api/v1/stations/{unique_station()}", {}))[0] == 201
    assert await ensure_local_admin_token(settings, system.api.clock.now_ms()) == (path, False)  # kept
    assert (await api.request("DELETE", f"/api/v1/tokens/{token.split('.')[0]}"))[0] == 204
    assert (await ensure_local_admin_token(settings, system.api.clock.now_ms()))[
        1
    ]  # a revoked one is replaced
    assert read_token_file(path) != token

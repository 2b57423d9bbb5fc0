"""Who may call the operator API: bearer tokens, roles, per-token rate limits, and the audit trail.

Every request but ``OPEN`` ones needs ``Authorization: Bearer <id>.<secret>`` of a live token
(``csms.apitokens``): without one, 401 with ``WWW-Authenticate: Bearer`` (RFC 6750 section 3); a role
below the route's, 403; beyond the token's rate, 429 with ``Retry-After``. Requests that may change
something, and refused ones of a known token, are audited with their outcome (ADR 0036).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractResource

from services.api.errors import error
from services.api.ratelimit import TokenBuckets
from shared.apitokens import parse, verify
from shared.clock import Clock
from shared.events.apitokens import ApiTokenRecord, AuditRecord, Role, allows

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Readable without a token: the contract (tools read it before they hold a token) and the liveness
# probe (Kubernetes sends no token). Neither says anything about stations or tags.
OPEN = frozenset({"/openapi.json", "/healthz"})
READS = frozenset({"GET", "HEAD"})
MAX_RETRY_AFTER = 3600

RouteKey = tuple[AbstractResource | None, str]


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def unauthorized(why: str, invalid: bool) -> web.Response:
    response = error(401, "Unauthorized", why)
    challenge = 'Bearer realm="csms"' + (', error="invalid_token"' if invalid else "")
    response.headers["WWW-Authenticate"] = challenge
    return response


class AuditSink(Protocol):
    async def append(self, record: AuditRecord) -> None: ...


class Guard:
    """The middleware: authenticate, limit, authorize, run the handler, audit. ``tokens`` looks a
    token up by id (the API's view of ``csms.apitokens``); ``roles`` is set when the app is built."""

    def __init__(
        self,
        tokens: Callable[[str], ApiTokenRecord | None],
        audit: AuditSink,
        buckets: TokenBuckets,
        clock: Clock,
    ) -> None:
        self.tokens, self.audit, self.buckets, self.clock = tokens, audit, buckets, clock
        self.roles: Mapping[RouteKey, Role] = {}
        self._pending: set[asyncio.Task[None]] = set()

    def authenticate(self, request: web.Request) -> ApiTokenRecord | web.Response:
        token = bearer(request.headers.get("Authorization"))
        if token is None:
            return unauthorized("send Authorization: Bearer <token> (csms token create)", invalid=False)
        parsed = parse(token)
        record = self.tokens(parsed[0]) if parsed is not None else None
        if parsed is None or record is None or not verify(record, parsed[1]):
            log.info(
                "refused an API request with an unknown or revoked token: %s %s", request.method, request.path
            )
            return unauthorized("the token is unknown or revoked", invalid=True)
        return record

    def required(self, request: web.Request) -> Role:
        """The route's role; a path no route matches (404, 405) still needs a token."""
        method = "GET" if request.method == "HEAD" else request.method
        return self.roles.get((request.match_info.route.resource, method), "viewer")

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN:
            return await handler(request)
        token = self.authenticate(request)
        if isinstance(token, web.Response):
            return token
        wait = self.buckets.take(token.id)
        if wait > 0:
            limited = error(
                429, "TooManyRequests", f"more than {self.buckets.rate:g} requests/s for this token"
            )
            limited.headers["Retry-After"] = str(max(1, math.ceil(min(wait, MAX_RETRY_AFTER))))
            return limited
        need = self.required(request)
        if not allows(token.role, need):
            await self._audit(request, token, 403)
            return error(403, "Forbidden", f"{request.method} {request.path} needs the {need} role")
        if request.method in READS:
            return await handler(request)
        try:
            response = await handler(request)
        except asyncio.CancelledError:  # the client went away: what it asked for may have happened
            self._audit_later(request, token, 499)
            raise
        except web.HTTPException as exc:
            await self._audit(request, token, exc.status)
            raise
        except Exception:
            await self._audit(request, token, 500)
            raise
        await self._audit(request, token, response.status)
        return response

    def record(self, request: web.Request, token: ApiTokenRecord, status: int) -> AuditRecord:
        info = request.match_info
        return AuditRecord(
            at_ms=self.clock.now_ms(),
            token_id=token.id,
            token_name=token.name,
            role=token.role,
            method=request.method,
            path=request.path,
            status=status,
            action=info.get("action"),
            station_id=info.get("stationId"),
        )

    async def _audit(self, request: web.Request, token: ApiTokenRecord, status: int) -> None:
        try:
            await self.audit.append(self.record(request, token, status))
        except Exception:  # the request's outcome stands; the gap is loud
            log.exception(
                "could not audit %s %s (%s) of token %s", request.method, request.path, status, token.id
            )

    def _audit_later(self, request: web.Request, token: ApiTokenRecord, status: int) -> None:
        task = asyncio.create_task(self._audit(request, token, status))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

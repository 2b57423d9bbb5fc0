"""The operator API process: HTTP/JSON over the read models, the registries and the command path.

Reads come from the PostgreSQL projections (503 while PostgreSQL is unavailable), except live
connection state, which comes from ``ocpp.presence`` in memory. Writes (stations, id tags) are
records on their compacted topics: the services and projections follow them. Commands travel to the
owning gateway through Kafka (:class:`shared.commands.CommandClient`). Paths and status codes are a
contract (docs/api.md, ``/openapi.json``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web

from services.api import (
    audit,
    authorization_key,
    certificates,
    charging,
    commands,
    firmware,
    id_tags,
    local_lists,
    reservations,
    security_events,
    sites,
    stations,
    tokens,
    transactions,
)
from services.api.auth import Guard
from services.api.context import API, ApiPort
from services.api.errors import ApiError, check_no_nul, error, ok
from services.api.openapi import document
from services.api.ratelimit import TokenBuckets
from shared.clock import SYSTEM, Clock
from shared.commands import CommandClient
from shared.config import Settings
from shared.dberrors import is_transient
from shared.events.apitokens import ApiTokenRecord, Role, api_token_decoder
from shared.events.envelope import StationRegistration, registration_decoder
from shared.events.idtags import IdTagRecord, id_tag_decoder
from shared.events.security import StationSecurity, security_decoder
from shared.events.sites import SiteRecord, site_decoder
from shared.events.topics import Topics
from shared.kafka import ensure_topics, make_producer
from shared.projection.pool import DbTarget, LazyPool
from shared.tables import CompactedView

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class OperatorApi:
    def __init__(self, settings: Settings, clock: Clock = SYSTEM) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix, settings.frame_partitions)
        self.clock = clock
        self.commands = CommandClient(settings, clock)
        self.registry: CompactedView[StationRegistration] = CompactedView(
            settings.kafka_bootstrap, self.topics.stations, registration_decoder.decode
        )
        self.security: CompactedView[StationSecurity] = CompactedView(
            settings.kafka_bootstrap, self.topics.security, security_decoder.decode
        )
        self.id_tags: CompactedView[IdTagRecord] = CompactedView(
            settings.kafka_bootstrap, self.topics.id_tags, id_tag_decoder.decode
        )
        self.sites: CompactedView[SiteRecord] = CompactedView(
            settings.kafka_bootstrap, self.topics.sites, site_decoder.decode
        )
        self.tokens: CompactedView[ApiTokenRecord] = CompactedView(
            settings.kafka_bootstrap, self.topics.api_tokens, api_token_decoder.decode
        )
        self.producer = make_producer(settings.kafka_bootstrap, client_id=f"api-{settings.instance_id}")
        self.audit = audit.AuditTrail(settings.kafka_bootstrap, self.topics.audit, self.producer)
        self.guard = Guard(
            self.tokens.get,
            self.audit,
            TokenBuckets(settings.api_rate, settings.api_burst, clock.monotonic),
            clock,
        )
        self.local_lists = local_lists.LocalLists(self)
        self._pool = LazyPool(DbTarget(settings.database_url, settings.db_schema))
        self._runner: web.AppRunner | None = None
        self.port = settings.api_port

    # -- life cycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        await ensure_topics(s.kafka_bootstrap, self.topics.shared_specs(), s.replication_factor)
        await self.producer.start()
        await self.commands.start()
        await self.registry.start()
        await self.security.start()
        await self.id_tags.start()
        await self.sites.start()
        await self.tokens.start()
        await self.audit.start()
        await self.local_lists.start()
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, s.api_host, s.api_port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None)
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("operator API on http://%s:%d", s.api_host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self.local_lists.stop()
        await self.audit.stop()
        await self.tokens.stop()
        await self.sites.stop()
        await self.id_tags.stop()
        await self.registry.stop()
        await self.security.stop()
        await self.commands.stop()
        await self.producer.stop()
        await self._pool.close()

    async def pool(self) -> asyncpg.Pool:
        """The read models' database; 503 while it is unreachable (the OCPP path does not care)."""
        try:
            return await self._pool.get()
        except Exception as exc:
            if not is_transient(exc):
                raise
            raise ApiError(503, "DatabaseUnavailable", f"read models unavailable: {exc}") from exc

    async def write(self, view: CompactedView[Any], topic: str, key: str, value: bytes | None) -> None:
        """Append to a compacted topic and return once ``view`` has read it back (read-your-writes)."""
        await self.producer.send_and_wait(topic, value, key=key.encode())
        await view.wait_for_end()

    # -- HTTP --------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        # The guard is outermost: it audits the status the error middleware made of the outcome.
        app = web.Application(middlewares=[self.guard.middleware, self._errors], client_max_size=1 << 20)
        port: ApiPort = self  # mypy checks here that this class is what the route modules rely on
        app[API] = port
        registered = app.router.add_routes(ROUTES)
        self.guard.roles = {
            (route.resource, route.method): role_of(d.method, d.path)
            for d, route in zip(ROUTES, registered, strict=True)
            if isinstance(d, web.RouteDef)
        }
        app.router.add_get("/openapi.json", self._openapi)
        app.router.add_get("/healthz", self._health)
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            check_no_nul(request)
            return await handler(request)
        except ApiError as exc:
            return error(exc.status, exc.code, exc.description, **exc.extra)
        except web.HTTPException as exc:
            if exc.status >= 400:
                return error(
                    exc.status, exc.reason.replace(" ", ""), f"{request.method} {request.path}: {exc.reason}"
                )
            raise
        except Exception as exc:
            # An outage of the read models' database (shared/dberrors.py) is a 503, never a 500.
            if not is_transient(exc):
                raise
            return error(503, "DatabaseUnavailable", f"read models unavailable: {type(exc).__name__}: {exc}")

    async def _openapi(self, request: web.Request) -> web.Response:
        return ok(document())

    async def _health(self, request: web.Request) -> web.Response:
        return ok({"status": "ok"})


ROUTES = [
    web.get("/api/v1/stations", stations.list_stations),
    web.get("/api/v1/stations/{stationId}", stations.get_station),
    web.put("/api/v1/stations/{stationId}", stations.put_station),
    web.delete("/api/v1/stations/{stationId}", stations.delete_station),
    web.get("/api/v1/stations/{stationId}/configuration", stations.get_configuration),
    web.get("/api/v1/stations/{stationId}/calls", stations.get_calls),
    web.post("/api/v1/stations/{stationId}/commands/{action}", commands.post_command),
    web.get("/api/v1/stations/{stationId}/charging-profiles", charging.get_profiles),
    web.get("/api/v1/stations/{stationId}/composite-schedule", charging.get_composite),
    web.get("/api/v1/id-tags", id_tags.list_id_tags),
    web.get("/api/v1/id-tags/{idTag}", id_tags.get_id_tag),
    web.put("/api/v1/id-tags/{idTag}", id_tags.put_id_tag),
    web.delete("/api/v1/id-tags/{idTag}", id_tags.delete_id_tag),
    web.get("/api/v1/sites", sites.list_sites),
    web.get("/api/v1/sites/{siteId}", sites.get_site),
    web.put("/api/v1/sites/{siteId}", sites.put_site),
    web.delete("/api/v1/sites/{siteId}", sites.delete_site),
    web.get("/api/v1/transactions", transactions.list_transactions),
    web.get("/api/v1/transactions/{transactionId}", transactions.get_transaction),
    web.get("/api/v1/reservations", reservations.list_reservations),
    web.post("/api/v1/reservations", reservations.post_reservation),
    web.get("/api/v1/reservations/{reservationId}", reservations.get_reservation),
    web.post("/api/v1/reservations/{reservationId}/cancel", reservations.cancel_reservation),
    *local_lists.ROUTES,
    *security_events.ROUTES,
    *certificates.ROUTES,
    *authorization_key.ROUTES,
    *firmware.ROUTES,
    *tokens.ROUTES,
    web.get("/api/v1/audit", audit.list_audit),
]

# The role each route needs (ADR 0036): a GET needs viewer unless it is here; every other method
# is here (tests/unit/api/test_roles.py). Operators run the fleet (commands, reservations, lists,
# pushes, firmware, diagnostics); admins change who and what may connect, and who may call.
OPERATOR: Role = "operator"
ADMIN: Role = "admin"
ROUTE_ROLES: dict[tuple[str, str], Role] = {
    ("PUT", "/api/v1/stations/{stationId}"): ADMIN,
    ("DELETE", "/api/v1/stations/{stationId}"): ADMIN,
    ("POST", "/api/v1/stations/{stationId}/commands/{action}"): OPERATOR,
    ("PUT", "/api/v1/id-tags/{idTag}"): ADMIN,
    ("DELETE", "/api/v1/id-tags/{idTag}"): ADMIN,
    ("PUT", "/api/v1/sites/{siteId}"): ADMIN,
    ("DELETE", "/api/v1/sites/{siteId}"): ADMIN,
    ("POST", "/api/v1/reservations"): OPERATOR,
    ("POST", "/api/v1/reservations/{reservationId}/cancel"): OPERATOR,
    ("PUT", "/api/v1/local-lists/all"): OPERATOR,
    ("DELETE", "/api/v1/local-lists/all"): OPERATOR,
    ("PUT", "/api/v1/local-lists/{kind:sites|stations}/{name}"): OPERATOR,
    ("DELETE", "/api/v1/local-lists/{kind:sites|stations}/{name}"): OPERATOR,
    ("POST", "/api/v1/stations/{stationId}/local-list/push"): OPERATOR,
    ("POST", "/api/v1/local-list-pushes"): OPERATOR,
    ("POST", "/api/v1/firmware"): OPERATOR,
    ("POST", "/api/v1/firmware-campaigns"): OPERATOR,
    ("POST", "/api/v1/firmware-campaigns/{campaignId}/{action}"): OPERATOR,
    ("POST", "/api/v1/stations/{stationId}/diagnostics"): OPERATOR,
    ("POST", "/api/v1/stations/{stationId}/logs"): OPERATOR,
    ("GET", "/api/v1/tokens"): ADMIN,
    ("POST", "/api/v1/tokens"): ADMIN,
    ("DELETE", "/api/v1/tokens/{tokenId}"): ADMIN,
    ("GET", "/api/v1/audit"): ADMIN,
    ("POST", "/api/v1/certificate-hash-data"): OPERATOR,
    ("PUT", "/api/v1/stations/{stationId}/authorization-key"): ADMIN,
}


def role_of(method: str, path: str) -> Role:
    """The role a route needs; a route missing from ROUTE_ROLES that is not a GET needs admin."""
    return ROUTE_ROLES.get((method, path), "viewer" if method == "GET" else ADMIN)

"""The OpenAPI 3.1 document served at /openapi.json.

Paths are written here, next to the contract they describe; OCPP payload schemas are generated
from the same msgspec types the gateway validates with, so the document cannot drift from them.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from services.api import firmware_openapi, local_lists, paging, reservations, station_filters
from services.api.audit import AuditView
from services.api.authorization_key import AuthorizationKeyChanged, AuthorizationKeyPut
from services.api.certificates import HashDataAnswer, HashDataPost
from services.api.id_tags import IdTagPut
from services.api.schema import OBJECT, REF, error_response, json_response, param
from services.api.sites import SitePut
from services.api.stations import StationPut
from services.api.tokens import TokenCreated, TokenPost, TokenView
from services.locallists.queries import DefinitionView, PushView, StationLocalList
from services.reservations.queries import ReservationView
from services.smartcharging.queries import CompositeScheduleView, SiteDetail, SiteView, StationProfiles
from services.stations.queries import (
    SecurityEventView,
    StationCalls,
    StationConfiguration,
    StationRegistered,
    StationView,
)
from services.transactions.queries import IdTagView, TransactionDetail, TransactionView
from shared.ocpp.v16.actions import ACTIONS, Initiator

# A response whose schema _views sets from its view type (VIEWS, ITEMS).
VIEW = {"description": "OK"}

# Every paged list (ADR 0016): path -> the response's array field.
PAGED = {
    "/api/v1/stations": "stations",
    "/api/v1/stations/{stationId}/calls": "calls",
    "/api/v1/id-tags": "idTags",
    "/api/v1/sites": "sites",
    "/api/v1/transactions": "transactions",
    "/api/v1/reservations": "reservations",
    "/api/v1/local-lists": "localLists",
    "/api/v1/local-list-pushes/{pushId}": "results",
    "/api/v1/firmware": "images",
    "/api/v1/firmware-campaigns": "campaigns",
    "/api/v1/diagnostics": "diagnostics",
    "/api/v1/security-events": "securityEvents",
    "/api/v1/tokens": "tokens",
    "/api/v1/audit": "audit",
}


# 200 responses described by the view types the domains' queries modules return (ADR 0032).
VIEWS: dict[tuple[str, str], type[Any]] = {
    ("/api/v1/stations/{stationId}", "get"): StationView,
    ("/api/v1/stations/{stationId}", "put"): StationRegistered,
    ("/api/v1/stations/{stationId}/configuration", "get"): StationConfiguration,
    ("/api/v1/stations/{stationId}/calls", "get"): StationCalls,
    ("/api/v1/stations/{stationId}/charging-profiles", "get"): StationProfiles,
    ("/api/v1/stations/{stationId}/composite-schedule", "get"): CompositeScheduleView,
    ("/api/v1/id-tags/{idTag}", "get"): IdTagView,
    ("/api/v1/id-tags/{idTag}", "put"): IdTagView,
    ("/api/v1/sites/{siteId}", "get"): SiteDetail,
    ("/api/v1/sites/{siteId}", "put"): SiteView,
    ("/api/v1/transactions/{transactionId}", "get"): TransactionDetail,
    ("/api/v1/reservations/{reservationId}", "get"): ReservationView,
    **{
        (path, method): DefinitionView
        for path in (
            "/api/v1/local-lists/all",
            "/api/v1/local-lists/sites/{name}",
            "/api/v1/local-lists/stations/{name}",
        )
        for method in ("get", "put")
    },
    ("/api/v1/stations/{stationId}/local-list", "get"): StationLocalList,
    ("/api/v1/local-list-pushes/{pushId}", "get"): PushView,
    ("/api/v1/local-list-pushes", "post"): PushView,
    ("/api/v1/certificate-hash-data", "post"): HashDataAnswer,
    ("/api/v1/stations/{stationId}/authorization-key", "put"): AuthorizationKeyChanged,
}
# The item of each paged list whose page is just ``{items, next}``.
ITEMS: dict[str, type[Any]] = {
    "/api/v1/stations": StationView,
    "/api/v1/id-tags": IdTagView,
    "/api/v1/sites": SiteView,
    "/api/v1/transactions": TransactionView,
    "/api/v1/reservations": ReservationView,
    "/api/v1/local-lists": DefinitionView,
    "/api/v1/security-events": SecurityEventView,
    "/api/v1/tokens": TokenView,
    "/api/v1/audit": AuditView,
}

# Every operation needs a bearer token (ADR 0036); /openapi.json and /healthz are not operations.
SECURITY_SCHEMES = {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "<id>.<secret>"}}
REFUSALS = {
    "401": "no token, or an unknown or revoked one (WWW-Authenticate: Bearer)",
    "403": "the token's role may not call this operation",
    "429": "too many requests for this token; retry after Retry-After seconds",
}


def _views(paths: dict[str, Any], components: dict[str, Any]) -> dict[type[Any], dict[str, Any]]:
    """The view types' schemas (refs into ``components``), and every response in VIEWS set from them:
    its success statuses (200, and 201/202 where the operation has them)."""
    kinds = sorted({*VIEWS.values(), *ITEMS.values()}, key=lambda t: t.__name__)
    refs, view_components = msgspec.json.schema_components(kinds, ref_template=REF)
    components.update(view_components)
    schema_of = dict(zip(kinds, refs, strict=True))
    for (path, method), kind in VIEWS.items():
        responses = paths[path][method]["responses"]
        for status in ("200", "201", "202"):
            if status in responses:
                responses[status] = json_response(schema_of[kind], responses[status]["description"])
    return schema_of


def _paged(paths: dict[str, Any], schema_of: dict[type[Any], dict[str, Any]]) -> None:
    """``limit``/``cursor`` (and the stations filters) and the ``next`` field on every paged list."""
    for path, items in PAGED.items():
        get = paths[path]["get"]
        paths[path]["parameters"] = [p for p in paths[path].get("parameters", []) if p["name"] != "limit"]
        names = {p["name"] for p in paths[path].get("parameters", [])}
        extra = station_filters.openapi_parameters() if path == "/api/v1/stations" else []
        get["parameters"] = [
            *(p for p in get.get("parameters", []) if p["name"] not in ("limit", "cursor")),
            *(p for p in [*extra, *paging.openapi_parameters()] if p["name"] not in names),
        ]
        ok = get["responses"]["200"]
        schema = ok.get("content", {}).get("application/json", {}).get("schema", OBJECT)
        described = schema != OBJECT  # by its module (firmware)
        if (path, "get") not in VIEWS and not described:
            item = schema_of[ITEMS[path]] if path in ITEMS else None
            get["responses"]["200"] = json_response(
                paging.openapi_list(items, item), "one page, in the list's order"
            )
        else:  # a page with more than items and next is a view of its own
            ok["description"] = "one page, in the list's order"
        get["responses"]["400"] = error_response("bad query parameter (`field` names it), e.g. a bad cursor")


@functools.cache
def document() -> dict[str, Any]:
    commands = sorted(a for a, spec in ACTIONS.items() if Initiator.CENTRAL_SYSTEM in spec.initiators)
    types = [ACTIONS[a].request for a in commands] + [ACTIONS[a].response for a in commands]
    (station_put, id_tag_put, *ocpp), components = msgspec.json.schema_components(
        [StationPut, IdTagPut, *types], ref_template=REF
    )
    (site_put, token_post, token_created, hash_data_post, key_put), site_components = (
        msgspec.json.schema_components(
            [SitePut, TokenPost, TokenCreated, HashDataPost, AuthorizationKeyPut], ref_template=REF
        )
    )
    components.update(site_components)
    components["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "description"],
                "properties": {
                    "code": {"type": "string"},
                    "description": {"type": "string"},
                    "field": {"type": "string"},
                    "details": OBJECT,
                },
            }
        },
    }
    paths: dict[str, Any] = {
        "/api/v1/stations": {"get": {"summary": "List stations", "responses": {"200": VIEW}}},
        "/api/v1/stations/{stationId}": {
            "parameters": [param("stationId")],
            "get": {
                "summary": "A station: connection, boot details, last seen, connectors",
                "responses": {"200": VIEW, "404": error_response("unknown station")},
            },
            "put": {
                "summary": "Register (or replace the registration of) a station",
                "requestBody": {"content": {"application/json": {"schema": station_put}}},
                "responses": {
                    "200": {"description": "replaced"},
                    "201": {"description": "registered"},
                    "422": error_response("invalid body"),
                },
            },
            "delete": {"summary": "Forget a registration", "responses": {"204": {"description": "deleted"}}},
        },
        "/api/v1/stations/{stationId}/configuration": {
            "parameters": [param("stationId")],
            "get": {
                "summary": "Configuration snapshot from GetConfiguration/ChangeConfiguration answers",
                "responses": {"200": VIEW, "404": error_response("unknown station")},
            },
        },
        "/api/v1/stations/{stationId}/calls": {
            "parameters": [param("stationId"), param("limit", "query", {"type": "integer"})],
            "get": {
                "summary": "Recent CALLs sent to the station and their outcome",
                "responses": {"200": VIEW, "404": error_response("unknown station")},
            },
        },
        "/api/v1/stations/{stationId}/charging-profiles": {
            "parameters": [param("stationId")],
            "get": {
                "summary": "Charging profiles the station accepted, and recent Set/Clear outcomes",
                "responses": {"200": VIEW, "404": error_response("unknown station")},
            },
        },
        "/api/v1/stations/{stationId}/composite-schedule": {
            "parameters": [
                param("stationId"),
                {"name": "connectorId", "in": "query", "required": True, "schema": {"type": "integer"}},
                param("duration", "query", {"type": "integer"}),
                param("chargingRateUnit", "query", {"type": "string", "enum": ["A", "W"]}),
            ],
            "get": {
                "summary": "The composite schedule computed by the system from the installed profiles",
                "responses": {
                    "200": VIEW,
                    "400": error_response("bad query"),
                    "404": error_response("unknown station"),
                },
            },
        },
        "/api/v1/id-tags": {"get": {"summary": "List id tags", "responses": {"200": VIEW}}},
        "/api/v1/id-tags/{idTag}": {
            "parameters": [param("idTag")],
            "get": {
                "summary": "An id tag",
                "responses": {"200": VIEW, "404": error_response("unknown")},
            },
            "put": {
                "summary": "Create or replace an id tag",
                "requestBody": {"content": {"application/json": {"schema": id_tag_put}}},
                "responses": {
                    "200": VIEW,
                    "201": VIEW,
                    "422": error_response("invalid body"),
                },
            },
            "delete": {
                "summary": "Delete an id tag (it then answers Invalid)",
                "responses": {"204": {"description": "deleted"}},
            },
        },
        "/api/v1/sites": {"get": {"summary": "List sites", "responses": {"200": VIEW}}},
        "/api/v1/sites/{siteId}": {
            "parameters": [param("siteId")],
            "get": {
                "summary": "A site, its stations and the allocator's newest allocation",
                "responses": {"200": VIEW, "404": error_response("unknown site")},
            },
            "put": {
                "summary": "Create or replace a site (grid limit, per-station limits, allocation settings)",
                "requestBody": {"content": {"application/json": {"schema": site_put}}},
                "responses": {
                    "200": VIEW,
                    "201": VIEW,
                    "422": error_response("invalid body"),
                },
            },
            "delete": {
                "summary": "Delete a site (its stations are no longer managed)",
                "responses": {"204": {"description": "deleted"}, "404": error_response("unknown site")},
            },
        },
        "/api/v1/stations/{stationId}/authorization-key": {
            "parameters": [param("stationId")],
            "put": {
                "summary": "Rotate the station's Basic-auth password (ChangeConfiguration AuthorizationKey, A01)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": key_put}}},
                "responses": {
                    "200": {"description": "the station's answer, and which password is accepted now"},
                    "404": error_response("unknown station"),
                    "409": error_response("not connected"),
                    "422": error_response("not 16 to 20 bytes of printable text"),
                    "502": error_response("the station answered CALLERROR (both passwords stay accepted)"),
                    "504": error_response("no answer (both passwords stay accepted)"),
                },
            },
        },
        "/api/v1/certificate-hash-data": {
            "post": {
                "summary": "A certificate's CertificateHashData the OCSP way (for DeleteCertificate)",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": hash_data_post}},
                },
                "responses": {
                    "200": {"description": "the hash data"},
                    "422": error_response("not a PEM certificate, or not issued by issuerCertificate"),
                },
            }
        },
        "/api/v1/security-events": {
            "get": {
                "summary": "Security events stations reported (SecurityEventNotification), newest first",
                "parameters": [
                    param("stationId", "query"),
                    param("critical", "query", {"type": "boolean"}),
                    param("source", "query", {"type": "string", "enum": ["station", "csms"]}),
                ],
                "responses": {"200": json_response(OBJECT)},
            }
        },
        "/api/v1/transactions": {
            "get": {
                "summary": "Transactions, newest first",
                "parameters": [
                    param("stationId", "query"),
                    param("active", "query", {"type": "boolean"}),
                    param("limit", "query", {"type": "integer"}),
                ],
                "responses": {"200": VIEW},
            }
        },
        "/api/v1/transactions/{transactionId}": {
            "parameters": [param("transactionId", schema={"type": "integer"})],
            "get": {
                "summary": "A transaction with its meter values",
                "responses": {"200": VIEW, "404": error_response("unknown transaction")},
            },
        },
        "/api/v1/tokens": {
            "get": {"summary": "List API tokens, revoked ones included (admin)", "responses": {"200": VIEW}},
            "post": {
                "summary": "Create an API token (admin); its secret is in this answer only",
                "requestBody": {"required": True, "content": {"application/json": {"schema": token_post}}},
                "responses": {
                    "201": json_response(token_created, "created"),
                    "422": error_response("invalid body"),
                },
            },
        },
        "/api/v1/tokens/{tokenId}": {
            "parameters": [param("tokenId")],
            "delete": {
                "summary": "Revoke an API token (admin)",
                "responses": {"204": {"description": "revoked"}, "404": error_response("unknown token")},
            },
        },
        "/api/v1/audit": {
            "get": {
                "summary": "The audit trail of changes and refused requests, newest first (admin)",
                "responses": {"200": VIEW, "504": error_response("the trail could not be read in time")},
            }
        },
    }
    firmware_paths, firmware_components = firmware_openapi.openapi()
    paths.update(firmware_paths)
    components.update(firmware_components)
    for module in (reservations, local_lists):
        module_paths, module_components = module.openapi(REF)
        paths.update(module_paths)
        components.update(module_components)
    _paged(paths, _views(paths, components))
    n = len(commands)
    for i, action in enumerate(commands):
        paths[f"/api/v1/stations/{{stationId}}/commands/{action}"] = {
            "parameters": [param("stationId"), param("timeout", "query", {"type": "number"})],
            "post": {
                "summary": f"Send {action} to the station and return its answer",
                "requestBody": {"required": True, "content": {"application/json": {"schema": ocpp[i]}}},
                "responses": {
                    "200": json_response(
                        {"type": "object", "required": ["response"], "properties": {"response": ocpp[n + i]}},
                        "the station's CALLRESULT",
                    ),
                    "404": error_response("unknown station"),
                    "409": error_response("station not connected"),
                    "422": error_response("payload is not valid OCPP; `field` names the violated field"),
                    "502": error_response("the station answered CALLERROR"),
                    "503": error_response("the station's command queue is full"),
                    "504": error_response("no answer within the command timeout"),
                },
            },
        }
    for operations in paths.values():
        for method, operation in operations.items():
            if method != "parameters":
                for status, description in REFUSALS.items():
                    operation["responses"].setdefault(status, error_response(description))
    return {
        "openapi": "3.1.0",
        "info": {"title": "csms operator API", "version": "1"},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": SECURITY_SCHEMES},
        "security": [{"bearerAuth": []}],
    }

"""The firmware and diagnostics paths of /openapi.json: request bodies from the body types, 200
(and 201/202) responses from the views ``services.firmware.queries`` returns, so the document
describes what the handlers encode."""

from __future__ import annotations

from typing import Any

import msgspec

from services.api.firmware_bodies import CampaignBody, DiagnosticsBody, LogBody
from services.api.schema import REF, error_response, json_response, param
from services.firmware.guards import CONTROLS
from services.firmware.queries import (
    CampaignList,
    CampaignView,
    DiagnosticsList,
    DiagnosticsView,
    ImageList,
    ImageView,
)


def openapi() -> tuple[dict[str, Any], dict[str, Any]]:
    """The paths of ``firmware.ROUTES`` for /openapi.json, and the schemas they refer to."""
    types = [CampaignBody, DiagnosticsBody, ImageView, ImageList, CampaignView, CampaignList]
    types += [DiagnosticsView, DiagnosticsList, LogBody]
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    campaign_body, diagnostics_body, image, images, campaign, campaigns, diagnostics, diagnostics_list = (
        schemas[:8]
    )
    log_body = schemas[8]
    binary = {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
    campaign_id = [param("campaignId")]
    paths: dict[str, Any] = {
        "/api/v1/firmware": {
            "get": {"summary": "Firmware images, newest first", "responses": {"200": json_response(images)}},
            "post": {
                "summary": "Upload a firmware image (raw body, or multipart/form-data: the file part, and the text parts signingCertificate and signature of a signed image)",
                "parameters": [param("name", "query"), param("version", "query")],
                "requestBody": {"required": True, **binary},
                "responses": {
                    "201": json_response(image, "stored: size and sha256"),
                    "400": error_response("bad name or version"),
                    "413": error_response("too large"),
                    "422": error_response("empty, or a signature that does not verify"),
                },
            },
        },
        "/api/v1/firmware/{imageId}": {
            "parameters": [param("imageId")],
            "get": {
                "summary": "A firmware image",
                "responses": {"200": json_response(image), "404": error_response("unknown")},
            },
        },
        "/api/v1/firmware-campaigns": {
            "get": {"summary": "Campaigns, newest first", "responses": {"200": json_response(campaigns)}},
            "post": {
                "summary": "Start a campaign: targets (stations, site or filter), UpdateFirmware options, policy",
                "requestBody": {"required": True, "content": {"application/json": {"schema": campaign_body}}},
                "responses": {
                    "201": json_response(campaign, "created (as GET)"),
                    "404": error_response("unknown station"),
                    "422": error_response(
                        "invalid body, unknown image, unsigned image for signed always, no targets"
                    ),
                },
            },
        },
        "/api/v1/firmware-campaigns/{campaignId}": {
            "parameters": campaign_id,
            "get": {
                "summary": "A campaign: counts per state and per-station detail",
                "responses": {"200": json_response(campaign), "404": error_response("unknown campaign")},
            },
        },
        "/api/v1/stations/{stationId}/diagnostics": {
            "parameters": [param("stationId")],
            "post": {
                "summary": "Ask the station for its diagnostics (GetDiagnostics to a location the system hosts)",
                "requestBody": {"content": {"application/json": {"schema": diagnostics_body}}},
                "responses": {
                    "202": json_response(diagnostics, "requested"),
                    "404": error_response("unknown station"),
                    "422": error_response("invalid body"),
                },
            },
        },
        "/api/v1/stations/{stationId}/logs": {
            "parameters": [param("stationId")],
            "post": {
                "summary": "Ask the station for a log (GetLog to a location the system hosts, listed with diagnostics)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": log_body}}},
                "responses": {
                    "202": json_response(diagnostics, "requested (kind log)"),
                    "404": error_response("unknown station"),
                    "422": error_response("invalid body"),
                },
            },
        },
        "/api/v1/diagnostics": {
            "get": {
                "summary": "Diagnostics and log requests, newest first",
                "parameters": [
                    param("stationId", "query"),
                    param("kind", "query", {"type": "string", "enum": ["diagnostics", "log"]}),
                    param("limit", "query", {"type": "integer"}),
                ],
                "responses": {
                    "200": json_response(diagnostics_list),
                    "400": error_response("bad limit or kind"),
                },
            }
        },
        "/api/v1/diagnostics/{requestId}": {
            "parameters": [param("requestId")],
            "get": {
                "summary": "A diagnostics request: status, file name, the stored file",
                "responses": {"200": json_response(diagnostics), "404": error_response("unknown request")},
            },
        },
        "/api/v1/diagnostics/{requestId}/file": {
            "parameters": [param("requestId")],
            "get": {
                "summary": "Download the uploaded diagnostics file",
                "responses": {
                    "200": {"description": "the file", **binary},
                    "404": error_response("nothing uploaded"),
                },
            },
        },
    }
    for action in CONTROLS:
        paths[f"/api/v1/firmware-campaigns/{{campaignId}}/{action}"] = {
            "parameters": campaign_id,
            "post": {
                "summary": f"{action.capitalize()} the campaign",
                "responses": {
                    "202": json_response(campaign, "accepted (as GET)"),
                    "404": error_response("unknown campaign"),
                    "409": error_response("not possible in the campaign's status"),
                },
            },
        }
    return paths, components

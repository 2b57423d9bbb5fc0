"""Building blocks of the OpenAPI document (``openapi.py`` assembles it; route modules that
describe their own paths, e.g. ``firmware_openapi.py``, use the same blocks without importing the document)."""

from __future__ import annotations

from typing import Any

REF = "#/components/schemas/{name}"


def error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(name="Error")}}},
    }


def json_response(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def param(name: str, where: str = "path", schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": schema or {"type": "string"}}


OBJECT = {"type": "object"}

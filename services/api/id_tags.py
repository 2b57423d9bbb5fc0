"""/api/v1/id-tags: operator-managed authorization identifiers (``csms.idtags``)."""

from __future__ import annotations

import datetime as dt

import msgspec
from aiohttp import web

from services.api.context import api_of
from services.api.errors import ApiError, ok, read_body
from services.api.paging import PAGING, in_memory, page_of, reject_unknown
from services.transactions.queries import id_tag_view
from shared.events.envelope import encode
from shared.events.idtags import IdTagRecord, IdTagStatus

MAX_ID_TAG = 20  # IdToken is CiString20Type


class IdTagPut(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    status: IdTagStatus
    expiry_date: dt.datetime | None = None
    parent_id_tag: str | None = None


def id_tag_of(request: web.Request) -> str:
    id_tag = request.match_info["idTag"]
    if not 1 <= len(id_tag) <= MAX_ID_TAG or not id_tag.isprintable():
        raise ApiError(400, "InvalidIdTag", f"an id tag is 1..{MAX_ID_TAG} printable characters (CiString20)")
    return id_tag


async def put_id_tag(request: web.Request) -> web.Response:
    api = api_of(request)
    id_tag = id_tag_of(request)
    body: IdTagPut = await read_body(request, IdTagPut)
    if body.expiry_date is not None and body.expiry_date.tzinfo is None:
        raise ApiError(422, "InvalidBody", "expiryDate needs a time zone (RFC 3339)", field="expiryDate")
    if body.parent_id_tag is not None and not 1 <= len(body.parent_id_tag) <= MAX_ID_TAG:
        raise ApiError(422, "InvalidBody", f"parentIdTag is 1..{MAX_ID_TAG} characters", field="parentIdTag")
    existed = id_tag in api.id_tags
    record = IdTagRecord(
        id_tag=id_tag,
        status=body.status,
        expiry_date=body.expiry_date,
        parent_id_tag=body.parent_id_tag,
        at_ms=api_of(request).clock.now_ms(),
    )
    await api.write(api.id_tags, api.topics.id_tags, id_tag, encode(record))
    return ok(id_tag_view(record), 200 if existed else 201)


async def get_id_tag(request: web.Request) -> web.Response:
    id_tag = id_tag_of(request)
    record = api_of(request).id_tags.get(id_tag)
    if record is None:
        raise ApiError(404, "UnknownIdTag", f"id tag {id_tag!r} is unknown")
    return ok(id_tag_view(record))


async def list_id_tags(request: web.Request) -> web.Response:
    """A page of id tags in id order (ADR 0016)."""
    reject_unknown(request.query, PAGING)
    tags = api_of(request).id_tags
    shown, cursor = in_memory(page_of(request, "idTags", (str,)), tags.keys())
    return ok({"idTags": [id_tag_view(r) for r in map(tags.get, shown) if r is not None], "next": cursor})


async def delete_id_tag(request: web.Request) -> web.Response:
    api = api_of(request)
    id_tag = id_tag_of(request)
    if id_tag not in api.id_tags:
        raise ApiError(404, "UnknownIdTag", f"id tag {id_tag!r} is unknown")
    await api.write(api.id_tags, api.topics.id_tags, id_tag, None)
    return web.Response(status=204)

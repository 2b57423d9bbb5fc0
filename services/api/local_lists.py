"""/api/v1/local-lists: which id tags belong on local authorization lists, and pushing them.

Definitions are records on ``csms.locallists`` (compacted, key = scope ``all`` / ``site:<id>`` /
``station:<id>``); a station's list is the union of the scopes that apply to it. A push to one
station runs here, synchronously (:class:`~services.locallists.pusher.LocalListPusher`); a push to
many is requested here and run by the locallists service, its progress read from
``local_list_pushes`` by any API replica. What each station holds comes from the log
(``local_lists_held``).
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

import msgspec
from aiohttp import web

from services.api.context import ApiPort, api_of, until_visible
from services.api.errors import ApiError, ok, read_body
from services.api.paging import PAGING, Page, in_memory, page_of, reject_unknown, split
from services.api.stations import MAX_ID, ensure_known, station_id_of
from services.locallists import queries
from services.locallists.definitions import (
    LocalListDefinition,
    definition_decoder,
    scopes_of,
)
from services.locallists.events import SERVICE, PushRequested
from services.locallists.pusher import LocalListPusher
from services.locallists.pushes import PushResult
from services.locallists.queries import (
    PushView,
    StationLocalList,
    definition_view,
    push_view,
)
from shared.events.envelope import encode
from shared.kafka import ensure_topics
from shared.tables import CompactedView

MAX_ENTRIES = 10_000


class LocalListPut(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    """Body of ``PUT /api/v1/local-lists/...``: the id tags of that scope (replaces them)."""

    id_tags: list[str]


class PushPost(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    """Body of a push: which stations (default: every registered one) and, optionally, Full."""

    station_ids: list[str] | None = None
    site: str | None = None
    update_type: Literal["Full"] | None = None


class LocalLists:
    """What the API holds for local lists: the definitions view and the pusher."""

    def __init__(self, api: ApiPort) -> None:
        self.api = api
        self.topic = api.topics.local_lists
        self.definitions: CompactedView[LocalListDefinition] = CompactedView(
            api.settings.kafka_bootstrap, self.topic, definition_decoder.decode
        )
        self.pusher = LocalListPusher(api.commands, self.definitions, api.id_tags, api.registry, api.pool)

    async def start(self) -> None:
        s = self.api.settings
        specs = [self.api.topics.local_lists_spec(), self.api.topics.domain_spec(SERVICE)]
        await ensure_topics(s.kafka_bootstrap, specs, s.replication_factor)
        await self.definitions.start()

    async def stop(self) -> None:
        await self.definitions.stop()


def _lists(request: web.Request) -> LocalLists:
    lists: LocalLists = api_of(request).local_lists
    return lists


def _scope(request: web.Request) -> str:
    kind = request.match_info.get("kind")
    if kind is None:
        return "all"
    name = request.match_info["name"]
    if not 1 <= len(name) <= MAX_ID or not name.isprintable():
        raise ApiError(400, "InvalidScope", f"a {kind[:-1]} id is 1..{MAX_ID} printable characters")
    return f"{kind[:-1]}:{name}"


async def put_local_list(request: web.Request) -> web.Response:
    lists = _lists(request)
    scope = _scope(request)
    body: LocalListPut = await read_body(request, LocalListPut)
    for i, tag in enumerate(body.id_tags):
        if not 1 <= len(tag) <= 20 or not tag.isprintable():
            raise ApiError(422, "InvalidBody", f"idTags[{i}] is not a CiString20", field=f"idTags[{i}]")
    tags = sorted(set(body.id_tags))
    if len(tags) > MAX_ENTRIES:
        raise ApiError(422, "InvalidBody", f"at most {MAX_ENTRIES} id tags per scope", field="idTags")
    existed = scope in lists.definitions
    record = LocalListDefinition(scope=scope, id_tags=tags, at_ms=api_of(request).clock.now_ms())
    await lists.api.write(lists.definitions, lists.topic, scope, encode(record))
    return ok(definition_view(record), 200 if existed else 201)


async def get_local_list(request: web.Request) -> web.Response:
    scope = _scope(request)
    definition = _lists(request).definitions.get(scope)
    if definition is None:
        raise ApiError(404, "UnknownLocalList", f"no local list is defined for {scope!r}")
    return ok(definition_view(definition))


async def delete_local_list(request: web.Request) -> web.Response:
    lists = _lists(request)
    scope = _scope(request)
    if scope not in lists.definitions:
        raise ApiError(404, "UnknownLocalList", f"no local list is defined for {scope!r}")
    await lists.api.write(lists.definitions, lists.topic, scope, None)
    return web.Response(status=204)


async def list_local_lists(request: web.Request) -> web.Response:
    """A page of local list definitions in scope order (ADR 0016)."""
    reject_unknown(request.query, PAGING)
    definitions = _lists(request).definitions
    shown, cursor = in_memory(page_of(request, "localLists", (str,)), definitions.keys())
    listed = [definition_view(d) for d in map(definitions.get, shown) if d is not None]
    return ok({"localLists": listed, "next": cursor})


async def get_station_local_list(request: web.Request) -> web.Response:
    """The list the station should hold, and what the log says it holds."""
    station_id = station_id_of(request)
    await ensure_known(request, station_id)
    lists = _lists(request)
    registration = lists.api.registry.get(station_id)
    return ok(
        StationLocalList(
            station_id=station_id,
            scopes=scopes_of(station_id, registration.site if registration is not None else None),
            desired=lists.pusher.desired(station_id),
            held=await queries.held(await lists.api.pool(), station_id),
        )
    )


async def push_station(request: web.Request) -> web.Response:
    """Push one station now; 200 with the result (its ``status`` says how the station answered)."""
    station_id = station_id_of(request)
    await ensure_known(request, station_id)
    body: PushPost = await read_body(request, PushPost)
    if body.station_ids is not None or body.site is not None:
        raise ApiError(422, "InvalidBody", "stationIds and site belong to /api/v1/local-list-pushes")
    return ok(await _lists(request).pusher.push(station_id, body.update_type))


async def post_push(request: web.Request) -> web.Response:
    """Request a background push to many stations (run by the locallists service); 202 to poll."""
    lists = _lists(request)
    body: PushPost = await read_body(request, PushPost)
    if body.station_ids is not None:
        stations = sorted(set(body.station_ids))
        unknown = [s for s in stations if s not in lists.api.registry]
        if unknown:
            raise ApiError(404, "UnknownStation", f"unknown stations: {', '.join(unknown[:10])}")
    else:
        stations = sorted(
            sid for sid, reg in lists.api.registry.items() if body.site is None or reg.site == body.site
        )
    if not stations:
        raise ApiError(422, "InvalidBody", "no station to push to")
    push_id = uuid.uuid4().hex
    requested = PushRequested(
        push_id=push_id, station_ids=stations, force=body.update_type, at_ms=api_of(request).clock.now_ms()
    )
    api = lists.api
    await api.producer.send_and_wait(api.topics.domain(SERVICE), encode(requested), key=push_id.encode())
    await until_visible(request, lambda db: queries.push_exists(db, push_id))
    return ok(await _push_json(request, push_id, Page("pushResults", 100, None)), 202)


async def _push_json(request: web.Request, push_id: str, page: Page) -> PushView | None:
    """The push with one page of its per-station ``results`` (station order, ADR 0016)."""
    pool = await api_of(request).pool()
    summary = await queries.push_summary(pool, push_id)
    if summary is None:
        return None
    after = page.after[0] if page.after else None
    found = await queries.push_results(pool, push_id, after, page.limit + 1)
    rows, cursor = split(page, found, lambda kv: (kv[0],))
    return push_view(push_id, summary, [result for _, result in rows], cursor)


def _results_page(request: web.Request) -> Page:
    reject_unknown(request.query, PAGING)
    return page_of(request, "pushResults", (str,))


async def get_push(request: web.Request) -> web.Response:
    job = await _push_json(request, request.match_info["pushId"], _results_page(request))
    if job is None:
        raise ApiError(404, "UnknownPush", "no such push")
    return ok(job)


ROUTES = [
    web.get("/api/v1/local-lists", list_local_lists),
    web.put("/api/v1/local-lists/all", put_local_list),
    web.get("/api/v1/local-lists/all", get_local_list),
    web.delete("/api/v1/local-lists/all", delete_local_list),
    web.put("/api/v1/local-lists/{kind:sites|stations}/{name}", put_local_list),
    web.get("/api/v1/local-lists/{kind:sites|stations}/{name}", get_local_list),
    web.delete("/api/v1/local-lists/{kind:sites|stations}/{name}", delete_local_list),
    web.get("/api/v1/stations/{stationId}/local-list", get_station_local_list),
    web.post("/api/v1/stations/{stationId}/local-list/push", push_station),
    web.post("/api/v1/local-list-pushes", post_push),
    web.get("/api/v1/local-list-pushes/{pushId}", get_push),
]


def openapi(ref_template: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(paths, component schemas) of this module for /openapi.json."""
    (put_body, push_body, push_result), components = msgspec.json.schema_components(
        [LocalListPut, PushPost, PushResult], ref_template=ref_template
    )

    def err(description: str) -> dict[str, Any]:
        return {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": ref_template.format(name="Error")}}},
        }

    def view(description: str = "OK") -> dict[str, Any]:
        return {"description": description}  # the schema: the view's, set by openapi.py (VIEWS, ITEMS)

    def param(name: str) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}

    def scope(summary: str, params: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "parameters": params,
            "get": {"summary": summary, "responses": {"200": view(), "404": err("no list defined")}},
            "put": {
                "summary": f"Define (replace) the id tags of {summary.lower()}",
                "requestBody": {"required": True, "content": {"application/json": {"schema": put_body}}},
                "responses": {"200": view("replaced"), "201": view("defined"), "422": err("invalid body")},
            },
            "delete": {
                "summary": "Remove the definition",
                "responses": {"204": {"description": "deleted"}, "404": err("no list defined")},
            },
        }

    paths: dict[str, Any] = {
        "/api/v1/local-lists": {
            "get": {"summary": "Every local list definition", "responses": {"200": view()}}
        },
        "/api/v1/local-lists/all": scope("The list for all stations", []),
        "/api/v1/local-lists/sites/{name}": scope("The list for a site's stations", [param("name")]),
        "/api/v1/local-lists/stations/{name}": scope("The list for one station", [param("name")]),
        "/api/v1/stations/{stationId}/local-list": {
            "parameters": [param("stationId")],
            "get": {
                "summary": "The list the station should hold, and what it holds as far as the log tells",
                "responses": {"200": view(), "404": err("unknown station")},
            },
        },
        "/api/v1/stations/{stationId}/local-list/push": {
            "parameters": [param("stationId")],
            "post": {
                "summary": "Push the station's list now (GetLocalListVersion, then Full or Differential)",
                "requestBody": {"content": {"application/json": {"schema": push_body}}},
                "responses": {
                    "200": {
                        "description": "the result; `status` Accepted, UpToDate, Failed, NotSupported, ...",
                        "content": {"application/json": {"schema": push_result}},
                    },
                    "404": err("unknown station"),
                },
            },
        },
        "/api/v1/local-list-pushes": {
            "post": {
                "summary": "Push to many stations in the background (stationIds, a site, or all)",
                "requestBody": {"content": {"application/json": {"schema": push_body}}},
                "responses": {
                    "202": view("the job"),
                    "404": err("unknown station"),
                    "422": err("invalid body"),
                },
            },
        },
        "/api/v1/local-list-pushes/{pushId}": {
            "parameters": [param("pushId")],
            "get": {
                "summary": "A push job's progress",
                "responses": {"200": view(), "404": err("unknown push")},
            },
        },
    }
    return paths, components

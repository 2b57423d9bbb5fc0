"""/api/v1/tokens: the operator API's tokens (``csms.apitokens``), managed by admins (ADR 0036).

The same records ``csms token create|list|revoke`` writes; a token's secret is shown once, in the
answer to its creation, and never stored.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from services.api.context import api_of
from services.api.errors import ApiError, ok, read_body
from services.api.paging import PAGING, in_memory, page_of, reject_unknown
from shared.apitokens import mint, revoked
from shared.events.apitokens import ApiTokenRecord, Role
from shared.events.envelope import encode
from shared.projection.columns import ms_to_datetime
from shared.views import Timestamp

MAX_NAME = 100


class TokenPost(msgspec.Struct, forbid_unknown_fields=True, rename="camel", kw_only=True):
    name: str
    role: Role


class TokenView(msgspec.Struct, rename="camel", kw_only=True):
    id: str
    name: str
    role: Role
    created_at: Timestamp
    revoked_at: Timestamp | None


class TokenCreated(TokenView, kw_only=True):
    # ``<id>.<secret>``: send it as ``Authorization: Bearer <token>``; it is not shown again.
    token: str


def _iso(ms: int) -> str:
    return ms_to_datetime(ms).isoformat()


def token_view(record: ApiTokenRecord) -> TokenView:
    revoked_at = _iso(record.revoked_at_ms) if record.revoked_at_ms is not None else None
    return TokenView(
        id=record.id,
        name=record.name,
        role=record.role,
        created_at=_iso(record.created_at_ms),
        revoked_at=revoked_at,
    )


async def list_tokens(request: web.Request) -> web.Response:
    """A page of tokens in id order, revoked ones included (who had access)."""
    reject_unknown(request.query, PAGING)
    tokens = api_of(request).tokens
    shown, cursor = in_memory(page_of(request, "tokens", (str,)), tokens.keys())
    return ok({"tokens": [token_view(r) for r in map(tokens.get, shown) if r is not None], "next": cursor})


async def post_token(request: web.Request) -> web.Response:
    api = api_of(request)
    body: TokenPost = await read_body(request, TokenPost)
    if not 1 <= len(body.name) <= MAX_NAME or not body.name.isprintable():
        raise ApiError(422, "InvalidBody", f"name is 1..{MAX_NAME} printable characters", field="name")
    record, token = mint(body.name, body.role, api.clock.now_ms())
    await api.write(api.tokens, api.topics.api_tokens, record.id, encode(record))
    view = token_view(record)
    return ok(TokenCreated(**msgspec.structs.asdict(view), token=token), 201)


async def delete_token(request: web.Request) -> web.Response:
    """Revoke a token: this replica answers it 401 from now on, the others once they read the record."""
    api = api_of(request)
    token_id = request.match_info["tokenId"]
    record = api.tokens.get(token_id)
    if record is None:
        raise ApiError(404, "UnknownToken", f"token {token_id!r} is unknown")
    await api.write(api.tokens, api.topics.api_tokens, token_id, encode(revoked(record, api.clock.now_ms())))
    return web.Response(status=204)


ROUTES = [
    web.get("/api/v1/tokens", list_tokens),
    web.post("/api/v1/tokens", post_token),
    web.delete("/api/v1/tokens/{tokenId}", delete_token),
]

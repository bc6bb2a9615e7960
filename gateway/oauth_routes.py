"""The OAuth 2.0 token endpoint that standard client libraries speak (RFC 6749), on /partner.

Today it grants `client_credentials` only: a partner system authenticates with its client id
and secret, in HTTP Basic (`client_secret_basic`) or in the form (`client_secret_post`), and
gets an access token for the partner entry point. Underneath it is the same identity `Login` as
the JSON route, so lockout, rate limits and the one uniform refusal are the same too. The JSON
login routes stay for the platform's own (first-party) applications.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_plus

import grpc
from aiohttp import web

from gateway.endpoints import Call, QueryParam, Route, json_response
from gateway.identity_routes import LIMITS
from gateway.problems import REALM
from gateway.upstream import CallFailed
from runtime.auth import PARTNER
from smartcity.identity.v1 import identity_pb2

FORM = "application/x-www-form-urlencoded"
CLIENT_CREDENTIALS = "client_credentials"
TOKEN_PATH = f"/{PARTNER}/v1/oauth2/token"
# What the endpoint does, as discovery (RFC 8414) advertises it: nothing more.
GRANT_TYPES = (CLIENT_CREDENTIALS,)
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
_NOT_CACHED = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class TokenError(Exception):
    """An RFC 6749 section 5.2 error: its code, why, and the status it is answered with."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def response(self) -> web.Response:
        headers = dict(_NOT_CACHED)
        if self.error == "invalid_client":
            headers["WWW-Authenticate"] = f'Basic realm="{REALM}"'
        body = {"error": self.error, "error_description": self.description}
        return json_response(body, status=self.status, headers=headers)


def _invalid_request(description: str) -> TokenError:
    return TokenError("invalid_request", description)


def _invalid_client(description: str = "client authentication failed") -> TokenError:
    return TokenError("invalid_client", description, status=401)


def _basic(authorization: str) -> tuple[str, str] | None:
    """HTTP Basic credentials, each form-urlencoded first (RFC 6749 section 2.3.1); None when
    the header is not Basic (a bearer token sent along is no client authentication)."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise _invalid_client("the Basic credentials are not base64 of id:secret") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise _invalid_client("the Basic credentials are not base64 of id:secret")
    return unquote_plus(client_id), unquote_plus(secret)


async def _form(request: web.Request) -> dict[str, str]:
    if request.content_type != FORM:
        raise _invalid_request(f"send the request as {FORM}")
    form = await request.post()
    params: dict[str, str] = {}
    for name in form:
        values = form.getall(name)
        if len(values) > 1:  # RFC 6749 section 3.2: no parameter more than once
            raise _invalid_request(f"{name} is sent more than once")
        value = values[0]
        if not isinstance(value, str):
            raise _invalid_request(f"{name} must be a form field, not a file")
        params[name] = value
    return params


def _client(request: web.Request, params: dict[str, str]) -> tuple[str, str]:
    basic = _basic(request.headers.get("Authorization", ""))
    if basic is not None:
        # Some libraries repeat client_id in the form beside Basic: the same id is no conflict.
        if "client_secret" in params or params.get("client_id", basic[0]) != basic[0]:
            raise _invalid_request("authenticate the client one way: HTTP Basic or the form")
        return basic
    client_id, secret = params.get("client_id", ""), params.get("client_secret", "")
    if not client_id or not secret:
        raise _invalid_client("authenticate the client: HTTP Basic, or client_id and secret")
    return client_id, secret


async def token(call: Call) -> web.StreamResponse:
    """RFC 6749 sections 4.4 and 5: a form in, a token or an OAuth error out, never cached."""
    try:
        params = await _form(call.request)
        grant_type = params.get("grant_type", "")
        if not grant_type:
            raise _invalid_request("grant_type is required")
        if grant_type not in GRANT_TYPES:
            raise TokenError("unsupported_grant_type", f"grant types: {', '.join(GRANT_TYPES)}")
        if params.get("scope", "").strip():
            # No scopes are defined yet: granting other than asked would need `scope` back.
            raise TokenError("invalid_scope", "no scopes are defined; leave scope out")
        client_id, secret = _client(call.request, params)
        call.request.app[LIMITS].check_login(call.request, client_id)
        login = identity_pb2.LoginRequest(
            client_id=client_id, client_secret=secret, audience=PARTNER
        )
        try:
            reply = await call.rpc(call.upstream.identity.Login, login)
        except CallFailed as exc:
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                raise _invalid_client() from None  # identity's one uniform refusal
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                said = exc.details() or "the client credentials are invalid"
                raise _invalid_request(said) from None
            raise  # locked out (429), unavailable (503): problem+json as on the JSON route
    except TokenError as error:
        return error.response()
    body = {
        "access_token": reply.access_token,
        "token_type": "Bearer",
        "expires_in": reply.expires_in,
    }
    return json_response(body, headers=_NOT_CACHED)


ROUTES: tuple[Route, ...] = (
    Route(
        method="POST",
        path=TOKEN_PATH,
        operation_id="partnerOAuthToken",
        summary="OAuth 2.0 token endpoint (RFC 6749): grant_type=client_credentials as "
        "application/x-www-form-urlencoded, the client authenticated with HTTP Basic or "
        "client_id and client_secret in the form.",
        tag="identity",
        handler=token,
        anonymous=True,
        form=(
            QueryParam(name="grant_type", description="client_credentials"),
            QueryParam(name="client_id", description="client_secret_post: the client id"),
            QueryParam(name="client_secret", description="client_secret_post: its secret"),
        ),
        errors=(400, 401, 429, 503),
        oauth_errors=(400, 401),
    ),
)

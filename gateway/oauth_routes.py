"""The OAuth 2.0 and OpenID Connect endpoints that standard client libraries speak, and the
discovery document that names them (RFC 8414, OpenID Connect Discovery 1.0).

- `POST /oauth2/token` (RFC 6749 section 3.2): `authorization_code` with PKCE (RFC 7636),
  `refresh_token` (rotated; a reused one ends the session) and `client_credentials` (partner
  systems, HTTP Basic or the form). `/partner/v1/oauth2/token` is the same endpoint, kept for
  partners configured before the code flow existed.
- `POST /oauth2/revoke` (RFC 7009), `POST /oauth2/introspect` (RFC 7662, confidential clients
  and partner systems, about their own tokens), `GET|POST /oauth2/userinfo` (OpenID Connect
  Core 5.3) and `GET /oauth2/logout` (RP-Initiated Logout 1.0).

The authorization endpoint's pages (sign-in and consent) are in `gateway.signin_pages`. The
gateway parses the protocol; identity checks every credential, code and token. The JSON login
routes of each entry point stay for the platform's own applications.
"""

from __future__ import annotations

import base64
import binascii
import html
from typing import Any
from urllib.parse import unquote_plus, urlencode

import grpc
from aiohttp import web

from gateway.endpoints import Call, QueryParam, Route, json_response, message_response
from gateway.identity_routes import LIMITS
from gateway.problems import REALM
from gateway.upstream import CallFailed
from runtime import auth
from runtime.config import Settings
from smartcity.identity.v1 import identity_pb2

FORM = "application/x-www-form-urlencoded"
AUTHORIZATION_CODE = "authorization_code"
REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a grant type's name
CLIENT_CREDENTIALS = "client_credentials"
TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a path
PARTNER_TOKEN_PATH = f"/{auth.PARTNER}/v1/oauth2/token"
AUTHORIZE_PATH = "/oauth2/authorize"
REVOKE_PATH = "/oauth2/revoke"
INTROSPECT_PATH = "/oauth2/introspect"
USERINFO_PATH = "/oauth2/userinfo"
LOGOUT_PATH = "/oauth2/logout"
# What the endpoints do, as discovery advertises it: nothing more.
GRANT_TYPES = (AUTHORIZATION_CODE, REFRESH_TOKEN, CLIENT_CREDENTIALS)
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
SECRET_AUTH_METHODS = AUTH_METHODS[:2]
_NOT_CACHED = {"Cache-Control": "no-store", "Pragma": "no-cache"}
PUBLIC, OFFICE = "public", "office"


def openid_configuration(settings: Settings) -> dict[str, Any]:
    """Authorization server metadata that advertises what works and nothing more; each entry is
    proven by an independent client library in tests/integration/test_oauth.py. The
    first-party JSON sign-in routes of each entry point are listed as an extension."""
    issuer = settings.issuer
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}{AUTHORIZE_PATH}",
        "token_endpoint": f"{issuer}{TOKEN_PATH}",
        "userinfo_endpoint": f"{issuer}{USERINFO_PATH}",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "revocation_endpoint": f"{issuer}{REVOKE_PATH}",
        "introspection_endpoint": f"{issuer}{INTROSPECT_PATH}",
        "end_session_endpoint": f"{issuer}{LOGOUT_PATH}",
        "scopes_supported": list(auth.OIDC_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "code_challenge_methods_supported": ["S256"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": list(auth.ID_TOKEN_ALGORITHMS),
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": list(SECRET_AUTH_METHODS),
        "claims_supported": [
            "iss",
            "sub",
            "aud",
            "azp",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "amr",
            "sid",
            "at_hash",
            "name",
            "preferred_username",
        ],
        "prompt_values_supported": ["none", "login", "consent"],
        "ui_locales_supported": ["zh-CN", "en"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        # RFC 9207: the authorization response names its issuer (mix-up attacks).
        "authorization_response_iss_parameter_supported": True,
        "smartcity_first_party_sign_in": {
            entry: {
                "audience": entry,
                "login_endpoint": f"{issuer}/{entry}/v1/login",
                "refresh_endpoint": f"{issuer}/{entry}/v1/refresh",
                "account_endpoint": f"{issuer}/{entry}/v1/me",
                "logout_endpoint": f"{issuer}/{entry}/v1/logout",
            }
            for entry in (PUBLIC, OFFICE, auth.PARTNER)
        },
        "service_documentation": f"{issuer}/openapi.json",
    }


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
    try:
        form = await request.post()
    except (UnicodeDecodeError, ValueError):  # raw bytes that are not UTF-8
        raise _invalid_request(f"send the request as UTF-8 {FORM}") from None
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


def _client(
    request: web.Request, params: dict[str, str], *, secret_required: bool
) -> tuple[str, str]:
    """The client id and secret, from HTTP Basic or the form; a public client (`none`) sends
    its id alone, where the grant allows one."""
    basic = _basic(request.headers.get("Authorization", ""))
    if basic is not None:
        # Some libraries repeat client_id in the form beside Basic: the same id is no conflict.
        if "client_secret" in params or params.get("client_id", basic[0]) != basic[0]:
            raise _invalid_request("authenticate the client one way: HTTP Basic or the form")
        return basic
    client_id, secret = params.get("client_id", ""), params.get("client_secret", "")
    if not client_id or (secret_required and not secret):
        raise _invalid_client("authenticate the client: HTTP Basic, or client_id and secret")
    return client_id, secret


def _limit(request: web.Request, client_id: str, secret: str) -> None:
    """The login limits for a client's authentication. A public client's id is no secret and
    proves nothing: a budget per id would let anyone spend it for everyone who signs in to the
    portal, so only the address is counted. A secret is guessed per id, and costs a hash."""
    limits = request.app[LIMITS]
    if secret:
        limits.check_login(request, client_id)
    else:
        limits.check_address(request)


def _oauth_error(exc: CallFailed) -> TokenError:
    """Identity's refusal in RFC 6749 terms; None-like statuses (429, 503) stay problems."""
    code = exc.code()
    said = exc.details() or "the request is invalid"
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return _invalid_client()  # identity's one uniform refusal
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return TokenError("invalid_grant", said)
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND):
        return _invalid_request(said)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return TokenError("unauthorized_client", said)
    raise exc  # locked out (429), unavailable (503): problem+json as on the JSON routes


async def _client_credentials(call: Call, params: dict[str, str]) -> dict[str, Any]:
    if params.get("scope", "").strip():
        # No scopes are defined for systems: granting other than asked would need `scope` back.
        raise TokenError("invalid_scope", "no scopes are defined for client credentials")
    client_id, secret = _client(call.request, params, secret_required=True)
    call.request.app[LIMITS].check_login(call.request, client_id)
    login = identity_pb2.LoginRequest(
        client_id=client_id, client_secret=secret, audience=auth.PARTNER
    )
    try:
        reply = await call.rpc(call.upstream.identity.Login, login)
    except CallFailed as exc:
        raise _oauth_error(exc) from None
    return {
        "access_token": reply.access_token,
        "token_type": "Bearer",
        "expires_in": reply.expires_in,
    }


async def _authorization_code(call: Call, params: dict[str, str]) -> dict[str, Any]:
    for name in ("code", "redirect_uri", "code_verifier"):
        if not params.get(name):
            raise _invalid_request(f"{name} is required")
    client_id, secret = _client(call.request, params, secret_required=False)
    _limit(call.request, client_id, secret)
    request = identity_pb2.RedeemAuthorizationCodeRequest(
        client_id=client_id,
        client_secret=secret,
        code=params["code"],
        redirect_uri=params["redirect_uri"],
        code_verifier=params["code_verifier"],
    )
    try:
        reply = await call.rpc(call.upstream.identity.RedeemAuthorizationCode, request)
    except CallFailed as exc:
        raise _oauth_error(exc) from None
    return _tokens(reply)


async def _refresh_token(call: Call, params: dict[str, str]) -> dict[str, Any]:
    if not params.get("refresh_token"):
        raise _invalid_request("refresh_token is required")
    client_id, secret = _client(call.request, params, secret_required=False)
    if secret:  # a secret costs identity a hash: as limited as any other guess
        call.request.app[LIMITS].check_address(call.request)
    request = identity_pb2.RefreshSessionRequest(
        refresh_token=params["refresh_token"], client_id=client_id, client_secret=secret
    )
    try:
        reply = await call.rpc(call.upstream.identity.RefreshSession, request)
    except CallFailed as exc:
        raise _oauth_error(exc) from None
    return _tokens(reply)


def _tokens(reply: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access_token": reply.access_token,
        "token_type": "Bearer",
        "expires_in": reply.expires_in,
    }
    if reply.refresh_token:
        body["refresh_token"] = reply.refresh_token
    if reply.id_token:
        body["id_token"] = reply.id_token
    if reply.scope:
        body["scope"] = reply.scope
    return body


_GRANTS = {
    AUTHORIZATION_CODE: _authorization_code,
    REFRESH_TOKEN: _refresh_token,
    CLIENT_CREDENTIALS: _client_credentials,
}


async def token(call: Call) -> web.StreamResponse:
    """RFC 6749 section 5: a form in, a token or an OAuth error out, never cached."""
    try:
        params = await _form(call.request)
        grant_type = params.get("grant_type", "")
        if not grant_type:
            raise _invalid_request("grant_type is required")
        grant = _GRANTS.get(grant_type)
        if grant is None:
            raise TokenError("unsupported_grant_type", f"grant types: {', '.join(GRANT_TYPES)}")
        body = await grant(call, params)
    except TokenError as error:
        return error.response()
    return json_response(body, headers=_NOT_CACHED)


async def revoke(call: Call) -> web.StreamResponse:
    """RFC 7009: 200 whether the token was live, unknown or already ended."""
    try:
        params = await _form(call.request)
        if "token" not in params:
            raise _invalid_request("token is required")
        client_id, secret = _client(call.request, params, secret_required=False)
        if secret:  # a secret costs identity a hash: as limited as any other guess
            call.request.app[LIMITS].check_address(call.request)
        request = identity_pb2.RevokeTokenRequest(
            token=params["token"],
            token_type_hint=params.get("token_type_hint", ""),
            client_id=client_id,
            client_secret=secret,
        )
        try:
            await call.rpc(call.upstream.identity.RevokeToken, request)
        except CallFailed as exc:
            raise _oauth_error(exc) from None
    except TokenError as error:
        return error.response()
    return web.Response(status=200, headers=_NOT_CACHED)


async def introspect(call: Call) -> web.StreamResponse:
    """RFC 7662: `{"active": false}` for anything not live or not the caller's."""
    try:
        params = await _form(call.request)
        if "token" not in params:
            raise _invalid_request("token is required")
        client_id, secret = _client(call.request, params, secret_required=True)
        call.request.app[LIMITS].check_login(call.request, client_id)
        request = identity_pb2.IntrospectTokenRequest(
            token=params["token"],
            token_type_hint=params.get("token_type_hint", ""),
            client_id=client_id,
            client_secret=secret,
        )
        try:
            reply = await call.rpc(call.upstream.identity.IntrospectToken, request)
        except CallFailed as exc:
            raise _oauth_error(exc) from None
    except TokenError as error:
        return error.response()
    if not reply.active:
        return json_response({"active": False}, headers=_NOT_CACHED)
    body = {
        "active": True,
        "scope": reply.scope or None,
        "client_id": reply.client_id,
        "sub": reply.sub,
        "token_type": reply.token_type,
        "exp": reply.exp,
        "iat": reply.iat,
        "aud": reply.aud,
        "iss": reply.iss,
    }
    return json_response({k: v for k, v in body.items() if v is not None}, headers=_NOT_CACHED)


async def userinfo(call: Call) -> web.StreamResponse:
    reply = await call.rpc(call.upstream.identity.GetUserInfo, identity_pb2.GetUserInfoRequest())
    body = {
        "sub": reply.sub,
        "name": reply.name,
        "preferred_username": reply.preferred_username,
        "smartcity_kind": reply.smartcity_kind,
        "smartcity_department": reply.smartcity_department,
    }
    return json_response({k: v for k, v in body.items() if v}, headers=_NOT_CACHED)


_SIGNED_OUT = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body><main><h1>{title}</h1><p>{text}</p></main></body></html>
"""
_SIGNED_OUT_TEXT = {
    "zh-CN": ("已退出登录", "您已退出登录。可以关闭此页面。"),
    "en": ("Signed out", "You are signed out. You may close this page."),
}


async def end_session(call: Call) -> web.StreamResponse:
    """OpenID Connect RP-Initiated Logout: end the session the ID token names, then go back to
    the application's registered post-logout URI (with its `state`), or say so on a page."""
    query = call.request.query
    if any(len(query.getall(name)) > 1 for name in query):
        return _logout_error("a parameter is sent more than once")
    request = identity_pb2.EndSessionRequest(
        id_token_hint=query.get("id_token_hint", ""),
        post_logout_redirect_uri=query.get("post_logout_redirect_uri", ""),
        client_id=query.get("client_id", ""),
    )
    try:
        reply = await call.rpc(call.upstream.identity.EndSession, request)
    except CallFailed as exc:
        if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
            return _logout_error(exc.details() or "the logout request is invalid")
        raise
    if reply.post_logout_redirect_uri:
        state = query.get("state")
        location = reply.post_logout_redirect_uri
        if state:
            separator = "&" if "?" in location else "?"
            location += separator + urlencode({"state": state})
        return web.Response(status=303, headers={"Location": location, **_NOT_CACHED})
    lang = "en" if query.get("ui_locales", "").startswith("en") else "zh-CN"
    title, text = _SIGNED_OUT_TEXT[lang]
    return _page(_SIGNED_OUT.format(lang=lang, title=title, text=text), status=200)


def _logout_error(detail: str) -> web.Response:
    page = _SIGNED_OUT.format(lang="en", title="Cannot sign out", text=html.escape(detail))
    return _page(page, status=400)


def _page(text: str, *, status: int) -> web.Response:
    headers = {
        **_NOT_CACHED,
        "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
        "Referrer-Policy": "no-referrer",
    }
    return web.Response(text=text, status=status, content_type="text/html", headers=headers)


async def register_application(call: Call) -> web.StreamResponse:
    reply = await call.rpc(call.upstream.identity.RegisterApplication, call.body)
    return message_response(reply, status=201, headers=_NOT_CACHED)


async def list_applications(call: Call) -> web.StreamResponse:
    reply = await call.rpc(
        call.upstream.identity.ListApplications, identity_pb2.ListApplicationsRequest()
    )
    return message_response(reply)


_TOKEN_FORM = (
    QueryParam(name="grant_type", description=" | ".join(GRANT_TYPES)),
    QueryParam(name="code", description="authorization_code: the code"),
    QueryParam(name="redirect_uri", description="authorization_code: where the code was sent"),
    QueryParam(name="code_verifier", description="authorization_code: the PKCE verifier"),
    QueryParam(name="refresh_token", description="refresh_token: the refresh token"),
    QueryParam(name="client_id", description="the client (public clients: always)"),
    QueryParam(name="client_secret", description="client_secret_post: its secret"),
)
_ENDPOINT_SUMMARY = (
    "OAuth 2.0 token endpoint (RFC 6749) as application/x-www-form-urlencoded: "
    "authorization_code with PKCE, refresh_token, and client_credentials for partner systems; "
    "a client with a secret authenticates with HTTP Basic or client_id and client_secret."
)
_CLIENT_FORM = (
    QueryParam(name="token", description="the access or refresh token"),
    QueryParam(name="token_type_hint", description="access_token | refresh_token"),
    QueryParam(name="client_id", description="the client"),
    QueryParam(name="client_secret", description="client_secret_post: its secret"),
)


def _token_route(path: str, operation_id: str) -> Route:
    return Route(
        method="POST",
        path=path,
        operation_id=operation_id,
        summary=_ENDPOINT_SUMMARY,
        tag="oauth",
        handler=token,
        anonymous=True,
        form=_TOKEN_FORM,
        errors=(400, 401, 429, 503),
        oauth_errors=(400, 401),
    )


ROUTES: tuple[Route, ...] = (
    _token_route(TOKEN_PATH, "oauthToken"),
    _token_route(PARTNER_TOKEN_PATH, "partnerOAuthToken"),
    Route(
        method="POST",
        path=REVOKE_PATH,
        operation_id="oauthRevoke",
        summary="Revoke a refresh or access token the client holds (RFC 7009): its session ends.",
        tag="oauth",
        handler=revoke,
        anonymous=True,
        form=_CLIENT_FORM,
        errors=(400, 401, 503),
        oauth_errors=(400, 401),
    ),
    Route(
        method="POST",
        path=INTROSPECT_PATH,
        operation_id="oauthIntrospect",
        summary="Is this token active? (RFC 7662) For confidential clients and partner "
        "systems, about tokens issued to them.",
        tag="oauth",
        handler=introspect,
        anonymous=True,
        form=_CLIENT_FORM,
        errors=(400, 401, 429, 503),
        oauth_errors=(400, 401),
    ),
    *(
        Route(
            method=method,
            path=USERINFO_PATH,
            operation_id=f"oidcUserInfo{method.title()}",
            summary="The signed-in person's OpenID Connect claims, as the token's scopes allow.",
            tag="oauth",
            handler=userinfo,
            audience=PUBLIC,
            also_audiences=(OFFICE, auth.USERINFO_AUDIENCE),
            errors=(401, 403, 503),
        )
        for method in ("GET", "POST")
    ),
    Route(
        method="GET",
        path=LOGOUT_PATH,
        operation_id="oidcEndSession",
        summary="RP-initiated logout: end the session an ID token names (id_token_hint), then "
        "go back to a registered post_logout_redirect_uri with the state.",
        tag="oauth",
        handler=end_session,
        anonymous=True,
        query=(
            QueryParam(name="id_token_hint", description="an ID token of the session"),
            QueryParam(name="post_logout_redirect_uri", description="a registered one"),
            QueryParam(name="client_id", description="the application"),
            QueryParam(name="state", description="returned to the application"),
            QueryParam(name="ui_locales", description="zh-CN | en"),
        ),
        status=303,
        errors=(400, 503),
        # signed out, or why not: a page for the person whose browser came here
        pages=(200, 400),
    ),
    Route(
        method="POST",
        path="/office/v1/applications",
        operation_id="registerApplication",
        summary="Register an application that signs people in with the code flow and PKCE; a "
        "confidential one's secret is shown once.",
        tag="oauth",
        handler=register_application,
        audience=OFFICE,
        body=identity_pb2.RegisterApplicationRequest,
        response=identity_pb2.RegisterApplicationResponse,
        status=201,
        errors=(400, 401, 403, 409, 415, 422, 503),
    ),
    Route(
        method="GET",
        path="/office/v1/applications",
        operation_id="listApplications",
        summary="The registered applications.",
        tag="oauth",
        handler=list_applications,
        audience=OFFICE,
        response=identity_pb2.ListApplicationsResponse,
        errors=(401, 403, 503),
    ),
)

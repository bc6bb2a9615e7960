"""The authorization endpoint's pages (RFC 6749 4.1, RFC 7636, OpenID Connect Core 3.1.2): the
platform's own sign-in page for a registered application, and the consent page of a third party.

`GET /oauth2/authorize` checks the request (OAuth 2.1's rules: exact redirect URI, PKCE with
S256, no implicit flow) and shows the sign-in form of the application's entry point; `POST
/oauth2/authorize` checks the form's CSRF token, checks the carried parameters again from
scratch, applies the JSON login's rate limits and asks identity to `Authorize`; `POST
/oauth2/consent` records the person's decision (`DecideConsent`). The guarantees:

- a browser is never sent to an address the application did not register: an unknown client or
  an unregistered redirect URI is an error page here, not a redirect;
- every refusal of credentials reads the same (no account enumeration), and is counted by
  identity's lockout and the gateway's rate limits like the JSON login;
- no form is acted on without the cookie's token (gateway/csrf.py) or from another origin;
- every page forbids framing, scripts, caching and referrers (`page_headers`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import grpc
from aiohttp import web

from gateway import languages, signin_html
from gateway.csrf import FIELD as CSRF_FIELD
from gateway.csrf import CsrfGuard, CsrfRefused, origin_of
from gateway.endpoints import Call
from gateway.identity_routes import LIMITS
from gateway.problems import RETRY_AFTER_SECONDS, Problem, from_rpc_error
from gateway.signin_html import DEFAULT_LANGUAGE, EN, ZH, Chrome, text
from gateway.upstream import CallFailed, Upstream
from runtime import logs
from runtime.config import Settings
from smartcity.identity.v1 import identity_pb2

log = logs.get(__name__)

AUTHORIZE_PATH = "/oauth2/authorize"
CONSENT_PATH = "/oauth2/consent"
STYLESHEET_PATH = signin_html.STYLESHEET_PATH
FORM = "application/x-www-form-urlencoded"
RESPONSE_TYPES = ("code",)
CODE_CHALLENGE_METHODS = ("S256",)
PROMPTS = frozenset({"none", "login", "consent", "select_account"})
# The authorization parameters the sign-in form carries to its POST, where they are checked again.
CARRIED = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
)
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # base64url of a SHA-256 digest, no padding
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
_CSP_ORIGIN = re.compile(
    r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$|^https?://\[[0-9a-f:.]+\](:[0-9]{1,5})?$"
)
_MAX_LENGTH = 2048
_USER_FIELDS = ("username", "password", "totp_code", "enterprise_id")
_USER_MAX_LENGTH = {"username": 128, "password": 1024, "totp_code": 16, "enterprise_id": 64}
_NOT_CACHED = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def content_security_policy(redirect_uri: str = "") -> str:
    """Nothing but our stylesheet; forms post to us, and (Chromium applies `form-action` to the
    redirect that answers a form) on to the application's own origin."""
    targets = "'self'"
    if source := _csp_source(redirect_uri):
        targets += f" {source}"
    return (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        f"form-action {targets}; frame-ancestors 'none'; base-uri 'none'"
    )


def _csp_source(redirect_uri: str) -> str:
    """The CSP source expression of a redirect URI's origin (`scheme:` for an app's own scheme),
    or empty when it cannot be written safely."""
    if not redirect_uri:
        return ""
    try:
        scheme = urlsplit(redirect_uri).scheme.lower()
        if scheme in ("http", "https"):
            origin = origin_of(redirect_uri)
            return origin if _CSP_ORIGIN.match(origin) else ""
    except ValueError:
        return ""
    return f"{scheme}:" if _SCHEME.match(scheme) else ""


def page_headers(redirect_uri: str = "") -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(redirect_uri),
        "X-Frame-Options": "DENY",
        # Not no-referrer: under it a browser sends `Origin: null` with our own form's POST
        # (Fetch, "append a request Origin header"), and the origin check could not tell us
        # from anyone. same-origin sends no Referer to any other origin either.
        "Referrer-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
        **_NOT_CACHED,
    }


def choose_language(ui_locales: str, accept_language: str) -> str:
    """`ui_locales` (OpenID Connect: space-separated, in order of preference) first, then
    `Accept-Language` as the API negotiates it, else Chinese."""
    for tag in ui_locales.split():
        if (lang := languages.negotiate(tag, default="")) != "":
            return lang
    return languages.negotiate(accept_language, default=DEFAULT_LANGUAGE)


# --- what can go wrong, and where the answer goes ---------------------------------------------


class ErrorPage(Exception):
    """An answer shown here: the redirect URI is unknown or untrusted, or the form is."""

    def __init__(
        self,
        status: int,
        message: str,
        detail: str = "",
        *,
        headers: Mapping[str, str] | None = None,
        start_again: bool = True,
    ) -> None:
        super().__init__(detail or message)
        self.status = status
        self.message = message  # a key of signin_html.TEXT
        self.detail = detail
        self.headers = dict(headers or {})
        self.start_again = start_again


class ErrorRedirect(Exception):
    """An RFC 6749 4.1.2.1 error, sent back to the application's registered redirect URI."""

    def __init__(self, redirect_uri: str, state: str, error: str, description: str) -> None:
        super().__init__(description)
        self.redirect_uri = redirect_uri
        self.state = state
        self.error = error
        self.description = description


def _with_query(uri: str, params: list[tuple[str, str]]) -> str:
    separator = "&" if urlsplit(uri).query else "?"
    return f"{uri}{separator}{urlencode(params)}"


def redirect(location: str, *, status: int = 303) -> web.Response:
    return web.Response(status=status, headers={"Location": location, **page_headers()})


@dataclass(frozen=True, kw_only=True)
class AuthorizationRequest:
    """A checked authorization request: its application and the parameters to carry."""

    application: identity_pb2.Application
    carried: dict[str, str]
    scopes: tuple[str, ...]
    login_hint: str = ""
    prompt: frozenset[str] = frozenset()

    @property
    def redirect_uri(self) -> str:
        return self.carried["redirect_uri"]

    @property
    def state(self) -> str:
        return self.carried.get("state", "")


def _once(params: Mapping[str, list[str]], name: str) -> str | None:
    """The parameter's one value; None when absent. A repeated parameter is an error (RFC 6749
    3.1), raised by the caller as it needs: a page or a redirect."""
    values = params.get(name, [])
    if len(values) > 1:
        raise ValueError(name)
    return values[0] if values else None


# --- the pages' shared state -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SignInPages:
    settings: Settings
    guard: CsrfGuard
    upstream: Upstream

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    # -- checking a request -------------------------------------------------------------------

    # Complex on purpose: the authorization request's checks in the order RFC 6749 makes them.
    async def check(  # noqa: C901
        self, request: web.Request, params: Mapping[str, list[str]]
    ) -> AuthorizationRequest:
        """Check an authorization request (the GET's query or the form's carried fields).

        Raises ErrorPage while the redirect URI is not known to be the application's, and
        ErrorRedirect for everything after that."""
        try:
            client_id = _once(params, "client_id")
            redirect_uri = _once(params, "redirect_uri")
        except ValueError as exc:
            raise ErrorPage(400, "bad_request", f"{exc} is sent more than once") from None
        if not client_id:
            raise ErrorPage(400, "bad_request", "client_id is required")
        if not redirect_uri:
            raise ErrorPage(400, "bad_request", "redirect_uri is required")
        if len(client_id) > 64:
            raise ErrorPage(400, "unknown_client")
        if len(redirect_uri) > _MAX_LENGTH:
            raise ErrorPage(400, "unregistered_redirect")
        application = await self.application(request, client_id)
        if redirect_uri not in application.redirect_uris:  # exact match, nothing else
            raise ErrorPage(400, "unregistered_redirect", "redirect_uri is not registered")
        try:
            state = _once(params, "state") or ""
        except ValueError:
            raise ErrorRedirect(
                redirect_uri, "", "invalid_request", "state is sent more than once"
            ) from None

        def fail(error: str, description: str) -> ErrorRedirect:
            return ErrorRedirect(redirect_uri, state, error, description)

        for name, values in params.items():
            if len(values) > 1:
                raise fail("invalid_request", f"{name} is sent more than once")
            if len(values[0]) > _MAX_LENGTH:
                raise fail("invalid_request", f"{name} is longer than {_MAX_LENGTH} characters")
        one = {name: values[0] for name, values in params.items()}
        if "request" in one:
            raise fail("request_not_supported", "request objects are not supported")
        if "request_uri" in one:
            raise fail("request_uri_not_supported", "request_uri is not supported")
        if one.get("response_mode", "query") != "query":
            raise fail("invalid_request", "response_mode: only query is supported")
        response_type = one.get("response_type", "")
        if not response_type:
            raise fail("invalid_request", "response_type is required")
        if response_type not in RESPONSE_TYPES:
            raise fail("unsupported_response_type", "response_type must be code")
        scopes = tuple(dict.fromkeys(one.get("scope", "").split()))
        if "openid" not in scopes:
            raise fail("invalid_scope", "scope must include openid")
        if refused := [s for s in scopes if s not in application.scopes]:
            raise fail("invalid_scope", f"scopes not allowed for this client: {' '.join(refused)}")
        if not one.get("code_challenge"):
            raise fail("invalid_request", "code_challenge is required (PKCE with S256)")
        if one.get("code_challenge_method", "") not in CODE_CHALLENGE_METHODS:
            raise fail("invalid_request", "code_challenge_method must be S256")
        if not _CHALLENGE.match(one["code_challenge"]):
            raise fail("invalid_request", "code_challenge must be 43 base64url characters")
        prompt = frozenset(one.get("prompt", "").split())
        if unknown := prompt - PROMPTS:
            raise fail("invalid_request", f"unknown prompt values: {' '.join(sorted(unknown))}")
        if "none" in prompt and len(prompt) > 1:
            raise fail("invalid_request", "prompt=none cannot be combined with other values")
        carried = {name: one[name] for name in CARRIED if name in one}
        carried["scope"] = " ".join(scopes)
        return AuthorizationRequest(
            application=application,
            carried=carried,
            scopes=scopes,
            login_hint=one.get("login_hint", ""),
            prompt=prompt,
        )

    async def application(self, request: web.Request, client_id: str) -> identity_pb2.Application:
        try:
            reply = await self.call(request).rpc(
                self.upstream.identity.GetApplication,
                identity_pb2.GetApplicationRequest(client_id=client_id),
            )
        except CallFailed as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise ErrorPage(400, "unknown_client") from None
            raise self.upstream_failure(exc) from None
        application: identity_pb2.Application = reply.application
        return application

    def call(self, request: web.Request) -> Call:
        """The gateway's upstream call, as an anonymous caller (the credentials are the form)."""
        return Call(request, self.upstream, None, None)

    def upstream_failure(self, exc: CallFailed) -> ErrorPage:
        """A failure of identity that no rule above explains: unavailable (503), locked out
        (429), or anything else (502), with the problem's own Retry-After."""
        problem = from_rpc_error(exc, service=exc.service)
        retry = problem.headers.get("Retry-After", "")
        if problem.status_code == 429:
            return ErrorPage(
                429,
                "too_many",
                headers={"Retry-After": retry or RETRY_AFTER_SECONDS},
                start_again=False,
            )
        if problem.status_code == 503:
            return ErrorPage(
                503, "unavailable", headers={"Retry-After": retry or RETRY_AFTER_SECONDS}
            )
        log.warning("sign_in_upstream_failed", code=exc.code().name)
        return ErrorPage(502, "failed")

    # -- rendering ------------------------------------------------------------------------------

    def html(
        self,
        request: web.Request,
        body: str,
        *,
        status: int = 200,
        redirect_uri: str = "",
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
    ) -> web.Response:
        response = web.Response(
            text=body,
            status=status,
            content_type="text/html",
            charset="utf-8",
            headers={**page_headers(redirect_uri), **(headers or {})},
        )
        self.guard.set_cookies(response, dict(cookies or {}))
        return response

    def error_page(self, request: web.Request, error: ErrorPage, *, lang: str) -> web.Response:
        message = text(lang, error.message, seconds=error.headers.get("Retry-After", ""))
        body = signin_html.error(
            chrome=Chrome(lang=lang, title_key="error"),
            message=message,
            detail=error.detail,
            start_again=error.start_again,
        )
        return self.html(request, body, status=error.status, headers=error.headers)

    def error_redirect(self, error: ErrorRedirect) -> web.Response:
        params = [("error", error.error), ("error_description", error.description)]
        if error.state:
            params.append(("state", error.state))
        params.append(("iss", self.issuer))
        return redirect(_with_query(error.redirect_uri, params), status=303)

    def sign_in_page(
        self,
        request: web.Request,
        auth: AuthorizationRequest,
        *,
        lang: str,
        status: int = 200,
        username: str = "",
        message: str = "",
    ) -> web.Response:
        cookies: dict[str, str] = {}
        token = self.guard.form_token(request, cookies)
        switch = {**auth.carried, "ui_locales": EN if lang == ZH else ZH}
        if auth.login_hint:
            switch["login_hint"] = auth.login_hint
        fields = [*auth.carried.items(), ("ui_locales", lang), (CSRF_FIELD, token)]
        body = signin_html.sign_in(
            chrome=Chrome(
                lang=lang, title_key="sign_in", switch_url=f"{AUTHORIZE_PATH}?{urlencode(switch)}"
            ),
            application=auth.application.name or auth.application.client_id,
            entry_point=auth.application.entry_point,
            action=AUTHORIZE_PATH,
            fields=fields,
            username=username or auth.login_hint,
            message=message,
        )
        return self.html(
            request, body, status=status, redirect_uri=auth.redirect_uri, cookies=cookies
        )

    def consent_page(
        self,
        request: web.Request,
        auth: AuthorizationRequest,
        reply: identity_pb2.AuthorizeResponse,
        *,
        lang: str,
    ) -> web.Response:
        cookies: dict[str, str] = {}
        token = self.guard.form_token(request, cookies)
        ticket = reply.consent_ticket
        fields = [
            ("consent_ticket", ticket),
            ("state", auth.state),
            # the state travels beside the ticket; this binds the two
            ("binding", self.guard.sign("consent", ticket, auth.state)),
            ("ui_locales", lang),
            (CSRF_FIELD, token),
        ]
        application = reply.application if reply.HasField("application") else auth.application
        body = signin_html.consent(
            chrome=Chrome(lang=lang, title_key="consent"),
            application=application.name or application.client_id,
            scopes=list(reply.scopes) or list(auth.scopes),
            action=CONSENT_PATH,
            fields=fields,
        )
        return self.html(request, body, redirect_uri=auth.redirect_uri, cookies=cookies)

    def success(self, redirect_uri: str, code: str, state: str) -> web.Response:
        params = [("code", code)]
        if state:
            params.append(("state", state))
        params.append(("iss", self.issuer))  # RFC 9207
        return redirect(_with_query(redirect_uri, params), status=303)


PAGES: web.AppKey[SignInPages] = web.AppKey("sign_in_pages", SignInPages)


async def _form(request: web.Request) -> dict[str, list[str]]:
    if request.content_type != FORM:
        raise ErrorPage(415, "bad_request", f"send the form as {FORM}")
    try:
        posted = await request.post()
    except (UnicodeDecodeError, ValueError):  # raw bytes that are not UTF-8
        raise ErrorPage(400, "bad_request", f"send the form as UTF-8 {FORM}") from None
    form: dict[str, list[str]] = {}
    for name in posted:
        values = posted.getall(name)
        if not all(isinstance(v, str) for v in values):
            raise ErrorPage(400, "bad_request", f"{name} must be a form field, not a file")
        form.setdefault(name, [str(v) for v in values])
    return form


def _language_of(request: web.Request, ui_locales: str) -> str:
    return choose_language(ui_locales, request.headers.get("Accept-Language", ""))


# --- the handlers --------------------------------------------------------------------------------


async def authorize_page(request: web.Request) -> web.StreamResponse:
    """GET: check the request; the sign-in page, or an error (here or at the client)."""
    pages = request.app[PAGES]
    params = {name: request.query.getall(name) for name in request.query}
    lang = _language_of(request, request.query.get("ui_locales", ""))
    try:
        auth = await pages.check(request, params)
        if "none" in auth.prompt:
            # No single sign-on session: nobody is ever signed in without the form.
            raise ErrorRedirect(
                auth.redirect_uri, auth.state, "login_required", "the person must sign in"
            )
    except ErrorPage as error:
        return pages.error_page(request, error, lang=lang)
    except ErrorRedirect as error:
        return pages.error_redirect(error)
    return pages.sign_in_page(request, auth, lang=lang)


async def sign_in(request: web.Request) -> web.StreamResponse:
    """POST: CSRF, the carried parameters checked again, rate limits, then identity's Authorize."""
    pages = request.app[PAGES]
    lang = _language_of(request, "")
    try:
        form = await _form(request)
        lang = _language_of(request, (form.get("ui_locales") or [""])[0])
        try:
            pages.guard.check(request, (form.pop(CSRF_FIELD, None) or [""])[0])
        except CsrfRefused as refused:
            log.warning("sign_in_form_refused", why=str(refused))
            raise ErrorPage(403, "forged") from None
        user = {name: form.pop(name, []) for name in _USER_FIELDS}
        form.pop("ui_locales", None)
        auth = await pages.check(request, form)
        return await _authorize(request, pages, auth, user, lang=lang)
    except ErrorPage as error:
        return pages.error_page(request, error, lang=lang)
    except ErrorRedirect as error:
        return pages.error_redirect(error)


async def _authorize(  # noqa: C901 (one branch per prompt and consent outcome, as OIDC lists them)
    request: web.Request,
    pages: SignInPages,
    auth: AuthorizationRequest,
    user: dict[str, list[str]],
    *,
    lang: str,
) -> web.StreamResponse:
    if any(len(values) > 1 for values in user.values()):
        raise ErrorPage(400, "bad_request", "a sign-in field is sent more than once")
    entered = {name: (values[0] if values else "").strip() for name, values in user.items()}
    entered["password"] = user["password"][0] if user["password"] else ""  # as typed
    username = entered["username"]

    def again(status: int, message: str) -> web.Response:
        return pages.sign_in_page(
            request, auth, lang=lang, status=status, username=username, message=message
        )

    if not username or not entered["password"]:
        return again(401, text(lang, "refused"))
    if too_long := [n for n, v in entered.items() if len(v) > _USER_MAX_LENGTH[n]]:
        return again(400, text(lang, "check_field", detail=", ".join(too_long)))
    try:
        request.app[LIMITS].check_login(request, username)
    except Problem as limited:
        retry = limited.headers.get("Retry-After", RETRY_AFTER_SECONDS)
        raise ErrorPage(
            429, "too_many", headers={"Retry-After": retry}, start_again=False
        ) from None
    authorize = identity_pb2.AuthorizeRequest(
        client_id=auth.application.client_id,
        redirect_uri=auth.redirect_uri,
        scope=auth.carried["scope"],
        code_challenge=auth.carried["code_challenge"],
        code_challenge_method=auth.carried["code_challenge_method"],
        nonce=auth.carried.get("nonce", ""),
        username=username,
        password=entered["password"],
        totp_code=entered["totp_code"] if auth.application.entry_point == "office" else "",
        enterprise_id=entered["enterprise_id"] if auth.application.entry_point != "office" else "",
        prompt=" ".join(sorted(auth.prompt)),
    )
    try:
        reply: identity_pb2.AuthorizeResponse = await pages.call(request).rpc(
            pages.upstream.identity.Authorize, authorize
        )
    except CallFailed as exc:
        code = exc.code()
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return again(401, text(lang, "refused"))  # identity's one uniform refusal
        if code == grpc.StatusCode.PERMISSION_DENIED:
            return again(403, text(lang, "not_for_enterprise"))
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            problem = from_rpc_error(exc, service=exc.service)
            named = [v.field for v in problem.violations if v.field in _USER_FIELDS]
            if named:
                return again(400, text(lang, "check_field", detail=", ".join(named)))
            raise ErrorRedirect(
                auth.redirect_uri, auth.state, "invalid_request", exc.details() or "invalid"
            ) from None
        if code == grpc.StatusCode.FAILED_PRECONDITION:
            raise ErrorRedirect(
                auth.redirect_uri, auth.state, "access_denied", exc.details() or "refused"
            ) from None
        if code == grpc.StatusCode.NOT_FOUND:
            raise ErrorPage(400, "unknown_client") from None
        raise pages.upstream_failure(exc) from None
    if reply.code:
        return pages.success(auth.redirect_uri, reply.code, auth.state)
    if reply.consent_ticket:
        return pages.consent_page(request, auth, reply, lang=lang)
    log.warning("authorize_answered_nothing")
    raise ErrorPage(502, "failed")


async def decide_consent(request: web.Request) -> web.StreamResponse:
    """POST: the person's decision on a consent ticket; back to the application either way."""
    pages = request.app[PAGES]
    lang = DEFAULT_LANGUAGE
    try:
        form = await _form(request)
        lang = _language_of(request, (form.get("ui_locales") or [""])[0])
        if any(len(values) > 1 for values in form.values()):
            raise ErrorPage(400, "bad_request", "a field is sent more than once")
        one = {name: values[0] for name, values in form.items()}
        try:
            pages.guard.check(request, one.get(CSRF_FIELD, ""))
        except CsrfRefused as refused:
            log.warning("consent_form_refused", why=str(refused))
            raise ErrorPage(403, "forged") from None
        ticket, state = one.get("consent_ticket", ""), one.get("state", "")
        if not ticket or not pages.guard.verify(one.get("binding", ""), "consent", ticket, state):
            raise ErrorPage(400, "consent_expired")
        decision = one.get("decision", "")
        if decision not in ("approve", "deny"):
            raise ErrorPage(400, "bad_request", "decision must be approve or deny")
        try:
            reply: identity_pb2.DecideConsentResponse = await pages.call(request).rpc(
                pages.upstream.identity.DecideConsent,
                identity_pb2.DecideConsentRequest(
                    consent_ticket=ticket, approve=decision == "approve"
                ),
            )
        except CallFailed as exc:
            if exc.code() in (
                grpc.StatusCode.INVALID_ARGUMENT,
                grpc.StatusCode.NOT_FOUND,
                grpc.StatusCode.FAILED_PRECONDITION,
                grpc.StatusCode.UNAUTHENTICATED,
                grpc.StatusCode.PERMISSION_DENIED,
            ):
                raise ErrorPage(400, "consent_expired") from None
            raise pages.upstream_failure(exc) from None
    except ErrorPage as error:
        return pages.error_page(request, error, lang=lang)
    if not reply.redirect_uri:
        return pages.error_page(request, ErrorPage(502, "failed"), lang=lang)
    if reply.code:
        return pages.success(reply.redirect_uri, reply.code, state)
    return pages.error_redirect(
        ErrorRedirect(reply.redirect_uri, state, "access_denied", "the person declined")
    )


async def stylesheet(request: web.Request) -> web.StreamResponse:
    return web.Response(
        text=signin_html.STYLESHEET,
        content_type="text/css",
        charset="utf-8",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


def install(app: web.Application, settings: Settings, upstream: Upstream) -> None:
    """Serve the pages (HTML, not API routes: they are not in the OpenAPI route table)."""
    app[PAGES] = SignInPages(
        settings=settings, guard=CsrfGuard.from_settings(settings), upstream=upstream
    )
    app.router.add_get(AUTHORIZE_PATH, authorize_page)
    app.router.add_post(AUTHORIZE_PATH, sign_in)
    app.router.add_post(CONSENT_PATH, decide_consent)
    app.router.add_get(STYLESHEET_PATH, stylesheet)

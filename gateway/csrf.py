"""Cross-site request forgery protection for the gateway's own HTML forms (the sign-in pages).

A signed double-submit cookie: a random value in an HttpOnly, SameSite=Strict cookie scoped to
`/oauth2/`, and in each form the HMAC of that value under the gateway's key. A forged form
from another site has neither: it cannot read the cookie, and without the key it cannot turn a
cookie it planted (a sibling subdomain can write cookies) into a token. A POST whose `Origin`
is present and is not the issuer's own is refused before anything else.

The key is `SMARTCITY_GATEWAY_SECRET`: every replica behind one address needs the same one
(production requires it); without it each process draws a random key at start, which is right
for one process and makes a form served by another replica fail its check.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from runtime.config import Settings

COOKIE = "smartcity_csrf"
COOKIE_PATH = "/oauth2/"
FIELD = "csrf_token"
_COOKIE_VALUE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 random bytes, base64url
_DEFAULT_PORTS = {"http": 80, "https": 443}


class CsrfRefused(Exception):
    """A form post that did not come from a page the gateway served (why, for the log)."""


def origin_of(url: str) -> str:
    """`scheme://host[:port]` as browsers send it in `Origin`: lower case, no default port."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is None or port == _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


@dataclass(frozen=True)
class CsrfGuard:
    """Issues and checks the cookie and the form token; `origin` is the issuer's origin."""

    key: bytes
    origin: str
    secure: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> CsrfGuard:
        if settings.gateway_secret:
            # A key of its own for this use, derived: the secret may come to sign other things.
            key = hmac.new(settings.gateway_secret.encode(), b"smartcity-csrf", "sha256").digest()
        else:
            key = secrets.token_bytes(32)
        return cls(
            key=key,
            origin=origin_of(settings.issuer),
            secure=settings.issuer.startswith("https://"),
        )

    def _token(self, cookie: str) -> str:
        return hmac.new(self.key, f"csrf:{cookie}".encode(), hashlib.sha256).hexdigest()

    def sign(self, purpose: str, *values: str) -> str:
        """A MAC binding values together (a consent ticket and the client's `state`)."""
        message = "\x00".join((purpose, *values)).encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def verify(self, mac: str, purpose: str, *values: str) -> bool:
        return hmac.compare_digest(mac.encode(), self.sign(purpose, *values).encode())

    def form_token(self, request: web.Request, response_cookies: dict[str, str]) -> str:
        """The token for a form on this page; a new cookie value goes into
        `response_cookies` when the browser sent none (or a malformed one)."""
        cookie = request.cookies.get(COOKIE, "")
        if not _COOKIE_VALUE.match(cookie):
            cookie = secrets.token_urlsafe(32)
            response_cookies[COOKIE] = cookie
        return self._token(cookie)

    def set_cookies(self, response: web.StreamResponse, cookies: dict[str, str]) -> None:
        for name, value in cookies.items():
            response.set_cookie(
                name,
                value,
                path=COOKIE_PATH,
                httponly=True,
                samesite="Strict",
                secure=self.secure,
            )

    def check(self, request: web.Request, token: str) -> None:
        """Raise CsrfRefused unless the post comes from our origin with the cookie's token."""
        origin = request.headers.get("Origin")
        if origin is not None and origin != self.origin:
            raise CsrfRefused("foreign origin")
        cookie = request.cookies.get(COOKIE, "")
        if not _COOKIE_VALUE.match(cookie):
            raise CsrfRefused("no cookie")
        if not hmac.compare_digest(token.encode(), self._token(cookie).encode()):
            raise CsrfRefused("wrong token")

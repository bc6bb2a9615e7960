"""The rules of OAuth 2.0 and OpenID Connect that identity keeps (pure: no I/O).

Which applications may be registered and where their people may be sent back (exact redirect
URIs: https, or loopback and private-use schemes for native apps, RFC 8252), which scopes exist,
the PKCE check (RFC 7636, S256 only, as OAuth 2.1 asks), and what an ID token says (OpenID
Connect Core section 2): identifiers and times, never a name or an ID number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from runtime import auth, text
from runtime.errors import FieldViolation

OPENID = "openid"
PROFILE = "profile"
OFFLINE_ACCESS = "offline_access"
SCOPES = auth.OIDC_SCOPES
ENTRY_POINTS = ("public", "office")
ID_TOKEN_ALGORITHMS = auth.ID_TOKEN_ALGORITHMS
RS256 = ID_TOKEN_ALGORITHMS[0]
SUBJECT_TYPES = ("public", "pairwise")
S256 = "S256"

# A code lives long enough for a redirect and one back-channel call (RFC 6749 section 4.1.2
# recommends at most ten minutes); a consent ticket long enough to read the consent page.
CODE_TTL_SECONDS = 60
CONSENT_TTL_SECONDS = 300
ID_TOKEN_TTL_SECONDS = 300

_CLIENT_ID = re.compile(r"[a-z0-9][a-z0-9.-]{2,63}")
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_PRIVATE_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+")  # reverse domain: cn.gov.app
# The whole authority, not the parsed hostname: urlsplit reads "[::1].evil.example" as ::1.
_LOOPBACK = re.compile(r"(?:127\.0\.0\.1|\[::1\]|localhost)(?::[0-9]{1,5})?")
MAX_URIS = 10
MAX_URI_LENGTH = 2000


@dataclass(frozen=True)
class Application:
    client_id: str
    name: str
    entry_point: str
    confidential: bool
    first_party: bool
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    id_token_alg: str
    subject_type: str
    scopes: tuple[str, ...]
    department: str
    created_us: int = 0

    @property
    def token_audience(self) -> str:
        """The audience of the access tokens it gets: the entry point's API for the platform's
        own applications; a third party's open only userinfo until scopes for the API exist."""
        return self.entry_point if self.first_party else auth.USERINFO_AUDIENCE


def client_id_violations(client_id: str) -> list[FieldViolation]:
    if not _CLIENT_ID.fullmatch(client_id):
        return [
            FieldViolation(
                "client_id", "must be 3 to 64 lower-case letters, digits, dots and dashes"
            )
        ]
    if client_id in auth.AUDIENCES or client_id == auth.USERINFO_AUDIENCE:
        return [FieldViolation("client_id", "must not be the name of an audience")]
    return []


def redirect_uri_violation(uri: str) -> str | None:
    """Why the URI cannot be a redirect URI, or None."""
    if len(uri) > MAX_URI_LENGTH or text.unsafe_character(uri) is not None or " " in uri:
        return f"must be at most {MAX_URI_LENGTH} printable characters with no spaces"
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "must be an absolute URI"
    if parts.fragment or "#" in uri:
        return "must not have a fragment (RFC 6749 section 3.1.2)"
    if "@" in parts.netloc:
        return "must not have a user name in its host (https://user@host tricks)"
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and _LOOPBACK.fullmatch(parts.netloc.lower()):
        return None  # native apps' loopback redirect, and the embedded platform on localhost
    if _PRIVATE_SCHEME.fullmatch(parts.scheme) and parts.path:
        return None  # RFC 8252 section 7.1: a private-use scheme in reverse domain order
    return "must be https, http on a loopback address, or a private-use scheme like cn.gov.app:/cb"


def uri_list_violations(field: str, uris: list[str], *, required: bool) -> list[FieldViolation]:
    if required and not uris:
        return [FieldViolation(field, "needs at least one URI")]
    if len(uris) > MAX_URIS:
        return [FieldViolation(field, f"at most {MAX_URIS} URIs")]
    violations = []
    for index, uri in enumerate(uris):
        if (why := redirect_uri_violation(uri)) is not None:
            violations.append(FieldViolation(f"{field}[{index}]", why))
    if len(set(uris)) != len(uris):
        violations.append(FieldViolation(field, "names a URI twice"))
    return violations


def scopes_of(scope: str) -> list[str]:
    """The scope parameter's scopes, in order, each once (RFC 6749 section 3.3)."""
    seen: list[str] = []
    for name in scope.split(" "):
        if name and name not in seen:
            seen.append(name)
    return seen


def scope_violation(requested: list[str], allowed: tuple[str, ...]) -> str | None:
    if OPENID not in requested:
        return "the scope must include openid"
    unknown = [s for s in requested if s not in allowed]
    if unknown:
        return "this application may not ask for: " + " ".join(unknown)
    return None


def challenge_violation(challenge: str, method: str) -> str | None:
    if method != S256:
        return "code_challenge_method must be S256"
    if not _CHALLENGE.fullmatch(challenge):
        return "code_challenge must be the 43-character base64url S256 hash of the verifier"
    return None


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verifier_matches(verifier: str, challenge: str) -> bool:
    """RFC 7636 section 4.6, in constant time."""
    if not _VERIFIER.fullmatch(verifier):
        return False
    return hmac.compare_digest(s256(verifier), challenge)


def subject_for(application: Application, account_id: str, *, pairwise_key: bytes) -> str:
    """OpenID Connect `sub`: the account id, or a pairwise identifier per application, so that
    two third parties cannot join what they know about one person (Core section 8.1)."""
    if application.subject_type != "pairwise":
        return account_id
    mac = hmac.new(pairwise_key, f"{application.client_id}\x00{account_id}".encode(), "sha256")
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


def half_hash(value: str) -> str:
    """`at_hash` for RS256 (Core section 3.1.3.6): the left half of its SHA-256."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


def id_token_claims(
    *,
    issuer: str,
    subject: str,
    application: Application,
    session_id: str,
    auth_time: int,
    amr: list[str],
    nonce: str,
    access_token: str,
    now: int,
) -> dict[str, object]:
    claims: dict[str, object] = {
        "iss": issuer,
        "sub": subject,
        "aud": application.client_id,
        "azp": application.client_id,
        "iat": now,
        "exp": now + ID_TOKEN_TTL_SECONDS,
        "auth_time": auth_time,
        "amr": amr,
        "sid": session_id,
    }
    if nonce:
        claims["nonce"] = nonce
    if application.id_token_alg == RS256:
        claims["at_hash"] = half_hash(access_token)
    return claims

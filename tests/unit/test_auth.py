"""Access tokens verified against a JWKS with real Ed25519 keys; policies; bearer headers."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import grpc
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from runtime import auth
from runtime.auth import (
    ANONYMOUS,
    OFFICE,
    PARTNER_ONLY,
    PUBLIC,
    SIGNED_IN,
    TOKEN_TYPE,
    Policy,
    Principal,
    TokenVerifier,
    allow,
    bearer_token,
    policies_of,
)
from runtime.errors import PermissionDenied, Unauthenticated, UpstreamUnavailable
from services.identity.domain import ACCESS_TOKEN_TTL_SECONDS, Account, Subject, access_token_claims

ISSUER = "http://localhost:8080"


@dataclass
class SigningKey:
    kid: str = field(default_factory=lambda: uuid.uuid4().hex)
    private: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = OKPAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        jwk.update(kid=self.kid, alg="EdDSA", use="sig")
        return jwk

    def sign(
        self, claims: dict[str, Any], *, kid: str | None = None, typ: str | None = TOKEN_TYPE
    ) -> str:
        headers: dict[str, Any] = {"kid": kid or self.kid}
        if typ is not None:
            headers["typ"] = typ
        return jwt.encode(claims, self.private, algorithm="EdDSA", headers=headers)


class JwksEndpoint:
    """The identity service's GetJwks, as an async fetcher that counts (and times) its calls."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.extra: list[dict[str, Any]] = []  # raw JWKs published beside the keys
        self.fetched_at: list[float] = []
        self.failing = False

    @property
    def calls(self) -> int:
        return len(self.fetched_at)

    async def __call__(self) -> str:
        self.fetched_at.append(time.monotonic())
        if self.failing:
            raise ConnectionError("connection refused")
        return orjson.dumps({"keys": [k.jwk for k in self.keys] + self.extra}).decode()


ACCOUNT = Account(
    id="acc-42", username="psb.officer", kind="staff", department="psb", roles=("catalog_officer",)
)


def claims(
    audience: str = "office",
    *,
    now: int | None = None,
    subject: Subject | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    issued = int(time.time()) if now is None else now
    out = dict(
        access_token_claims(
            subject or Subject(ACCOUNT),
            session_id="s1",
            issuer=ISSUER,
            audience=audience,
            now=issued,
        )
    )
    out.update(overrides)
    return out


def b64(data: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")


@pytest.fixture
def key() -> SigningKey:
    return SigningKey()


@pytest.fixture
def jwks(key: SigningKey) -> JwksEndpoint:
    return JwksEndpoint(key)


@pytest.fixture
def verifier(jwks: JwksEndpoint) -> TokenVerifier:
    return TokenVerifier(jwks, issuer=ISSUER, refetch_interval=0.05)


async def test_a_valid_token_yields_its_principal(key: SigningKey, verifier: TokenVerifier) -> None:
    # given a token signed by identity's key for the office audience
    token = key.sign(claims())
    # when verified
    principal = await verifier.verify(token, audiences=("office",))
    # then the principal carries who, where from and what they may do
    assert principal.subject == "acc-42"
    assert principal.audience == "office"
    assert principal.kind == "staff"
    assert principal.department == "psb"
    assert principal.roles == frozenset({"catalog_officer"})
    assert principal.session == "s1"
    assert principal.enterprise == ""
    assert not principal.second_factor_pending
    assert principal.token == token
    assert principal.expires_at == pytest.approx(time.time() + ACCESS_TOKEN_TTL_SECONDS, abs=5)


async def test_an_enterprise_agent_token_names_the_enterprise(
    key: SigningKey, verifier: TokenVerifier
) -> None:
    # given a citizen acting as the agent of an enterprise
    citizen = Account(id="acc-7", username="c.zhang", kind="citizen", department="", roles=())
    token = key.sign(claims("public", subject=Subject(citizen, enterprise_id="ent-9")))
    # when verified
    principal = await verifier.verify(token, audiences=("public",))
    # then the principal is an enterprise agent acting for that enterprise
    assert principal.kind == auth.ENTERPRISE_AGENT
    assert principal.enterprise == "ent-9"
    assert principal.roles == frozenset()


async def test_a_token_of_staff_without_a_second_factor_says_so(
    key: SigningKey, verifier: TokenVerifier
) -> None:
    token = key.sign(claims(subject=Subject(ACCOUNT, second_factor_pending=True)))
    principal = await verifier.verify(token)
    assert principal.second_factor_pending
    assert principal.roles == frozenset()


async def test_a_token_is_verified_once_then_served_from_the_cache(
    key: SigningKey, jwks: JwksEndpoint, verifier: TokenVerifier
) -> None:
    token = key.sign(claims())
    first = await verifier.verify(token)
    # when the same token comes again, even after the key set became unreachable
    jwks.failing = True
    jwks.keys = []
    second = await verifier.verify(token)
    # then the same principal is served without fetching the key set again
    assert second is first
    assert jwks.calls == 1


async def test_a_cached_token_presented_at_another_entry_point_is_refused(
    key: SigningKey, verifier: TokenVerifier
) -> None:
    token = key.sign(claims("office"))
    await verifier.verify(token, audiences=("office",))
    with pytest.raises(Unauthenticated, match="not for this entry point"):
        await verifier.verify(token, audiences=("partner",))


async def test_a_token_for_another_audience_is_refused(
    key: SigningKey, verifier: TokenVerifier
) -> None:
    token = key.sign(claims("partner"))
    with pytest.raises(Unauthenticated, match="not for this entry point"):
        await verifier.verify(token, audiences=("office",))


async def test_an_expired_token_is_refused(key: SigningKey, verifier: TokenVerifier) -> None:
    # given a token that expired well beyond the clock-skew leeway
    token = key.sign(claims(now=int(time.time()) - 3600))
    with pytest.raises(Unauthenticated, match="expired"):
        await verifier.verify(token)


async def test_a_token_expired_within_the_leeway_is_still_accepted(
    key: SigningKey, verifier: TokenVerifier
) -> None:
    now = int(time.time())
    token = key.sign(claims(now=now - 1000, exp=now - 5))
    assert (await verifier.verify(token)).subject == "acc-42"


async def test_the_cache_does_not_serve_a_principal_past_its_expiry(
    key: SigningKey, verifier: TokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a cached principal whose token expires in a minute
    token = key.sign(claims(exp=int(time.time()) + 60))
    first = await verifier.verify(token)
    assert await verifier.verify(token) is first
    # when the verifier's clock passes the expiry and the leeway
    later = SimpleNamespace(time=lambda: time.time() + 60 + 31, monotonic=time.monotonic)
    monkeypatch.setattr(auth, "time", later)
    # then the cached principal is not served: the token is checked afresh
    assert await verifier.verify(token) is not first


async def test_a_token_from_another_issuer_is_refused(
    key: SigningKey, verifier: TokenVerifier
) -> None:
    token = key.sign(claims(iss="https://someone-else.example"))
    with pytest.raises(Unauthenticated, match="issued by someone else"):
        await verifier.verify(token)


async def test_a_token_not_yet_valid_is_refused(key: SigningKey, verifier: TokenVerifier) -> None:
    # given a token issued an hour from now
    token = key.sign(claims(now=int(time.time()) + 3600))
    with pytest.raises(Unauthenticated, match="not valid yet"):
        await verifier.verify(token)


async def test_a_token_whose_not_before_is_in_the_future_is_refused(
    key: SigningKey, verifier: TokenVerifier
) -> None:
    # given a token issued now but valid only from an hour from now
    token = key.sign(claims(nbf=int(time.time()) + 3600))
    with pytest.raises(Unauthenticated, match="not valid yet"):
        await verifier.verify(token)


@pytest.mark.parametrize("missing", ["exp", "iat", "nbf", "sub", "aud", "iss"])
async def test_a_token_missing_a_required_claim_is_refused(
    key: SigningKey, verifier: TokenVerifier, missing: str
) -> None:
    body = claims()
    del body[missing]
    with pytest.raises(Unauthenticated):
        await verifier.verify(key.sign(body))


@pytest.mark.parametrize("typ", [None, "JWT", "jwt", "id_token+jwt", "at+jwt-not", ""])
async def test_a_jwt_that_is_not_an_access_token_is_refused(
    key: SigningKey, jwks: JwksEndpoint, verifier: TokenVerifier, typ: str | None
) -> None:
    # given a JWT signed by identity's own key with the claims of an access token, but another
    # type (an ID token, or a JWT without `typ`: PyJWT then writes "JWT")
    token = key.sign(claims(), typ=typ)
    # when verified
    with pytest.raises(Unauthenticated, match=r"not an access token \(typ at\+jwt\)"):
        await verifier.verify(token)
    # then it was refused from its header alone
    assert jwks.calls == 0


async def test_a_token_signed_by_another_key_with_the_same_kid_is_refused(
    key: SigningKey, verifier: TokenVerifier
) -> None:
    # given an attacker's key that claims identity's kid
    forged = SigningKey().sign(claims(), kid=key.kid)
    with pytest.raises(Unauthenticated, match="invalid"):
        await verifier.verify(forged)


async def test_a_token_whose_claims_were_altered_is_refused(
    key: SigningKey, verifier: TokenVerifier
) -> None:
    header, _, signature = key.sign(claims()).split(".")
    altered = ".".join([header, b64(claims(roles=["bdb_admin"])), signature])
    with pytest.raises(Unauthenticated, match="invalid"):
        await verifier.verify(altered)


async def test_a_new_kid_triggers_a_refetch_of_the_key_set(
    key: SigningKey, jwks: JwksEndpoint
) -> None:
    # given a verifier that knows the first key
    verifier = TokenVerifier(jwks, issuer=ISSUER, refetch_interval=0.0)
    await verifier.verify(key.sign(claims()))
    # when identity rotates to a second key and a token signed by it arrives
    rotated = SigningKey()
    jwks.keys.append(rotated)
    principal = await verifier.verify(rotated.sign(claims()))
    # then the key set was fetched again and the token accepted
    assert principal.subject == "acc-42"
    assert jwks.calls == 2


async def test_a_key_published_a_moment_after_the_last_fetch_is_accepted_after_a_short_wait(
    key: SigningKey, jwks: JwksEndpoint
) -> None:
    # given a verifier that has just fetched the key set
    interval = 0.2
    verifier = TokenVerifier(jwks, issuer=ISSUER, refetch_interval=interval)
    await verifier.verify(key.sign(claims()))
    # when identity rotates right after and a token of the new key arrives at once
    rotated = SigningKey()
    jwks.keys.append(rotated)
    started = time.monotonic()
    principal = await verifier.verify(rotated.sign(claims()))
    waited = time.monotonic() - started
    # then the request does not fail: it waits out the interval, and one refetch finds the key
    assert principal.subject == "acc-42"
    assert jwks.calls == 2
    assert jwks.fetched_at[1] - jwks.fetched_at[0] >= interval - 0.01
    assert waited < interval + 1.0


async def test_forged_kids_cause_at_most_one_fetch_per_interval(
    key: SigningKey, jwks: JwksEndpoint
) -> None:
    interval = 0.05
    verifier = TokenVerifier(jwks, issuer=ISSUER, refetch_interval=interval)
    await verifier.verify(key.sign(claims()))
    assert jwks.calls == 1
    # given tokens with kids nobody knows, one after another and in a concurrent burst
    for _ in range(3):
        with pytest.raises(Unauthenticated, match="unknown key"):
            await verifier.verify(SigningKey().sign(claims()))
    burst = await asyncio.gather(
        *(verifier.verify(SigningKey().sign(claims())) for _ in range(4)), return_exceptions=True
    )
    # then every one was refused
    assert all(isinstance(e, Unauthenticated) and "unknown key" in str(e) for e in burst)
    # and identity was never asked twice within an interval
    gaps = [b - a for a, b in zip(jwks.fetched_at, jwks.fetched_at[1:], strict=False)]
    assert gaps and min(gaps) >= interval - 0.01
    # and tokens of the known key are still served without a fetch (so without a wait)
    calls = jwks.calls
    assert (await verifier.verify(key.sign(claims()))).subject == "acc-42"
    assert jwks.calls == calls


async def test_a_burst_of_forged_kids_does_not_hold_up_a_genuine_new_key(
    key: SigningKey, jwks: JwksEndpoint
) -> None:
    # given a verifier that has just fetched, and identity rotating right after
    interval = 0.05
    verifier = TokenVerifier(jwks, issuer=ISSUER, refetch_interval=interval)
    await verifier.verify(key.sign(claims()))
    rotated = SigningKey()
    jwks.keys.append(rotated)
    # when twenty tokens with forged kids arrive just before a genuine token of the new key
    forged = [
        asyncio.ensure_future(verifier.verify(SigningKey().sign(claims()))) for _ in range(20)
    ]
    await asyncio.sleep(0)
    started = time.monotonic()
    principal = await verifier.verify(rotated.sign(claims()))
    waited = time.monotonic() - started
    await asyncio.gather(*forged, return_exceptions=True)
    # then the genuine token is served by the first fetch after the interval, not the twentieth
    assert principal.subject == "acc-42"
    assert waited < 4 * interval


async def test_refresh_fetches_the_key_set_at_once(key: SigningKey, jwks: JwksEndpoint) -> None:
    # given a verifier that fetched a moment ago, with a long refetch interval
    verifier = TokenVerifier(jwks, issuer=ISSUER, refetch_interval=60.0)
    await verifier.verify(key.sign(claims()))
    rotated = SigningKey()
    jwks.keys.append(rotated)
    # when identity announces the rotation
    await verifier.refresh()
    # then the new key is known without waiting for the interval
    assert jwks.calls == 2
    assert rotated.kid in verifier.key_ids
    assert (await verifier.verify(rotated.sign(claims()))).subject == "acc-42"
    assert jwks.calls == 2


async def test_a_cached_token_of_a_key_that_left_the_set_is_refused_after_a_refresh(
    key: SigningKey, jwks: JwksEndpoint, verifier: TokenVerifier
) -> None:
    # given cached tokens of two keys
    other = SigningKey()
    jwks.keys.append(other)
    leaving = await verifier.verify(key.sign(claims()))
    staying = await verifier.verify(other.sign(claims()))
    assert await verifier.verify(leaving.token) is leaving
    # when the first key leaves the key set and the verifier refreshes
    jwks.keys = [other]
    await verifier.refresh()
    # then the token of the removed key is refused, the other still served from the cache
    with pytest.raises(Unauthenticated, match="unknown key"):
        await verifier.verify(leaving.token)
    assert await verifier.verify(staying.token) is staying


@pytest.mark.parametrize(
    "jwk_changes", [{"use": "enc"}, {"alg": "ES256"}, {"alg": "none"}, {"alg": None}]
)
async def test_a_published_key_not_for_eddsa_signatures_is_ignored(
    jwks: JwksEndpoint, verifier: TokenVerifier, jwk_changes: dict[str, Any]
) -> None:
    # given a key published for encryption, or for another algorithm
    odd = SigningKey()
    jwk = {**odd.jwk, **jwk_changes}
    jwks.extra.append({k: v for k, v in jwk.items() if v is not None})
    # then tokens naming it are refused as signed with an unknown key
    with pytest.raises(Unauthenticated, match="unknown key"):
        await verifier.verify(odd.sign(claims()))
    assert odd.kid not in verifier.key_ids


async def test_an_unreachable_identity_service_is_reported(
    key: SigningKey, jwks: JwksEndpoint, verifier: TokenVerifier
) -> None:
    jwks.failing = True
    # a 503 naming identity, not a 401: the token may be good, and the caller keeps it
    with pytest.raises(UpstreamUnavailable, match="identity service") as refused:
        await verifier.verify(key.sign(claims()))
    assert refused.value.service == "identity"


async def test_a_malformed_key_set_is_reported_as_unreachable_identity(key: SigningKey) -> None:
    async def broken() -> str:
        return "<html>502</html>"

    with pytest.raises(UpstreamUnavailable, match="identity service"):
        await TokenVerifier(broken, issuer=ISSUER).verify(key.sign(claims()))


async def test_an_unsigned_alg_none_token_is_refused(
    key: SigningKey, jwks: JwksEndpoint, verifier: TokenVerifier
) -> None:
    token = f"{b64({'alg': 'none', 'typ': TOKEN_TYPE, 'kid': key.kid})}.{b64(claims())}."
    with pytest.raises(Unauthenticated, match="unsupported algorithm"):
        await verifier.verify(token)
    assert jwks.calls == 0


async def test_an_hs256_token_is_refused_even_with_the_public_key_as_secret(
    key: SigningKey, verifier: TokenVerifier
) -> None:
    secret = key.jwk["x"]
    token = jwt.encode(
        claims(), secret, algorithm="HS256", headers={"kid": key.kid, "typ": TOKEN_TYPE}
    )
    with pytest.raises(Unauthenticated, match="unsupported algorithm"):
        await verifier.verify(token)


async def test_a_token_without_kid_is_refused(key: SigningKey, verifier: TokenVerifier) -> None:
    token = jwt.encode(claims(), key.private, algorithm="EdDSA", headers={"typ": TOKEN_TYPE})
    with pytest.raises(Unauthenticated, match="no kid"):
        await verifier.verify(token)


@pytest.mark.parametrize(
    "token",
    ["", "not-a-jwt", "a.b.c", "....", "eyJhbGciOiJFZERTQSJ9", f"{b64([1])}.e30.x"],
)
async def test_a_malformed_token_is_refused(verifier: TokenVerifier, token: str) -> None:
    with pytest.raises(Unauthenticated):
        await verifier.verify(token)


def principal(
    audience: str = "office",
    roles: tuple[str, ...] = (),
    *,
    kind: str = "staff",
    second_factor_pending: bool = False,
) -> Principal:
    return Principal(
        subject="acc-1",
        audience=audience,
        kind=kind,
        roles=frozenset(roles),
        second_factor_pending=second_factor_pending,
    )


def test_an_anonymous_policy_admits_anyone() -> None:
    ANONYMOUS.check(None)  # admitted
    ANONYMOUS.check(principal("partner"))  # admitted
    ANONYMOUS.check(principal(second_factor_pending=True))  # admitted


def test_a_policy_requires_a_principal() -> None:
    with pytest.raises(Unauthenticated):
        Policy(audiences=("office",)).check(None)
    with pytest.raises(Unauthenticated):
        Policy().check(None)


def test_a_policy_refuses_a_principal_of_another_audience() -> None:
    with pytest.raises(PermissionDenied, match="partner"):
        Policy(audiences=("office", "service")).check(principal("partner"))
    Policy(audiences=("office", "service")).check(principal("service"))  # admitted


def test_a_policy_with_roles_requires_any_one_of_them_of_a_service_client() -> None:
    policy = Policy(audiences=("service",), roles=("licence_issuer",))
    policy.check(principal("service", roles=("licence_issuer",), kind=auth.SERVICE))  # admitted
    with pytest.raises(PermissionDenied, match="licence_issuer"):
        policy.check(principal("service", roles=("auditor",), kind=auth.SERVICE))
    with pytest.raises(PermissionDenied):
        policy.check(principal("service", kind=auth.SERVICE))


def test_staff_are_judged_by_the_role_table_not_the_policys_roles() -> None:
    # the gRPC server applies runtime.roles per method; the policy's roles are for clients
    Policy(audiences=("office",), roles=("licence_issuer",)).check(principal(roles=("auditor",)))


def test_a_policy_with_kinds_admits_only_those_subject_types() -> None:
    policy = Policy(audiences=("public",), kinds=(auth.CITIZEN,))
    policy.check(principal("public", kind=auth.CITIZEN))  # admitted
    with pytest.raises(PermissionDenied, match=auth.ENTERPRISE_AGENT):
        policy.check(principal("public", kind=auth.ENTERPRISE_AGENT))


def test_staff_without_a_second_factor_may_call_only_what_allows_it() -> None:
    # given a member of staff who signed in before enrolling TOTP
    pending = principal(roles=("catalog_officer",), second_factor_pending=True)
    # then a normal policy refuses them, even one their audience and roles would pass
    with pytest.raises(PermissionDenied, match="second factor"):
        OFFICE.check(pending)
    with pytest.raises(PermissionDenied, match="second factor"):
        SIGNED_IN.check(pending)
    # and a policy that makes the second factor optional admits them
    SIGNED_IN.but(second_factor_optional=True).check(pending)  # admitted
    OFFICE.check(principal(roles=("catalog_officer",)))  # admitted


def test_but_changes_some_fields_of_a_policy_and_leaves_the_preset_alone() -> None:
    admins = OFFICE.but(roles=("bdb_admin",))
    assert admins == Policy(audiences=("office",), roles=("bdb_admin",))
    assert OFFICE.roles == ()


def test_the_presets_admit_their_entry_points() -> None:
    PUBLIC.check(principal("public", kind=auth.CITIZEN))  # admitted
    PARTNER_ONLY.check(principal("partner", kind=auth.PARTNER))  # admitted
    for audience in auth.AUDIENCES:
        SIGNED_IN.check(principal(audience))  # admitted
    with pytest.raises(PermissionDenied):
        PUBLIC.check(principal("office"))
    with pytest.raises(PermissionDenied):
        PARTNER_ONLY.check(principal("public"))


def test_policies_of_collects_the_decorated_methods_only() -> None:
    # given a servicer whose methods declare who may call them, and one that does not
    auditors = OFFICE.but(roles=("auditor",))

    class Servicer:
        @allow(ANONYMOUS)
        async def GetJwks(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
            return None

        @allow(auditors)
        async def ListAccounts(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
            return None

        async def Forgotten(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
            return None

    # when collected
    found = policies_of(Servicer, "pkg.v1.Service")
    # then each decorated method maps to its policy by full path; the other is absent (denied)
    assert found == {
        "/pkg.v1.Service/GetJwks": ANONYMOUS,
        "/pkg.v1.Service/ListAccounts": auditors,
    }


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("", None),
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc", "abc"),
        ("BEARER  abc  ", "abc"),
    ],
)
def test_a_bearer_header_yields_its_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "abc.def.ghi", "Token x"]
)
def test_a_header_that_is_not_bearer_is_refused(header: str) -> None:
    with pytest.raises(Unauthenticated, match="Bearer"):
        bearer_token(header)


def test_the_token_is_never_part_of_a_principal_repr() -> None:
    assert "secret-token" not in repr(
        Principal(subject="s", audience="office", kind="staff", token="secret-token")
    )

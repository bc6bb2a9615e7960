"""Access tokens verified against a JWKS with real Ed25519 keys; policies; bearer headers."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from runtime import auth
from runtime.auth import ANONYMOUS, Policy, Principal, TokenVerifier, bearer_token
from runtime.errors import PermissionDenied, Unauthenticated
from services.identity.domain import Account, access_token_claims


@dataclass
class SigningKey:
    kid: str = field(default_factory=lambda: uuid.uuid4().hex)
    private: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = OKPAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        jwk.update(kid=self.kid, alg="EdDSA", use="sig")
        return jwk

    def sign(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        return jwt.encode(claims, self.private, algorithm="EdDSA", headers={"kid": kid or self.kid})


class JwksEndpoint:
    """The identity service's GetJwks, as an async fetcher that counts its calls."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.calls = 0
        self.failing = False

    async def __call__(self) -> str:
        self.calls += 1
        if self.failing:
            raise ConnectionError("connection refused")
        return orjson.dumps({"keys": [k.jwk for k in self.keys]}).decode()


ACCOUNT = Account(
    id="acc-42", username="psb.officer", kind="staff", department="psb", roles=("catalog_officer",)
)


def claims(audience: str = "office", *, now: int | None = None, **overrides: Any) -> dict[str, Any]:
    issued = int(time.time()) if now is None else now
    out = dict(access_token_claims(ACCOUNT, audience=audience, now=issued))
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
    return TokenVerifier(jwks, refetch_interval=60.0)


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
    assert principal.token == token
    assert principal.expires_at == pytest.approx(time.time() + 900, abs=5)


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
    token = key.sign(claims(iss="someone-else"))
    with pytest.raises(Unauthenticated, match="invalid"):
        await verifier.verify(token)


async def test_a_token_not_yet_valid_is_refused(key: SigningKey, verifier: TokenVerifier) -> None:
    token = key.sign(claims(now=int(time.time()) + 3600))
    with pytest.raises(Unauthenticated, match="invalid"):
        await verifier.verify(token)


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "aud", "iss"])
async def test_a_token_missing_a_required_claim_is_refused(
    key: SigningKey, verifier: TokenVerifier, missing: str
) -> None:
    body = claims()
    del body[missing]
    with pytest.raises(Unauthenticated):
        await verifier.verify(key.sign(body))


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
    verifier = TokenVerifier(jwks, refetch_interval=0.0)
    await verifier.verify(key.sign(claims()))
    # when identity rotates to a second key and a token signed by it arrives
    rotated = SigningKey()
    jwks.keys.append(rotated)
    principal = await verifier.verify(rotated.sign(claims()))
    # then the key set was fetched again and the token accepted
    assert principal.subject == "acc-42"
    assert jwks.calls == 2


async def test_refetches_for_unknown_kids_are_rate_limited(
    key: SigningKey, jwks: JwksEndpoint
) -> None:
    verifier = TokenVerifier(jwks, refetch_interval=0.2)
    await verifier.verify(key.sign(claims()))
    assert jwks.calls == 1
    # given tokens with kids nobody knows, arriving in a burst
    for _ in range(5):
        with pytest.raises(Unauthenticated, match="unknown key"):
            await verifier.verify(SigningKey().sign(claims()))
    # then the key set was not fetched again within the interval
    assert jwks.calls == 1
    # when the interval has passed and identity has rotated
    rotated = SigningKey()
    jwks.keys.append(rotated)
    await asyncio.sleep(0.25)
    # then one refetch finds the new key
    assert (await verifier.verify(rotated.sign(claims()))).subject == "acc-42"
    assert jwks.calls == 2


async def test_an_unreachable_identity_service_is_reported(
    key: SigningKey, jwks: JwksEndpoint, verifier: TokenVerifier
) -> None:
    jwks.failing = True
    with pytest.raises(Unauthenticated, match="identity service"):
        await verifier.verify(key.sign(claims()))


async def test_a_malformed_key_set_is_reported_as_unreachable_identity(key: SigningKey) -> None:
    async def broken() -> str:
        return "<html>502</html>"

    with pytest.raises(Unauthenticated, match="identity service"):
        await TokenVerifier(broken).verify(key.sign(claims()))


async def test_an_unsigned_alg_none_token_is_refused(
    key: SigningKey, jwks: JwksEndpoint, verifier: TokenVerifier
) -> None:
    token = f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': key.kid})}.{b64(claims())}."
    with pytest.raises(Unauthenticated, match="unsupported algorithm"):
        await verifier.verify(token)
    assert jwks.calls == 0


async def test_an_hs256_token_is_refused_even_with_the_public_key_as_secret(
    key: SigningKey, verifier: TokenVerifier
) -> None:
    secret = key.jwk["x"]
    token = jwt.encode(claims(), secret, algorithm="HS256", headers={"kid": key.kid})
    with pytest.raises(Unauthenticated, match="unsupported algorithm"):
        await verifier.verify(token)


async def test_a_token_without_kid_is_refused(key: SigningKey, verifier: TokenVerifier) -> None:
    token = jwt.encode(claims(), key.private, algorithm="EdDSA")
    with pytest.raises(Unauthenticated, match="no kid"):
        await verifier.verify(token)


@pytest.mark.parametrize(
    "token",
    ["", "not-a-jwt", "a.b.c", "....", "eyJhbGciOiJFZERTQSJ9", f"{b64([1])}.e30.x"],
)
async def test_a_malformed_token_is_refused(verifier: TokenVerifier, token: str) -> None:
    with pytest.raises(Unauthenticated):
        await verifier.verify(token)


def principal(audience: str = "office", roles: tuple[str, ...] = ()) -> Principal:
    return Principal(subject="acc-1", audience=audience, kind="staff", roles=frozenset(roles))


def test_an_anonymous_policy_admits_anyone() -> None:
    assert ANONYMOUS.check(None) is None
    assert ANONYMOUS.check(principal("partner")) is None


def test_a_policy_requires_a_principal() -> None:
    with pytest.raises(Unauthenticated):
        Policy(audiences=("office",)).check(None)
    with pytest.raises(Unauthenticated):
        Policy().check(None)


def test_a_policy_refuses_a_principal_of_another_audience() -> None:
    with pytest.raises(PermissionDenied, match="partner"):
        Policy(audiences=("office", "service")).check(principal("partner"))
    assert Policy(audiences=("office", "service")).check(principal("service")) is None


def test_a_policy_with_roles_requires_any_one_of_them() -> None:
    policy = Policy(audiences=("office",), roles=("bdb_admin", "catalog_officer"))
    assert policy.check(principal(roles=("catalog_officer",))) is None
    with pytest.raises(PermissionDenied, match="bdb_admin, catalog_officer"):
        policy.check(principal(roles=("auditor",)))
    with pytest.raises(PermissionDenied):
        policy.check(principal(roles=()))


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

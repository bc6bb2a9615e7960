"""Identity's OAuth 2.0 and OpenID Connect rules: redirect URIs, scopes, PKCE and subjects."""

from __future__ import annotations

import pytest

from services.identity import oauth
from services.identity.authorization import registration
from services.identity.oauth import Application
from smartcity.identity.v1 import identity_pb2

# RFC 7636 Appendix B
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def application(**changes: object) -> Application:
    values: dict[str, object] = {
        "client_id": "bus.app",
        "name": "Bus",
        "entry_point": "public",
        "confidential": False,
        "first_party": False,
        "redirect_uris": ("https://bus.example/cb",),
        "post_logout_redirect_uris": (),
        "id_token_alg": "RS256",
        "subject_type": "pairwise",
        "scopes": oauth.SCOPES,
        "department": "bdb",
    }
    values.update(changes)
    return Application(**values)  # type: ignore[arg-type]


def test_the_s256_challenge_is_rfc_7636s_example() -> None:
    assert oauth.s256(VERIFIER) == CHALLENGE
    assert oauth.verifier_matches(VERIFIER, CHALLENGE)
    assert not oauth.verifier_matches(VERIFIER[:-1] + "l", CHALLENGE)
    # a verifier too short, or with characters RFC 7636 does not allow, never matches
    assert not oauth.verifier_matches("short", oauth.s256("short"))
    assert not oauth.verifier_matches("a" * 42 + " ", oauth.s256("a" * 42 + " "))


@pytest.mark.parametrize(
    ("challenge", "method", "ok"),
    [
        (CHALLENGE, "S256", True),
        (CHALLENGE, "plain", False),
        (CHALLENGE, "", False),
        (VERIFIER + "x", "S256", False),
        ("", "S256", False),
    ],
)
def test_only_an_s256_challenge_of_the_right_shape_is_taken(
    challenge: str, method: str, ok: bool
) -> None:
    assert (oauth.challenge_violation(challenge, method) is None) is ok


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example/callback",
        "http://127.0.0.1:8765/callback",
        "http://localhost:8080/",
        "http://[::1]:9000/cb",
        "cn.gov.haikou.app:/oauth2redirect",
    ],
)
def test_redirect_uris_that_may_be_registered(uri: str) -> None:
    assert oauth.redirect_uri_violation(uri) is None


@pytest.mark.parametrize(
    "uri",
    [
        "http://app.example/callback",  # plain http beyond loopback
        "https://app.example/cb#fragment",  # RFC 6749 section 3.1.2
        "javascript:alert(1)",
        "myapp:/cb",  # a private-use scheme must be a reverse domain name
        "https://",  # no host
        "https://app.example/a b",
        "https://app.example/\u202ecb",  # bidirectional control character
        "/relative",
        "http://[::1].evil.example/cb",  # urlsplit's hostname says ::1; browsers refuse it
        "http://127.0.0.1.evil.example/cb",
        "http://localhost@evil.example/cb",
        "http://evil.example@localhost/cb",
        "https://app.example@evil.example/cb",
    ],
)
def test_redirect_uris_that_may_not_be_registered(uri: str) -> None:
    assert oauth.redirect_uri_violation(uri) is not None


def test_the_scope_must_ask_for_openid_and_only_what_the_application_may() -> None:
    assert oauth.SCOPES == (oauth.OPENID, oauth.PROFILE, oauth.OFFLINE_ACCESS)
    assert oauth.scopes_of("openid  profile openid") == ["openid", "profile"]
    assert oauth.scope_violation(["openid", "profile"], oauth.SCOPES) is None
    assert oauth.scope_violation(["profile"], oauth.SCOPES) is not None
    assert oauth.scope_violation(["openid", "admin"], oauth.SCOPES) is not None
    assert oauth.scope_violation(["openid", "offline_access"], ("openid",)) is not None


def test_a_pairwise_subject_differs_per_application_and_is_stable() -> None:
    key = b"k" * 32
    bus, taxi = application(), application(client_id="taxi.app")
    first = oauth.subject_for(bus, "account-1", pairwise_key=key)
    assert first == oauth.subject_for(bus, "account-1", pairwise_key=key)
    assert first != oauth.subject_for(taxi, "account-1", pairwise_key=key)
    assert first != oauth.subject_for(bus, "account-2", pairwise_key=key)
    assert "account-1" not in first
    portal = application(client_id="smartcity-portal", subject_type="public", first_party=True)
    assert oauth.subject_for(portal, "account-1", pairwise_key=key) == "account-1"


def test_only_the_platforms_own_applications_get_tokens_for_an_entry_point() -> None:
    assert application(first_party=True).token_audience == "public"
    assert application(first_party=True, entry_point="office").token_audience == "office"
    assert application().token_audience == "userinfo"


def test_an_id_token_carries_identifiers_and_times_only() -> None:
    claims = oauth.id_token_claims(
        issuer="https://gov.example",
        subject="s",
        application=application(),
        session_id="sid-1",
        auth_time=100,
        amr=["pwd"],
        nonce="n-1",
        access_token="a.b.c",
        now=200,
    )
    assert claims["aud"] == claims["azp"] == "bus.app"
    assert claims["exp"] == 200 + oauth.ID_TOKEN_TTL_SECONDS
    assert claims["nonce"] == "n-1" and claims["auth_time"] == 100 and "at_hash" in claims
    assert not {"name", "preferred_username", "roles"} & set(claims)


def test_a_registration_names_every_broken_rule_and_fills_in_defaults() -> None:
    request = identity_pb2.RegisterApplicationRequest(
        client_id="Bad Id",
        name="",
        entry_point="partner",
        redirect_uris=["http://evil.example/cb"],
        id_token_signed_response_alg="HS256",
        scopes=["email"],
        department="nowhere",
    )
    with pytest.raises(Exception) as refused:
        registration(request)
    fields = {v.field for v in refused.value.violations}  # type: ignore[attr-defined]
    assert fields == {
        "client_id",
        "name",
        "entry_point",
        "redirect_uris[0]",
        "id_token_signed_response_alg",
        "scopes",
        "department",
    }
    good = registration(
        identity_pb2.RegisterApplicationRequest(
            client_id="bus.app",
            name="Bus",
            entry_point="public",
            redirect_uris=["https://bus.example/cb"],
            department="bdb",
        )
    )
    assert good.subject_type == "pairwise" and good.id_token_alg == "RS256"
    assert good.scopes == oauth.SCOPES
    # an audience's name is no client id: its tokens would pass for the audience's
    for taken in ("public", "office", "userinfo"):
        assert oauth.client_id_violations(taken)

"""Identity rules without I/O: lockout, the claims of an access token, roles, passwords, usernames,
masking; and that every RPC of every service declares who may call it."""

from __future__ import annotations

import importlib

import pytest
from google.protobuf import descriptor_pool
from hypothesis import given
from hypothesis import strategies as st

from runtime import auth, config
from runtime.auth import Policy
from runtime.errors import InvalidArgument
from services.identity import domain
from services.identity.domain import (
    ACCESS_TOKEN_TTL_SECONDS,
    FIRST_LOCK_SECONDS,
    LOCK_AFTER_FAILURES,
    MAX_LOCK_SECONDS,
    MAX_PASSWORD,
    MIN_PASSWORD,
    Account,
    Subject,
    access_token_claims,
    lock_seconds,
    mask_identity_number,
    password_violations,
    username_violations,
    validate_login,
    validate_roles,
)

NOW = 1_750_000_000
ISSUER = "http://localhost:8080"
OFFICER = Account(
    id="acc-42",
    username="psb.officer",
    kind=domain.STAFF,
    department="psb",
    roles=(domain.ROLE_CATALOG_OFFICER, domain.ROLE_LICENCE_ISSUER),
)
CITIZEN = Account(id="acc-7", username="zhang.san", kind=domain.CITIZEN, department="", roles=())
# Everything an access token may carry: identifiers and authorisation, nothing personal.
ALLOWED_CLAIMS = {
    "iss",
    "sub",
    "aud",
    "iat",
    "nbf",
    "exp",
    "jti",
    "sid",
    "kind",
    "amr",
    "dept",
    "roles",
    "ent",
    "enrol_2fa",
    "client_id",  # a system's name: the partner's own, or the first-party app's
}


def test_a_partner_token_names_its_client_and_a_persons_token_the_first_party_app() -> None:
    partner = Account(
        id="p-1", username="bank.icbc", kind=domain.PARTNER, department="msa", roles=()
    )
    assert claims_of(Subject(partner), audience="partner")["client_id"] == "bank.icbc"
    # RFC 9068 requires client_id: people sign in through the platform's own apps
    assert claims_of(Subject(CITIZEN), audience="public")["client_id"] == "smartcity-portal"
    assert claims_of(Subject(OFFICER))["client_id"] == "smartcity-office"


def claims_of(subject: Subject, audience: str = "office") -> dict[str, object]:
    return access_token_claims(subject, session_id="s1", issuer=ISSUER, audience=audience, now=NOW)


def fields_of(error: pytest.ExceptionInfo[InvalidArgument]) -> list[str]:
    return [v.field for v in error.value.violations]


# --- lockout -----------------------------------------------------------------------------------


@pytest.mark.parametrize("failures", range(LOCK_AFTER_FAILURES))
def test_failures_below_the_threshold_do_not_lock(failures: int) -> None:
    assert lock_seconds(failures) == 0


def test_the_lock_starts_at_the_threshold_and_doubles_with_each_further_failure() -> None:
    # given failures in a row from the threshold on
    locks = [lock_seconds(LOCK_AFTER_FAILURES + i) for i in range(5)]
    # then the first lock is the shortest and each further failure doubles it
    assert locks == [FIRST_LOCK_SECONDS * 2**i for i in range(5)]
    assert locks[0] == 30


@pytest.mark.parametrize("failures", [11, 12, 13, 50, 10_000])
def test_the_lock_never_exceeds_an_hour(failures: int) -> None:
    assert lock_seconds(failures) <= MAX_LOCK_SECONDS == 3600
    assert lock_seconds(failures) == min(
        FIRST_LOCK_SECONDS * 2 ** (failures - LOCK_AFTER_FAILURES), MAX_LOCK_SECONDS
    )


@given(st.integers(min_value=0, max_value=200))
def test_the_lock_never_shrinks_as_failures_grow(failures: int) -> None:
    assert lock_seconds(failures + 1) >= lock_seconds(failures) >= 0


# --- access token claims -------------------------------------------------------------------------


def test_an_access_token_carries_identifiers_and_authorisation_only() -> None:
    # given a member of staff with a second factor, and a citizen acting for an enterprise
    for subject, audience in [
        (Subject(OFFICER), "office"),
        (Subject(CITIZEN, enterprise_id="ent-9"), "public"),
        (Subject(OFFICER, second_factor_pending=True), "office"),
    ]:
        claims = claims_of(subject, audience)
        # then its claims are from the known set, and none holds the username (let alone a
        # name, phone or ID number, which the account does not even carry)
        assert set(claims) <= ALLOWED_CLAIMS
        assert subject.account.username not in str(claims.values())
        # and the times and the session are those asked for
        assert claims["iss"] == ISSUER
        assert claims["sub"] == subject.account.id
        assert claims["aud"] == audience
        assert claims["sid"] == "s1"
        assert claims["iat"] == claims["nbf"] == NOW
        assert claims["exp"] == NOW + ACCESS_TOKEN_TTL_SECONDS == NOW + 300


def test_each_access_token_has_its_own_id() -> None:
    assert claims_of(Subject(OFFICER))["jti"] != claims_of(Subject(OFFICER))["jti"]


def test_staff_with_a_second_factor_carry_their_roles_and_both_factors() -> None:
    claims = claims_of(Subject(OFFICER))
    assert claims["kind"] == auth.STAFF
    assert claims["dept"] == "psb"
    assert claims["roles"] == ["catalog_officer", "licence_issuer"]
    assert claims["amr"] == ["pwd", "otp"]
    assert "enrol_2fa" not in claims
    assert "ent" not in claims


def test_staff_yet_to_enrol_a_second_factor_carry_no_roles() -> None:
    # given a member of staff who signed in with a password only, before enrolling TOTP
    claims = claims_of(Subject(OFFICER, second_factor_pending=True))
    # then the token may only enrol: no roles, one factor, and says so
    assert "roles" not in claims
    assert claims["amr"] == ["pwd"]
    assert claims["enrol_2fa"] is True
    assert claims["kind"] == auth.STAFF


def test_a_citizen_signs_in_with_one_factor_and_no_roles() -> None:
    claims = claims_of(Subject(CITIZEN), "public")
    assert claims["kind"] == auth.CITIZEN
    assert claims["amr"] == ["pwd"]
    assert not {"roles", "dept", "ent", "enrol_2fa"} & set(claims)


def test_an_enterprise_agent_token_names_the_enterprise() -> None:
    # given a citizen acting as the agent of an enterprise
    subject = Subject(CITIZEN, enterprise_id="ent-9")
    claims = claims_of(subject, "public")
    # then the subject type is an enterprise agent, for that enterprise
    assert subject.subject_type == auth.ENTERPRISE_AGENT
    assert claims["kind"] == auth.ENTERPRISE_AGENT
    assert claims["ent"] == "ent-9"
    assert claims["sub"] == CITIZEN.id
    assert claims["amr"] == ["pwd"]


# --- roles -------------------------------------------------------------------------------------


def test_known_roles_of_a_known_department_are_accepted() -> None:
    validate_roles("psb", ["catalog_officer", "licence_issuer"])
    validate_roles("bdb", ["bdb_admin", "security_officer", "auditor"])


def test_an_unknown_role_is_refused() -> None:
    with pytest.raises(InvalidArgument) as error:
        validate_roles("psb", ["catalog_officer", "root"])
    assert fields_of(error) == ["roles[1]"]


def test_bdb_admin_is_held_only_by_big_data_bureau_staff() -> None:
    with pytest.raises(InvalidArgument) as error:
        validate_roles("psb", ["bdb_admin"])
    assert fields_of(error) == ["roles[0]"]
    assert "Big Data Bureau" in error.value.violations[0].description


def test_a_role_listed_twice_is_refused() -> None:
    with pytest.raises(InvalidArgument) as error:
        validate_roles("hrss", ["catalog_officer", "catalog_officer"])
    assert fields_of(error) == ["roles"]


def test_roles_need_a_known_department_and_at_least_one_role() -> None:
    with pytest.raises(InvalidArgument) as error:
        validate_roles("nasa", [])
    assert fields_of(error) == ["department", "roles"]


# --- passwords and usernames -------------------------------------------------------------------


def test_a_password_of_the_minimum_length_is_accepted() -> None:
    assert password_violations("password", "x" * MIN_PASSWORD, username="psb.officer") == []
    assert password_violations("password", "x" * MAX_PASSWORD, username="psb.officer") == []


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("", "at least 10"),
        ("x" * (MIN_PASSWORD - 1), "at least 10"),
        ("x" * (MAX_PASSWORD + 1), "longer than 256"),
        ("psb.officer", "username"),
        ("PSB.Officer", "username"),
    ],
)
def test_a_password_breaking_a_rule_is_refused(password: str, rule: str) -> None:
    violations = password_violations("new_password", password, username="psb.officer")
    assert [v.field for v in violations] == ["new_password"]
    assert rule in violations[0].description


@pytest.mark.parametrize("username", ["abc", "psb.officer", "zhang_san-2", "0day", "a" * 64])
def test_a_well_formed_username_is_accepted(username: str) -> None:
    assert username_violations(username) == []


@pytest.mark.parametrize(
    "username",
    ["", "ab", "a" * 65, "Zhang", ".hidden", "-dash", "_under", "with space", "张三", "a@b.cn"],
)
def test_a_malformed_username_is_refused(username: str) -> None:
    assert [v.field for v in username_violations(username)] == ["username"]


def test_a_login_names_every_missing_or_malformed_field() -> None:
    validate_login("psb.officer", "secret-password", "office", "123456")
    validate_login("psb.officer", "secret-password", "public", "")
    with pytest.raises(InvalidArgument) as error:
        validate_login("", "", "admin", "12345a")
    assert fields_of(error) == ["username", "password", "audience", "totp_code"]


# --- masking -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("46010019900101123X", "4****************X"),
        ("abc", "a*c"),
        ("ab", "*"),
        ("a", "*"),
        ("", "*"),
    ],
)
def test_an_identity_number_is_masked_but_its_ends(number: str, masked: str) -> None:
    assert mask_identity_number(number) == masked


@given(st.text(min_size=3, max_size=40))
def test_a_masked_number_keeps_its_length_and_reveals_only_its_ends(number: str) -> None:
    masked = mask_identity_number(number)
    assert len(masked) == len(number)
    assert masked[0] == number[0] and masked[-1] == number[-1]
    assert set(masked[1:-1]) == {"*"}


# --- who may call what -------------------------------------------------------------------------


@pytest.mark.parametrize("service", config.SERVICES)
def test_every_rpc_of_every_service_declares_who_may_call_it(service: str) -> None:
    # given the RPCs the contract declares for the service (every service in the one list)
    definition = importlib.import_module(f"services.{service}.__main__").DEFINITION
    rpcs = set()
    for full_name in definition.grpc_services:
        descriptor = descriptor_pool.Default().FindServiceByName(full_name)
        rpcs |= {f"/{full_name}/{m.name}" for m in descriptor.methods}
    # then each has a policy (a method without one is denied), and no policy names an RPC
    # the contract does not have
    assert rpcs, service
    assert set(definition.policies) == rpcs
    assert all(isinstance(p, Policy) for p in definition.policies.values())


# --- the platform's own accounts, and the client-credentials names ----------------------------


@pytest.mark.parametrize("service", config.PLATFORM_CLIENTS)
def test_each_services_own_client_is_a_platform_account(service: str) -> None:
    account = Account(id="acc-s", username=service, kind=domain.SERVICE, department="bdb", roles=())
    assert domain.is_platform_account(account)
    with pytest.raises(domain.PlatformAccountProtected) as refused:
        domain.protect_platform_account(account, action="disabled")
    assert refused.value.reason == "PLATFORM_ACCOUNT"
    assert f"the {service} service signs in with it" in refused.value.message


def test_other_clients_and_people_are_not_platform_accounts() -> None:
    other = Account(id="acc-p", username="catalog", kind=domain.PARTNER, department="", roles=())
    extra = Account(id="acc-x", username="etl", kind=domain.SERVICE, department="bdb", roles=())
    for account in (other, extra, OFFICER, CITIZEN):
        assert not domain.is_platform_account(account)
        domain.protect_platform_account(account, action="disabled")


def test_a_partner_signs_in_with_username_and_password_or_client_id_and_secret() -> None:
    def credentials(**sent: str) -> domain.Credentials:
        values = {"username": "", "password": "", "client_id": "", "client_secret": ""}
        return domain.login_credentials(audience="partner", **{**values, **sent})

    plain = credentials(username="bank", password="s3cret-secret")
    assert (plain.username, plain.password, plain.fields) == (
        "bank",
        "s3cret-secret",
        ("username", "password"),
    )
    oauth = credentials(client_id="bank", client_secret="s3cret-secret")
    assert (oauth.username, oauth.password, oauth.fields) == (
        "bank",
        "s3cret-secret",
        ("client_id", "client_secret"),
    )
    with pytest.raises(InvalidArgument) as mixed:
        credentials(client_id="bank", password="s3cret-secret")
    assert fields_of(mixed) == ["password"]
    with pytest.raises(InvalidArgument) as missing:
        validate_login("bank", "", "partner", "", fields=oauth.fields)
    assert fields_of(missing) == ["client_secret"]


def test_people_sign_in_with_username_and_password_only() -> None:
    with pytest.raises(InvalidArgument) as refused:
        domain.login_credentials(
            username="", password="", client_id="zhang.san", client_secret="x", audience="public"
        )
    assert fields_of(refused) == ["client_id"]


def test_no_client_may_take_the_name_of_a_first_party_application() -> None:
    assert domain.client_id_violations("bank.icbc") == []
    for name in ("smartcity-portal", "smartcity-office"):
        refused = domain.client_id_violations(name)
        assert [v.field for v in refused] == ["client_id"]
        assert "platform's own applications" in refused[0].description

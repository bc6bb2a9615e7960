"""Rules of the keys service without I/O: policies, self-describing values, incident stages, and
the authorisation-code checker's cache, rate limit and use counts."""

from __future__ import annotations

import pytest
from google.rpc import error_details_pb2

from runtime.auth import Principal
from runtime.authcodes import AuthorisationCodeChecker, Verified
from runtime.errors import InvalidArgument, PermissionDenied, ResourceExhausted
from services.keys import domain, incidents
from services.keys.domain import Grant, KeyInfo, KeyPolicyDenied, key_call
from smartcity.keys.v1 import keys_pb2

SIGN = keys_pb2.KEY_OPERATION_SIGN
ISSUER = Principal(
    subject="a",
    audience="office",
    kind="staff",
    department="psb",
    roles=frozenset({"licence_issuer"}),
)
SERVICE = Principal(subject="s", audience="service", kind="service", client="licences")
# A department's own system: a service client holding the licence_issuer role.
PSB_SYSTEM = Principal(
    subject="p",
    audience="service",
    kind="service",
    department="psb",
    roles=frozenset({"licence_issuer"}),
    client="psb-system",
)


def key(*grants: Grant, services: frozenset[str] = frozenset()) -> KeyInfo:
    return KeyInfo(
        name="psb.licence-signing",
        purpose="sign",
        algorithm="sm2",
        latest_version=1,
        min_decryption_version=1,
        rotation_period_days=0,
        state="enabled",
        owner_department="bdb",
        grants=grants,
        services=services,
    )


def test_a_grant_admits_callers_matching_every_selector_it_sets() -> None:
    staff_grant = Grant(
        departments=frozenset({"psb"}),
        roles=frozenset({"licence_issuer"}),
        operations=frozenset({SIGN}),
    )
    service_grant = Grant(services=frozenset({"licences"}), operations=frozenset({SIGN}))
    domain.authorise(key(staff_grant, service_grant), key_call(ISSUER), SIGN)
    domain.authorise(key(staff_grant, service_grant), key_call(SERVICE), SIGN)
    other = Principal(
        subject="b",
        audience="office",
        kind="staff",
        department="hrss",
        roles=frozenset({"licence_issuer"}),
    )
    with pytest.raises(PermissionDenied):
        domain.authorise(key(staff_grant), key_call(other), SIGN)
    with pytest.raises(PermissionDenied):
        domain.authorise(key(staff_grant), key_call(ISSUER), keys_pb2.KEY_OPERATION_VERIFY)
    with pytest.raises(InvalidArgument):  # a sign key never encrypts, whatever the policy says
        domain.authorise(key(staff_grant), key_call(ISSUER), keys_pb2.KEY_OPERATION_ENCRYPT)


# The demo's licence-signing key: through the licences service, for a psb licence issuer.
THROUGH_LICENCES = Grant(
    services=frozenset({"licences"}),
    departments=frozenset({"psb"}),
    roles=frozenset({"licence_issuer"}),
    operations=frozenset({SIGN}),
)
LICENCE_KEY = key(THROUGH_LICENCES, services=frozenset({"licences"}))


def refusal(call: domain.KeyCall, operation: int = SIGN) -> str:
    with pytest.raises(KeyPolicyDenied) as caught:
        domain.authorise(LICENCE_KEY, call, operation)
    assert caught.value.key == "psb.licence-signing"
    assert caught.value.rule in caught.value.message
    return caught.value.rule


def test_a_licence_key_signs_only_when_the_licences_service_acts_for_an_issuer() -> None:
    domain.authorise(LICENCE_KEY, key_call(SERVICE, ISSUER), SIGN)
    domain.authorise(LICENCE_KEY, key_call(SERVICE, PSB_SYSTEM), SIGN)
    # the issuer alone, or a department's system alone, is not the licences service
    assert refusal(key_call(ISSUER)) == domain.RULE_SERVICES
    assert refusal(key_call(PSB_SYSTEM)) == domain.RULE_SERVICES
    # the licences service acting for itself, or for staff who issue no licences of psb
    assert refusal(key_call(SERVICE)) == domain.RULE_GRANTS
    hrss_issuer = Principal(
        subject="h",
        audience="office",
        kind="staff",
        department="hrss",
        roles=frozenset({"licence_issuer"}),
    )
    assert refusal(key_call(SERVICE, hrss_issuer)) == domain.RULE_GRANTS
    # the grant names sign only
    assert refusal(key_call(SERVICE, ISSUER), keys_pb2.KEY_OPERATION_VERIFY) == domain.RULE_GRANTS


def test_only_a_service_may_act_for_another_subject() -> None:
    call = key_call(ISSUER, SERVICE)  # a person naming the licences service as its subject
    assert call.actor == ISSUER and call.service == ""
    assert refusal(call) == domain.RULE_SUBJECT_TOKEN
    # a partner's client id is no service's
    partner = Principal(subject="x", audience="partner", kind="partner", client="licences")
    assert key_call(partner).service == ""


def test_the_refusal_names_the_key_and_the_rule_in_its_details() -> None:
    with pytest.raises(KeyPolicyDenied) as caught:
        domain.authorise(LICENCE_KEY, key_call(ISSUER), SIGN)
    [packed] = caught.value.details()
    info = error_details_pb2.ErrorInfo()
    assert packed.Unpack(info)
    assert info.reason == "KEY_POLICY_DENIED"
    assert dict(info.metadata) == {"key": "psb.licence-signing", "rule": "policy.services"}


def test_a_policy_names_services_that_are_client_ids_and_grants_within_them() -> None:
    policy = keys_pb2.KeyPolicy(
        services=["licences", "Not A Client"],
        grants=[
            keys_pb2.KeyGrant(services=["exchange"], operations=[SIGN]),
            keys_pb2.KeyGrant(services=["licences"], roles=["licence_issuer"], operations=[SIGN]),
        ],
    )
    with pytest.raises(InvalidArgument) as caught:
        domain.policy_from(policy, purpose="sign", path="key.policy")
    assert [v.field for v in caught.value.violations] == [
        "key.policy.services[1]",
        "key.policy.grants[0].services[0]",
    ]
    del policy.services[1]
    del policy.grants[0]
    parsed = domain.policy_from(policy, purpose="sign", path="key.policy")
    assert parsed.services == {"licences"} and len(parsed.grants) == 1


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("vault:v1:abc", "not a value produced"),
        ("sc:other-key:v1:AAAA", "another key"),
        ("sc:k1:vx:AAAA", "not a value produced"),
        ("sc:k1:v0:AAAA", "no version"),
        ("sc:k1:v1:***", "not a value produced"),
    ],
)
def test_a_value_from_elsewhere_is_refused_naming_why(value: str, problem: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        domain.unwrap(value, name="k1", field_name="ciphertext")
    assert caught.value.violations[0].field == "ciphertext"
    assert problem in caught.value.violations[0].description


def test_wrapped_values_round_trip_and_bind_key_and_version_into_associated_data() -> None:
    assert domain.unwrap(domain.wrap("k1", 7, b"\x00\xff"), name="k1", field_name="c") == (
        7,
        b"\x00\xff",
    )
    assert domain.associated_data("k1", 1, b"x") != domain.associated_data("k1", 2, b"x")


def test_incident_stages_cannot_be_skipped() -> None:
    high, low = keys_pb2.INCIDENT_SEVERITY_HIGH, keys_pb2.INCIDENT_SEVERITY_LOW
    nxt = incidents.next_stages
    assert nxt(incidents.REPORTED, severity=low, affects_people=False) == {incidents.CONTAINED}
    assert nxt(incidents.CONTAINED, severity=low, affects_people=False) == {
        incidents.AUTHORITY,
        incidents.CLOSED,
    }
    assert nxt(incidents.CONTAINED, severity=low, affects_people=True) == {incidents.NOTIFIED}
    assert nxt(incidents.NOTIFIED, severity=high, affects_people=True) == {incidents.AUTHORITY}
    assert nxt(incidents.AUTHORITY, severity=high, affects_people=True) == {incidents.CLOSED}
    assert nxt(incidents.CLOSED, severity=low, affects_people=False) == set()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_the_checker_serves_from_cache_limits_the_rate_counts_uses_and_forgets_revoked() -> (
    None
):
    calls: list[str] = []

    async def verify(secret: str, service: str, principal: Principal) -> Verified:
        calls.append(secret)
        return Verified("c1", rate_limit_per_minute=2, expires_at=4_000_000_000)

    clock = Clock()
    checker = AuthorisationCodeChecker(verify, clock=clock)
    assert await checker.check("iac.x", "svc", ISSUER) == "c1"
    assert await checker.check("iac.x", "svc", ISSUER) == "c1"
    assert calls == ["iac.x"]
    with pytest.raises(ResourceExhausted) as limited:
        await checker.check("iac.x", "svc", ISSUER)
    assert limited.value.retry_after == 31  # 2 a minute: one token every 30 s
    clock.now += 30
    assert await checker.check("iac.x", "svc", ISSUER) == "c1"
    # another consumer is a separate cache entry, verified again by the keys service; the rate
    # is the code's, whoever presents it
    clock.now += 30
    await checker.check("iac.x", "svc", SERVICE)
    assert len(calls) == 2
    # uses from the cache are reported once; a failed report keeps them for the next
    reported: list[dict[str, int]] = []

    async def failing(uses: dict[str, int]) -> None:
        raise ConnectionError("keys unreachable")

    async def report(uses: dict[str, int]) -> None:
        reported.append(uses)

    with pytest.raises(ConnectionError):
        await checker.report_uses(failing)
    assert await checker.report_uses(report) == 3
    assert reported == [{"c1": 3}]
    assert await checker.report_uses(report) == 0
    # a revocation drops every cached answer for the code
    checker.revoke("c1")
    clock.now += 60
    await checker.check("iac.x", "svc", ISSUER)
    assert len(calls) == 3

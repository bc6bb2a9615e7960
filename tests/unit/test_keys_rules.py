"""Rules of the keys service without I/O: policies, self-describing values, incident stages, and
the authorisation-code checker's cache, rate limit and use counts."""

from __future__ import annotations

import pytest

from runtime.auth import Principal
from runtime.authcodes import AuthorisationCodeChecker, Verified
from runtime.errors import InvalidArgument, PermissionDenied, ResourceExhausted
from services.keys import domain, incidents
from services.keys.domain import Grant, KeyInfo
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


def key(*grants: Grant) -> KeyInfo:
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
    )


def test_a_grant_admits_callers_matching_every_selector_it_sets() -> None:
    staff_grant = Grant(
        departments=frozenset({"psb"}),
        roles=frozenset({"licence_issuer"}),
        operations=frozenset({SIGN}),
    )
    service_grant = Grant(services=frozenset({"licences"}), operations=frozenset({SIGN}))
    domain.authorise(key(staff_grant, service_grant), ISSUER, SIGN)
    domain.authorise(key(staff_grant, service_grant), SERVICE, SIGN)
    other = Principal(
        subject="b",
        audience="office",
        kind="staff",
        department="hrss",
        roles=frozenset({"licence_issuer"}),
    )
    with pytest.raises(PermissionDenied):
        domain.authorise(key(staff_grant), other, SIGN)
    with pytest.raises(PermissionDenied):
        domain.authorise(key(staff_grant), ISSUER, keys_pb2.KEY_OPERATION_VERIFY)
    with pytest.raises(InvalidArgument):  # a sign key never encrypts, whatever the policy says
        domain.authorise(key(staff_grant), ISSUER, keys_pb2.KEY_OPERATION_ENCRYPT)


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

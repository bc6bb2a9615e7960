"""The licences service's rules: who holds and issues, the status life cycle, presentation
lifetimes and claims, and use-grant windows."""

from __future__ import annotations

from datetime import date

import pytest

from runtime.auth import Principal
from runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, PermissionDenied
from services.licences import domain, types
from services.licences.types import Validity

HOUR_US = 3_600_000_000
NOW = 1_800_000_000_000_000


def person(kind: str, **extra: object) -> Principal:
    return Principal(subject="s1", audience="public", kind=kind, **extra)  # type: ignore[arg-type]


def staff(department: str, *roles: str) -> Principal:
    return Principal(
        subject="o1", audience="office", kind="staff", department=department, roles=frozenset(roles)
    )


def test_a_citizen_holds_their_own_and_an_agent_also_their_enterprises() -> None:
    assert domain.holders_of(person("citizen")) == ("citizen:s1",)
    agent = person("enterprise_agent", enterprise="e1")
    assert domain.holders_of(agent) == ("citizen:s1", "enterprise:e1")
    assert domain.holders_of(staff("psb", domain.ROLE_LICENCE_ISSUER)) == ()


@pytest.mark.parametrize(
    ("licence_type", "department", "allowed"),
    [
        ("driving_licence", "psb", True),
        ("id_card", "psb", True),
        ("social_security_card", "hrss", True),
        ("business_licence", "msa", True),
        ("driving_licence", "hrss", False),
        ("business_licence", "psb", False),
    ],
)
def test_only_the_types_department_issues_it(
    licence_type: str, department: str, allowed: bool
) -> None:
    issuer = staff(department, domain.ROLE_LICENCE_ISSUER)
    if allowed:
        domain.require_issuer(issuer, types.TYPES[licence_type])
    else:
        with pytest.raises(PermissionDenied):
            domain.require_issuer(issuer, types.TYPES[licence_type])


def test_staff_without_the_issuer_role_issue_nothing() -> None:
    with pytest.raises(PermissionDenied, match="licence_issuer"):
        domain.require_issuer(staff("psb", "catalog_officer"), types.TYPES["id_card"])


@pytest.mark.parametrize(
    ("action", "status", "target"),
    [
        ("suspend", "valid", "suspended"),
        ("resume", "suspended", "valid"),
        ("revoke", "valid", "revoked"),
        ("revoke", "suspended", "revoked"),
        ("renew", "valid", "superseded"),
        ("renew", "suspended", "superseded"),
    ],
)
def test_status_moves_as_the_life_cycle_allows(action: str, status: str, target: str) -> None:
    assert domain.transition(action, status) == target


@pytest.mark.parametrize(
    ("action", "status"),
    [
        ("suspend", "suspended"),
        ("resume", "valid"),
        ("revoke", "revoked"),
        ("renew", "revoked"),
        ("renew", "superseded"),
        ("resume", "revoked"),
    ],
)
def test_a_revoked_or_superseded_licence_stays_so(action: str, status: str) -> None:
    with pytest.raises(FailedPrecondition, match=status):
        domain.transition(action, status)


def test_a_valid_licence_past_its_last_day_is_expired() -> None:
    assert domain.effective_status("valid", "2026-01-31", on=date(2026, 1, 31)) == "valid"
    assert domain.effective_status("valid", "2026-01-31", on=date(2026, 2, 1)) == "expired"
    assert domain.effective_status("valid", None, on=date(2099, 1, 1)) == "valid"
    assert domain.effective_status("revoked", "2020-01-01", on=date(2026, 1, 1)) == "revoked"


def test_an_already_expired_licence_is_not_issued() -> None:
    with pytest.raises(InvalidArgument):
        domain.require_unexpired(Validity(date(2010, 1, 1), date(2020, 1, 1)), on=date(2026, 1, 1))
    domain.require_unexpired(Validity(date(2010, 1, 1), None), on=date(2026, 1, 1))


def test_suspending_and_revoking_need_a_reason_of_bounded_length() -> None:
    with pytest.raises(InvalidArgument):
        domain.reason("  ", required=True)
    with pytest.raises(InvalidArgument):
        domain.reason("x" * 501, required=False)
    assert domain.reason(" lost ", required=True) == "lost"


def test_presentations_live_thirty_seconds_to_five_minutes() -> None:
    assert domain.presentation_ttl(0) == domain.DEFAULT_PRESENTATION_TTL
    assert domain.presentation_ttl(30) == 30 and domain.presentation_ttl(300) == 300
    for ttl in (29, 301, -1):
        with pytest.raises(InvalidArgument):
            domain.presentation_ttl(ttl)


def test_chosen_claims_are_the_licences_own_each_once() -> None:
    available = ["name", "id_number", "age_over_18"]
    assert domain.chosen_claims(["age_over_18", "name", "name"], available, field="d") == [
        "age_over_18",
        "name",
    ]
    with pytest.raises(InvalidArgument) as refused:
        domain.chosen_claims(["salary"], available, field="disclose")
    assert refused.value.violations[0].rule == "unknown-claim"


def test_claims_travel_as_text() -> None:
    assert domain.claim_text(True) == "true" and domain.claim_text(False) == "false"
    assert domain.claim_text("C1") == "C1"


def window(**changes: object) -> domain.GrantWindow:
    values: dict[str, object] = {
        "grantee": "department:psb",
        "purpose": "开户",
        "not_before_us": 0,
        "not_after_us": NOW + HOUR_US,
        "now_us": NOW,
        **changes,
    }
    return domain.check_grant(**values)  # type: ignore[arg-type]


def test_a_grant_opens_now_unless_told_otherwise() -> None:
    assert window() == domain.GrantWindow(NOW, NOW + HOUR_US)
    later = window(not_before_us=NOW + HOUR_US, not_after_us=NOW + 2 * HOUR_US)
    assert later.not_before_us == NOW + HOUR_US


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"grantee": "psb"}, "grantee-shape"),
        ({"grantee": "department:xyz"}, "grantee-known"),
        ({"purpose": " "}, "purpose-required"),
        ({"not_after_us": NOW - 1}, "window-order"),
        ({"not_after_us": NOW + 91 * 24 * HOUR_US}, "window-length"),
    ],
)
def test_a_grant_names_a_party_a_purpose_and_a_bounded_window(
    changes: dict[str, object], rule: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        window(**changes)
    assert refused.value.violations[0].rule == rule


def test_a_grant_is_pending_active_expired_or_withdrawn() -> None:
    span = {"not_before_us": NOW, "not_after_us": NOW + HOUR_US}
    assert domain.grant_state(**span, withdrawn=False, now_us=NOW - 1) == "pending"
    assert domain.grant_state(**span, withdrawn=False, now_us=NOW) == "active"
    assert domain.grant_state(**span, withdrawn=False, now_us=NOW + HOUR_US) == "expired"
    assert domain.grant_state(**span, withdrawn=True, now_us=NOW) == "withdrawn"


def test_the_holders_log_names_parties_never_people() -> None:
    assert domain.party_of(None) == "anonymous"
    assert domain.party_of(staff("msa")) == "department:msa"
    partner = Principal(subject="p", audience="partner", kind="partner", client="bank")
    assert domain.party_of(partner) == "partner:bank"
    assert domain.party_of(person("citizen")) == "citizen"
    # but the first-verifier record tells two verifiers of the same party apart
    assert domain.verifier_of(staff("msa")) != domain.verifier_of(
        Principal(subject="o2", audience="office", kind="staff", department="msa")
    )


def test_a_grant_without_an_end_lasts_thirty_days_from_its_start() -> None:
    assert window(not_after_us=0) == domain.GrantWindow(NOW, NOW + 30 * 24 * HOUR_US)
    later = window(not_before_us=NOW + HOUR_US, not_after_us=0)
    assert later.not_after_us - later.not_before_us == domain.DEFAULT_GRANT_DAYS * 24 * HOUR_US


# --- one licence per holder ----------------------------------------------------------------


def test_the_types_the_law_allows_once_are_keyed_by_holder_or_vehicle() -> None:
    holder = "citizen:a1"
    assert domain.sole_key(types.ID_CARD, holder=holder) == "id_card:citizen:a1"
    assert domain.sole_key(types.DRIVING_LICENCE, holder=holder) == "driving_licence:citizen:a1"
    assert (
        domain.sole_key(types.BUSINESS_LICENCE, holder="enterprise:e1")
        == "business_licence:enterprise:e1"
    )
    # a vehicle licence is one per vehicle, whoever owns it
    assert domain.sole_key(types.VEHICLE_LICENCE, holder=holder, vin_digest="d") == (
        domain.sole_key(types.VEHICLE_LICENCE, holder="citizen:b2", vin_digest="d")
    )
    assert domain.sole_key(types.SOCIAL_SECURITY_CARD, holder=holder) is None


def test_a_new_id_card_supersedes_the_held_one_with_the_reason_given() -> None:
    assert (
        domain.second_issuance(types.ID_CARD, held_id="X", held_status="valid", why=" 补领 ")
        == "补领"
    )
    assert (
        domain.second_issuance(types.ID_CARD, held_id="X", held_status="suspended", why="")
        == domain.NEW_CARD_REASON
    )


@pytest.mark.parametrize(
    "licence_type", [types.DRIVING_LICENCE, types.VEHICLE_LICENCE, types.BUSINESS_LICENCE]
)
def test_a_second_licence_the_law_allows_once_names_the_one_that_holds(
    licence_type: types.LicenceType,
) -> None:
    with pytest.raises(AlreadyExists) as caught:
        domain.second_issuance(licence_type, held_id="L-HELD", held_status="valid", why="")
    assert "L-HELD" in caught.value.message
    # an expired licence holds nothing: the new one supersedes it
    assert (
        domain.second_issuance(licence_type, held_id="L-HELD", held_status="expired", why="")
        == domain.EXPIRED_REASON
    )


def test_no_two_anonymous_verifications_are_the_same_verifier() -> None:
    # an anonymous verifier cannot show it came first: a second one is a replay
    assert domain.verifier_of(None) != domain.verifier_of(None)
    assert domain.verifier_of(None).startswith("anonymous:")
    assert domain.verifier_of(staff("msa")) == domain.verifier_of(staff("msa"))


def test_a_grant_opens_within_a_year_so_its_window_stays_a_real_time() -> None:
    # A citizen's grant that opened in 9999 ended in the year 10000, past what a timestamp can
    # say: every list showing it (the grantee department's too) failed as a 500 (T25).
    year_9999 = 253_370_764_800_000_000  # 9999-01-01T00:00:00Z
    with pytest.raises(InvalidArgument) as refused:
        window(not_before_us=year_9999, not_after_us=0)
    assert refused.value.violations[0].field == "not_before"
    assert refused.value.violations[0].rule == "window-start"
    lead = domain.MAX_GRANT_LEAD_DAYS * 24 * HOUR_US
    assert window(not_before_us=NOW + lead, not_after_us=0).not_before_us == NOW + lead

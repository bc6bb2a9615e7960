"""Licence rules: who holds and issues what, the status life cycle, presentations and use grants.
Pure functions and values, no I/O. The licence types themselves are in `types`, the signed
formats in `credential`."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from runtime import constraints
from runtime.auth import CITIZEN, ENTERPRISE_AGENT, PARTNER, SERVICE, STAFF, Principal
from runtime.departments import DEPARTMENTS
from runtime.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    PermissionDenied,
)
from runtime.roles import ROLE_LICENCE_ISSUER as ROLE_LICENCE_ISSUER
from services.licences import credential, types
from services.licences.types import LicenceType, Validity
from smartcity.licences.v1 import licences_pb2 as pb

# The platform's own SM2 key: presentation bindings and the status list.
PLATFORM_KEY = "licences.platform-signing"
CHINA = timezone(timedelta(hours=8))

VALID, SUSPENDED, REVOKED, SUPERSEDED = "valid", "suspended", "revoked", "superseded"
EXPIRED = "expired"  # not stored: a valid licence past its last day
STATUS_CODES = {  # in the status list
    VALID: credential.VALID,
    REVOKED: credential.REVOKED,
    SUSPENDED: credential.SUSPENDED,
    SUPERSEDED: credential.SUPERSEDED,
}

MAX_REASON = 500
MAX_PURPOSE = 500
# declared once, in proto (buf.validate): the gRPC server path checks it before this module
_TTL = constraints.declared(pb.CreatePresentationRequest, "ttl_seconds")
PRESENTATION_TTL: tuple[int, int] = (_TTL.gte, _TTL.lte)
DEFAULT_PRESENTATION_TTL = 120
MAX_GRANT_DAYS = 90
# A grant sent without not_after lasts this long from not_before.
DEFAULT_GRANT_DAYS = 30
# A grant opens at most this long from now: its window stays a time every list can show (one
# opening in 9999 would end past the year 9999, which no timestamp holds).
MAX_GRANT_LEAD_DAYS = 366
_GRANTEE = re.compile(r"(department:[a-z]{2,20}|partner:[a-z0-9][a-z0-9._-]{1,63})")


def licence_key(department: str) -> str:
    """The keys service's name of a department's licence-signing key."""
    return f"{department}.licence-signing"


def today() -> date:
    """Licence validity is counted in days in China Standard Time."""
    return datetime.now(CHINA).date()


def issuer_code(department: str) -> str:
    return DEPARTMENTS[department].credit_code


# --- who ----------------------------------------------------------------------------------------


def holder(kind: str, ident: str) -> str:
    """The holder column: "citizen:<account id>" or "enterprise:<enterprise id>"."""
    return f"{kind}:{ident}"


def holders_of(principal: Principal) -> tuple[str, ...]:
    """Whose licences the caller holds: their own, and an agent's enterprise's."""
    if principal.kind == CITIZEN:
        return (holder(types.CITIZEN, principal.subject),)
    if principal.kind == ENTERPRISE_AGENT:
        own = holder(types.CITIZEN, principal.subject)
        if principal.enterprise:
            return (own, holder(types.ENTERPRISE, principal.enterprise))
        return (own,)
    return ()


def require_issuer(principal: Principal, licence_type: LicenceType) -> None:
    """Only the type's own department issues it: its licence issuers, or its own system (a
    service client of the department holding the role)."""
    if principal.kind not in (STAFF, SERVICE) or not principal.has_role(ROLE_LICENCE_ISSUER):
        raise PermissionDenied("issuing licences needs the licence_issuer role")
    if principal.department != licence_type.department:
        raise PermissionDenied(
            f"the {licence_type.english} is issued by {licence_type.department}, "
            f"not {principal.department}"
        )


def party_of(principal: Principal | None) -> str:
    """The caller as a holder's log names them: a department or partner, never a person."""
    if principal is None:
        return "anonymous"
    if principal.kind in (STAFF, SERVICE):
        return f"department:{principal.department}"
    if principal.kind == PARTNER:
        return f"partner:{principal.client}"
    if principal.kind == ENTERPRISE_AGENT:
        return "enterprise"
    return principal.kind


def verifier_of(principal: Principal | None) -> str:
    """Who verified, precisely enough to tell a second verifier from the first.

    An anonymous verifier cannot show that it is the one who checked first: each anonymous
    verification is a verifier of its own, so that a presentation shown again to anyone (a
    copied QR code at a public verifier's page) answers `replayed`.
    """
    if principal is None:
        return f"anonymous:{uuid.uuid4()}"
    return f"{party_of(principal)}:{principal.subject}"


def grantee_of(principal: Principal) -> str:
    if principal.kind == STAFF:
        return f"department:{principal.department}"
    if principal.kind == PARTNER:
        return f"partner:{principal.client}"
    raise PermissionDenied("only departments and partners receive use grants")


# --- one licence per holder ----------------------------------------------------------------------

# What the law allows one of at a time: one valid resident identity card per person (居民身份证法),
# one driving licence per person (机动车驾驶证申领和使用规定), one vehicle licence per vehicle
# (机动车登记规定: keyed by the VIN), one business licence per enterprise (市场主体登记管理条例).
ONE_PER_HOLDER = frozenset({"id_card", "driving_licence", "business_licence"})
ONE_PER_VEHICLE = frozenset({"vehicle_licence"})
# A new resident identity card (换领, 补领) replaces the old one, which is then void.
SUPERSEDED_BY_A_NEW_ONE = frozenset({"id_card"})
NEW_CARD_REASON = "a new resident identity card was issued"
EXPIRED_REASON = "the licence had expired: a new licence was issued"


def sole_key(licence_type: LicenceType, *, holder: str, vin_digest: str = "") -> str | None:
    """The key of which at most one licence holds (valid or suspended); None: no such rule."""
    if licence_type.key in ONE_PER_HOLDER:
        return f"{licence_type.key}:{holder}"
    if licence_type.key in ONE_PER_VEHICLE:
        return f"{licence_type.key}:vin:{vin_digest}"
    return None


def second_issuance(licence_type: LicenceType, *, held_id: str, held_status: str, why: str) -> str:
    """A licence is issued while `held_id` holds its place: the reason the held one is then
    superseded, or `AlreadyExists` naming it when the law allows only one."""
    if held_status == EXPIRED:
        return EXPIRED_REASON
    if licence_type.key in SUPERSEDED_BY_A_NEW_ONE:
        return reason(why, required=False) or NEW_CARD_REASON
    per = "vehicle" if licence_type.key in ONE_PER_VEHICLE else "holder"
    raise AlreadyExists(
        f"licence {held_id} holds: one {held_status} {licence_type.english} per {per} at a "
        "time; renew that licence, or revoke it before issuing another"
    )


# --- status --------------------------------------------------------------------------------------


def effective_status(status: str, valid_until: str | None, *, on: date) -> str:
    if status == VALID and valid_until is not None and date.fromisoformat(valid_until) < on:
        return EXPIRED
    return status


def require_unexpired(validity: Validity, *, on: date) -> None:
    """A licence is issued to be used: one already past its last day is refused."""
    if validity.valid_until is not None and validity.valid_until < on:
        raise InvalidArgument(
            [FieldViolation("fields.valid_until", "is in the past", "not-already-expired")]
        )


# (action, from statuses, to status)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "suspend": ((VALID,), SUSPENDED),
    "resume": ((SUSPENDED,), VALID),
    "revoke": ((VALID, SUSPENDED), REVOKED),
    "renew": ((VALID, SUSPENDED), SUPERSEDED),
}


def transition(action: str, status: str) -> str:
    allowed, target = TRANSITIONS[action]
    if status not in allowed:
        raise FailedPrecondition(f"a {status} licence cannot be {_past(action)}")
    return target


def _past(action: str) -> str:
    return {"suspend": "suspended", "resume": "resumed", "revoke": "revoked"}.get(action, "renewed")


def reason(value: str, *, required: bool) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidArgument([FieldViolation("reason", "is required", "reason-required")])
    if len(value) > MAX_REASON:
        raise InvalidArgument.of("reason", f"is longer than {MAX_REASON} characters")
    return value


# --- presentations -------------------------------------------------------------------------------


def claim_names(licence_type: LicenceType, fields: Iterable[str]) -> list[str]:
    return [*fields, *licence_type.derived]


def chosen_claims(requested: Sequence[str], available: Sequence[str], *, field: str) -> list[str]:
    """The claims asked for, each once and each one the licence has."""
    unknown = sorted(set(requested) - set(available))
    if unknown:
        raise InvalidArgument(
            [
                FieldViolation(field, f"the licence has no claim {name!r:.60}", "unknown-claim")
                for name in unknown[:10]
            ]
        )
    return list(dict.fromkeys(requested))


def presentation_ttl(requested: int) -> int:
    if requested == 0:
        return DEFAULT_PRESENTATION_TTL
    low, high = PRESENTATION_TTL
    if not low <= requested <= high:
        raise InvalidArgument.of("ttl_seconds", f"must be {low} to {high} seconds")
    return requested


def claim_text(value: object) -> str:
    """Claims travel as text: booleans as "true"/"false"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- use grants ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GrantWindow:
    not_before_us: int
    not_after_us: int


def check_grant(
    *, grantee: str, purpose: str, not_before_us: int, not_after_us: int, now_us: int
) -> GrantWindow:
    violations: list[FieldViolation] = []
    if not _GRANTEE.fullmatch(grantee):
        violations.append(
            FieldViolation(
                "grantee", 'must be "department:<code>" or "partner:<client id>"', "grantee-shape"
            )
        )
    elif grantee.startswith("department:") and grantee.split(":", 1)[1] not in DEPARTMENTS:
        violations.append(FieldViolation("grantee", "names no known department", "grantee-known"))
    if not purpose.strip():
        violations.append(FieldViolation("purpose", "is required", "purpose-required"))
    elif len(purpose) > MAX_PURPOSE:
        violations.append(FieldViolation("purpose", f"is longer than {MAX_PURPOSE} characters"))
    start = not_before_us or now_us
    if start - now_us > MAX_GRANT_LEAD_DAYS * 86_400_000_000:
        violations.append(
            FieldViolation(
                "not_before", f"is more than {MAX_GRANT_LEAD_DAYS} days from now", "window-start"
            )
        )
        raise InvalidArgument(violations)
    not_after_us = not_after_us or start + DEFAULT_GRANT_DAYS * 86_400_000_000
    if not_after_us <= max(start, now_us):
        violations.append(
            FieldViolation("not_after", "must be after not_before and now", "window-order")
        )
    elif not_after_us - start > MAX_GRANT_DAYS * 86_400_000_000:
        violations.append(
            FieldViolation(
                "not_after", f"is more than {MAX_GRANT_DAYS} days after not_before", "window-length"
            )
        )
    if violations:
        raise InvalidArgument(violations)
    return GrantWindow(start, not_after_us)


def grant_state(*, not_before_us: int, not_after_us: int, withdrawn: bool, now_us: int) -> str:
    if withdrawn:
        return "withdrawn"
    if now_us < not_before_us:
        return "pending"
    if now_us >= not_after_us:
        return "expired"
    return "active"

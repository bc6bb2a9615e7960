"""Identity rules: account kinds, departments and roles, what each entry point accepts, lockout,
sessions and the claims of an access token. Pure: no I/O."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from runtime import auth, config, demo, departments
from runtime.errors import FailedPrecondition, FieldViolation, InvalidArgument
from runtime.roles import ROLE_AUDITOR as ROLE_AUDITOR
from runtime.roles import ROLE_BDB_ADMIN as ROLE_BDB_ADMIN
from runtime.roles import ROLE_CATALOG_OFFICER as ROLE_CATALOG_OFFICER
from runtime.roles import ROLE_LICENCE_ISSUER as ROLE_LICENCE_ISSUER
from runtime.roles import ROLE_SECURITY_OFFICER as ROLE_SECURITY_OFFICER
from runtime.roles import ROLE_SHARE_APPROVER as ROLE_SHARE_APPROVER
from runtime.roles import ROLES as ROLES

# Departments (委办局) known to the platform, by code.
DEPARTMENTS: dict[str, str] = {d.code: d.name for d in departments.DEPARTMENTS.values()}

# Roles that only the Big Data Bureau's own staff may hold.
BDB_ONLY_ROLES = frozenset({ROLE_BDB_ADMIN})

# Account kinds, as stored; tokens carry the subject type (a citizen may act as an agent).
CITIZEN = auth.CITIZEN
STAFF = auth.STAFF
PARTNER = auth.PARTNER
SERVICE = auth.SERVICE
KINDS = (CITIZEN, STAFF, PARTNER, SERVICE)

# The one entry point at which each kind of account signs in (Art. 10: staff at the unified
# office platform, citizens and enterprises at the unified public service platform).
AUDIENCE_OF_KIND = {CITIZEN: "public", STAFF: "office", PARTNER: "partner", SERVICE: "service"}
LOGIN_AUDIENCES = ("public", "office", "partner", "service")

ACTIVE = "active"
DISABLED = "disabled"

# The platform's own processes sign in as service clients named after themselves
# (runtime.config.PLATFORM_CLIENTS): without them the platform stops, so they are protected.
PLATFORM_CLIENTS = frozenset(config.PLATFORM_CLIENTS)

ACCESS_TOKEN_TTL_SECONDS = 300  # short: ending a session takes effect within this time
SESSION_TTL_SECONDS = 12 * 3600  # however often refreshed
# Lockout: after this many failures in a row, each further failure locks for twice as long.
LOCK_AFTER_FAILURES = 5
FIRST_LOCK_SECONDS = 30
MAX_LOCK_SECONDS = 3600

MAX_USERNAME = 64
MIN_PASSWORD = 10
MAX_PASSWORD = 256
MAX_NAME = 100
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
_PHONE = re.compile(r"^\+?[0-9 -]{5,20}$")
TOTP_ISSUER = "Haikou Smart City"


@dataclass(frozen=True)
class Account:
    id: str
    username: str
    kind: str
    department: str
    roles: tuple[str, ...]
    state: str = ACTIVE
    totp_enrolled: bool = False
    failed_logins: int = 0
    locked_until_us: int | None = None
    created_us: int = 0


@dataclass(frozen=True)
class Profile:
    """Personal data: sealed at rest, shown only to the account itself."""

    display_name: str = ""
    phone: str = ""


@dataclass(frozen=True)
class Subject:
    """Who a session speaks for: the account, and the enterprise when acting as its agent."""

    account: Account
    enterprise_id: str = ""
    # Staff who have not enrolled TOTP yet get a token that only allows enrolment.
    second_factor_pending: bool = False

    @property
    def subject_type(self) -> str:
        return auth.ENTERPRISE_AGENT if self.enterprise_id else self.account.kind


@dataclass(frozen=True)
class DemoAccount:
    username: str
    kind: str
    department: str = ""
    roles: tuple[str, ...] = field(default=())


# Demo mode only: staff of each department, a citizen, an enterprise agent and a partner.
DEMO_STAFF: tuple[DemoAccount, ...] = (
    DemoAccount(
        "bdb.admin",
        STAFF,
        "bdb",
        (ROLE_BDB_ADMIN, ROLE_CATALOG_OFFICER, ROLE_SECURITY_OFFICER),
    ),
    DemoAccount("bdb.auditor", STAFF, "bdb", (ROLE_AUDITOR,)),
    DemoAccount(
        "psb.officer",
        STAFF,
        "psb",
        (ROLE_CATALOG_OFFICER, ROLE_SHARE_APPROVER, ROLE_LICENCE_ISSUER),
    ),
    DemoAccount(
        "hrss.officer",
        STAFF,
        "hrss",
        (ROLE_CATALOG_OFFICER, ROLE_SHARE_APPROVER, ROLE_LICENCE_ISSUER),
    ),
    DemoAccount(
        "msa.officer",
        STAFF,
        "msa",
        (ROLE_CATALOG_OFFICER, ROLE_SHARE_APPROVER, ROLE_LICENCE_ISSUER),
    ),
)
# Demo mode only: each issuing department's own licensing system, a service client holding the
# licence_issuer role (CLIENT_ROLES); the licences demo issues the demo licences as these.
DEMO_LICENSING_SYSTEMS: tuple[DemoAccount, ...] = tuple(
    DemoAccount(demo.licensing_system(department), SERVICE, department, (ROLE_LICENCE_ISSUER,))
    for department in demo.LICENSING_DEPARTMENTS
)
DEMO_CITIZEN = DemoAccount("demo.citizen", CITIZEN)
DEMO_AGENT = DemoAccount("demo.enterprise", CITIZEN)
DEMO_PARTNER = DemoAccount("demo.partner", PARTNER, "bdb")


def _required_text(violations: list[FieldViolation], name: str, value: str, *, limit: int) -> None:
    if not value:
        violations.append(FieldViolation(name, "is required"))
    elif len(value) > limit:
        violations.append(FieldViolation(name, f"is longer than {limit} characters"))


def _raise(violations: list[FieldViolation]) -> None:
    if violations:
        raise InvalidArgument(violations)


# Who may sign in with the OAuth 2.0 client-credentials names (client_id, client_secret).
CLIENT_AUDIENCES = ("partner", "service")


@dataclass(frozen=True)
class Credentials:
    """What a sign-in names, and the request fields it came from (for errors)."""

    username: str
    password: str
    fields: tuple[str, str] = ("username", "password")

    @property
    def of_client(self) -> bool:
        """OAuth 2.0 client credentials: a system asks again rather than refreshing (RFC 6749
        section 4.4.3), so its session gets no refresh token and ends with its access token."""
        return self.fields == ("client_id", "client_secret")


def login_credentials(
    *, username: str, password: str, client_id: str, client_secret: str, audience: str
) -> Credentials:
    """username and password, or their OAuth 2.0 names client_id and client_secret (partner
    systems and services): one pair, not a mixture."""
    if not (client_id or client_secret):
        return Credentials(username, password)
    violations: list[FieldViolation] = []
    if audience not in CLIENT_AUDIENCES:
        field = "client_id" if client_id else "client_secret"
        violations.append(
            FieldViolation(field, "is for partner systems; sign in with username and password")
        )
    for name, value in (("username", username), ("password", password)):
        if value:
            violations.append(
                FieldViolation(name, "send username and password, or client_id and client_secret")
            )
    _raise(violations)
    return Credentials(client_id, client_secret, ("client_id", "client_secret"))


def validate_login(
    username: str,
    password: str,
    audience: str,
    totp_code: str,
    *,
    fields: tuple[str, str] = ("username", "password"),
) -> None:
    violations: list[FieldViolation] = []
    _required_text(violations, fields[0], username, limit=MAX_USERNAME)
    _required_text(violations, fields[1], password, limit=MAX_PASSWORD)
    if audience not in LOGIN_AUDIENCES:
        violations.append(
            FieldViolation("audience", "must be one of: " + ", ".join(LOGIN_AUDIENCES))
        )
    if totp_code and not (totp_code.isdigit() and len(totp_code) == 6):
        violations.append(FieldViolation("totp_code", "must be 6 digits"))
    _raise(violations)


def password_violations(name: str, password: str, *, username: str) -> list[FieldViolation]:
    """A password's length bounds, and that it is not the username (NIST SP 800-63B)."""
    if len(password) < MIN_PASSWORD:
        return [FieldViolation(name, f"must be at least {MIN_PASSWORD} characters", "min-length")]
    if len(password) > MAX_PASSWORD:
        return [FieldViolation(name, f"is longer than {MAX_PASSWORD} characters", "max-length")]
    if password.lower() == username.lower():
        return [FieldViolation(name, "must not be the username", "not-the-username")]
    return []


def username_violations(username: str) -> list[FieldViolation]:
    if not _USERNAME.match(username):
        return [
            FieldViolation(
                "username",
                "must be 3 to 64 characters: lowercase letters, digits, '.', '_' or '-', "
                "starting with a letter or digit",
                "username",
            )
        ]
    return []


def client_id_violations(client_id: str) -> list[FieldViolation]:
    """A client id is a username that is not the name of one of the platform's own applications:
    theirs stands in the `client_id` of the people they sign in (`auth.FIRST_PARTY_CLIENTS`)."""
    violations = [
        FieldViolation("client_id", v.description) for v in username_violations(client_id)
    ]
    if client_id in auth.FIRST_PARTY_CLIENTS.values():
        violations.append(
            FieldViolation("client_id", "is the name of one of the platform's own applications")
        )
    return violations


def validate_profile(display_name: str, phone: str, *, required_name: bool) -> None:
    violations: list[FieldViolation] = []
    if required_name or display_name:
        _required_text(violations, "display_name", display_name.strip(), limit=MAX_NAME)
    if phone and not _PHONE.match(phone):
        violations.append(FieldViolation("phone", "must be digits, spaces or '-', 5 to 20"))
    _raise(violations)


# Roles a system may hold: a department's own system issues that department's licences.
CLIENT_ROLES = (ROLE_LICENCE_ISSUER,)


def client_role_violations(kind: str, roles: list[str]) -> list[FieldViolation]:
    violations = [
        FieldViolation(f"roles[{i}]", "a client may hold only: " + ", ".join(CLIENT_ROLES))
        for i, role in enumerate(roles)
        if role not in CLIENT_ROLES
    ]
    if roles and kind != SERVICE:
        violations.append(FieldViolation("roles", "only service clients hold roles"))
    if len(set(roles)) != len(roles):
        violations.append(FieldViolation("roles", "lists a role twice"))
    return violations


def validate_roles(department: str, roles: list[str]) -> None:
    violations: list[FieldViolation] = []
    if department not in DEPARTMENTS:
        violations.append(FieldViolation("department", "must be one of: " + ", ".join(DEPARTMENTS)))
    if not roles:
        violations.append(FieldViolation("roles", "at least one role is required"))
    for i, role in enumerate(roles):
        if role not in ROLES:
            violations.append(FieldViolation(f"roles[{i}]", "must be one of: " + ", ".join(ROLES)))
        elif role in BDB_ONLY_ROLES and department != "bdb":
            violations.append(
                FieldViolation(f"roles[{i}]", f"{role} is held only by Big Data Bureau staff")
            )
    if len(set(roles)) != len(roles):
        violations.append(FieldViolation("roles", "lists a role twice"))
    _raise(violations)


def lock_seconds(failed_logins: int) -> int:
    """How long the account locks after this many failures in a row: nothing before the
    threshold, then 30 s, doubling with each further failure, at most an hour."""
    if failed_logins < LOCK_AFTER_FAILURES:
        return 0
    doublings = min(failed_logins - LOCK_AFTER_FAILURES, 16)  # 30 s * 2**7 is past the cap
    return min(FIRST_LOCK_SECONDS * (1 << doublings), MAX_LOCK_SECONDS)


def mask_identity_number(number: str) -> str:
    """Only the first and the last character: enough to recognise one's own, no more."""
    return number[:1] + "*" * (len(number) - 2) + number[-1:] if len(number) > 2 else "*"


def access_token_claims(
    subject: Subject,
    *,
    session_id: str,
    issuer: str,
    audience: str,
    now: int,
    client_id: str = "",
    scope: str = "",
) -> dict[str, object]:
    """Claims carry identifiers and authorisation only: no name, no ID number, no phone.
    `client_id` and `scope`: the application of a session opened by the code flow."""
    account = subject.account
    second_factor = account.kind == STAFF and not subject.second_factor_pending
    claims: dict[str, object] = {
        "iss": issuer,
        "sub": account.id,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + ACCESS_TOKEN_TTL_SECONDS,
        "jti": str(uuid.uuid4()),
        "sid": session_id,
        "kind": subject.subject_type,
        "amr": ["pwd", "otp"] if second_factor else ["pwd"],
    }
    if account.department:
        claims["dept"] = account.department
    if account.roles and not subject.second_factor_pending:
        claims["roles"] = list(account.roles)
    if subject.enterprise_id:
        claims["ent"] = subject.enterprise_id
    if account.kind in (PARTNER, SERVICE):
        claims["client_id"] = account.username  # a system's name, not a person's
    elif client_id:
        claims["client_id"] = client_id
    elif audience in auth.FIRST_PARTY_CLIENTS:  # a person, signed in by the platform's own app
        claims["client_id"] = auth.FIRST_PARTY_CLIENTS[audience]
    if subject.second_factor_pending:
        claims["enrol_2fa"] = True
    if scope:
        claims["scope"] = scope
    return claims


# --- the platform's own accounts -------------------------------------------------------------


class PlatformAccountProtected(FailedPrecondition):
    """An administrator tried to disable, delete or change the roles of an account that one of
    the platform's services signs in with (problem type `platform-account`)."""

    reason = "PLATFORM_ACCOUNT"


def is_platform_account(account: Account) -> bool:
    return account.kind == SERVICE and account.username in PLATFORM_CLIENTS


def protect_platform_account(account: Account, *, action: str) -> None:
    """Refuse `action` ("disabled", "given other roles") on a platform service account."""
    if is_platform_account(account):
        raise PlatformAccountProtected(
            f"{account.username!r} is a platform account (the {account.username} service signs "
            f"in with it; the platform stops working without it): it cannot be {action}"
        )

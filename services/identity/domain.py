"""Identity rules: departments, roles, demo accounts and the claims of an access token."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from runtime.auth import ISSUER
from runtime.errors import FieldViolation, InvalidArgument

# Departments (委办局) known to the platform, by code.
DEPARTMENTS: dict[str, str] = {
    "bdb": "Big Data Bureau (市大数据管理局)",
    "psb": "Public Security Bureau (市公安局)",
    "hrss": "Human Resources and Social Security Bureau (市人力资源和社会保障局)",
    "msa": "Market Supervision Administration (市市场监督管理局)",
}

ROLE_BDB_ADMIN = "bdb_admin"
ROLE_CATALOG_OFFICER = "catalog_officer"

TOKEN_TTL_SECONDS = 900
STAFF = "staff"
# Staff sign in at the unified office platform; other audiences arrive with their own accounts.
LOGIN_AUDIENCES = ("office",)
MAX_USERNAME = 64
MAX_PASSWORD = 256


@dataclass(frozen=True)
class Account:
    id: str
    username: str
    kind: str
    department: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class DemoAccount:
    username: str
    department: str
    roles: tuple[str, ...]


# Demo mode only: the Big Data Bureau administrator and one catalog officer per department.
DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("bdb.admin", "bdb", (ROLE_BDB_ADMIN, ROLE_CATALOG_OFFICER)),
    DemoAccount("psb.officer", "psb", (ROLE_CATALOG_OFFICER,)),
    DemoAccount("hrss.officer", "hrss", (ROLE_CATALOG_OFFICER,)),
    DemoAccount("msa.officer", "msa", (ROLE_CATALOG_OFFICER,)),
)


def validate_login(username: str, password: str, audience: str) -> str:
    """The audience to sign for, or InvalidArgument naming each bad field."""
    violations = []
    if not username:
        violations.append(FieldViolation("username", "is required"))
    elif len(username) > MAX_USERNAME:
        violations.append(FieldViolation("username", f"is longer than {MAX_USERNAME} characters"))
    if not password:
        violations.append(FieldViolation("password", "is required"))
    elif len(password) > MAX_PASSWORD:
        violations.append(FieldViolation("password", f"is longer than {MAX_PASSWORD} characters"))
    audience = audience or "office"
    if audience not in LOGIN_AUDIENCES:
        violations.append(
            FieldViolation("audience", "must be one of: " + ", ".join(LOGIN_AUDIENCES))
        )
    if violations:
        raise InvalidArgument(violations)
    return audience


def access_token_claims(account: Account, *, audience: str, now: int) -> dict[str, object]:
    """Claims carry identifiers and authorisation only: no name, no ID number, no phone."""
    return {
        "iss": ISSUER,
        "sub": account.id,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + TOKEN_TTL_SECONDS,
        "jti": str(uuid.uuid4()),
        "kind": account.kind,
        "dept": account.department,
        "roles": list(account.roles),
    }

"""What each role of staff may do: one table, role -> operations, that every service enforces.

An operation is a gRPC method, named `<service>.<Method>` (`catalog.CreateResource`). A member of
staff reaches a method only when one of their roles lists it (or `EVERY_STAFF` does); the
method's own `@allow` policy still says which entry points and kinds of caller reach it at all,
and the domain still decides what a permitted caller may do with which resource (their own
department's, say). The gateway's routes call these methods with the caller's token, so this one
table decides both; `tests/integration/test_roles.py` calls every method as every role and
compares the answers with it.

The auditor reads: audit records, evidence metadata, scorecards, the catalogs, accounts, keys'
metadata and incidents. It writes nothing and reads no data values (records, licence contents).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

from runtime.errors import RoleNotPermitted

ROLE_BDB_ADMIN = "bdb_admin"
ROLE_CATALOG_OFFICER = "catalog_officer"
ROLE_SHARE_APPROVER = "share_approver"
ROLE_LICENCE_ISSUER = "licence_issuer"
ROLE_SECURITY_OFFICER = "security_officer"
ROLE_AUDITOR = "auditor"
ROLES: tuple[str, ...] = (
    ROLE_BDB_ADMIN,
    ROLE_CATALOG_OFFICER,
    ROLE_SHARE_APPROVER,
    ROLE_LICENCE_ISSUER,
    ROLE_SECURITY_OFFICER,
    ROLE_AUDITOR,
)


def _ops(*names: str) -> frozenset[str]:
    return frozenset(names)


# Every member of staff, whatever their roles: their own account, and reading the catalogs.
EVERY_STAFF = _ops(
    "identity.GetCurrentAccount",
    "identity.GetUserInfo",
    "identity.Logout",
    "identity.ChangePassword",
    "identity.ListMySessions",
    "identity.EndMySessions",
    "identity.BeginTotpEnrolment",
    "identity.ConfirmTotpEnrolment",
    "catalog.GetResource",
    "catalog.ListResources",
    "catalog.ListResourceHistory",
    "catalog.DiffResourceVersions",
    "catalog.SearchShareCatalog",
    "catalog.GetShareCatalogEntry",
    "catalog.ListScorecards",
    "exchange.ListResources",
    "partners.ListPartnerEvents",
)

# A department's daily work with shared data: asking for it, holding grants, querying and
# following it, using keys as their policies allow. Every role but the auditor's.
DEPARTMENT_WORK = _ops(
    "exchange.CreateShareRequest",
    "exchange.GetShareRequest",
    "exchange.ListShareRequests",
    "exchange.ListGrants",
    "exchange.CreateSubscription",
    "exchange.DeleteSubscription",
    "exchange.ListSubscriptions",
    "exchange.ListChanges",
    "exchange.GetDataset",
    "exchange.ListInterfaceServices",
    "exchange.GetInterfaceServiceOpenApi",
    "exchange.QueryInterfaceService",
    "exchange.ListEvidence",
    "exchange.GetEvidenceBatch",
    "keys.VerifyAuthorisationCode",
    "keys.Sign",
    "keys.SignBatch",
    "keys.Verify",
    "keys.Encrypt",
    "keys.Decrypt",
    "keys.Rewrap",
    "keys.GenerateDataKey",
    "keys.ComputeMac",
    "keys.VerifyMac",
    "licences.ListUseGrants",
    "licences.RetrieveLicence",
    "licences.ExportLicenceMetadata",
)

# Oversight: what the auditor reads, and the Bureau's administrators and security officers too.
OVERSIGHT = _ops(
    "identity.ListAccounts",
    "identity.ListApplications",
    "identity.GetAccount",
    "keys.ListAuditRecords",
    "keys.VerifyAuditChain",
    "keys.GetCryptoAssessment",
    "keys.ListKeys",
    "keys.GetKey",
    "keys.ListIncidents",
    "keys.GetIncident",
    "keys.GetIncidentReport",
    "keys.ListAuthorisationCodes",
    "keys.ListKeyUsage",
    "exchange.ListShareRequests",
    "exchange.GetShareRequest",
    "exchange.ListGrants",
    "exchange.ListEvidence",
    "exchange.GetEvidenceBatch",
    "partners.ListEntitlements",
)

ACCOUNT_ADMINISTRATION = _ops(
    "identity.DisableAccount",
    "identity.EnableAccount",
    "identity.UnlockAccount",
    "identity.EndSessions",
    "identity.ResetSecondFactor",
)

AUTHORISATION_CODES = _ops(
    "keys.IssueAuthorisationCode",
    "keys.RotateAuthorisationCode",
    "keys.RevokeAuthorisationCode",
)

# The Big Data Bureau's review of the catalog (a department's catalog officers do it too, for
# the steps their own resources allow: the catalog's domain rules decide which).
CATALOG_REVIEW = _ops(
    "catalog.ConfirmResource",
    "catalog.ReturnResource",
    "catalog.PublishResource",
    "catalog.WithdrawResource",
    "catalog.RouteDemand",
    "exchange.RevokeGrant",
)

PERMISSIONS: Mapping[str, frozenset[str]] = {
    ROLE_BDB_ADMIN: DEPARTMENT_WORK
    | OVERSIGHT
    | ACCOUNT_ADMINISTRATION
    | AUTHORISATION_CODES
    | CATALOG_REVIEW
    | _ops(
        "identity.CreateStaffAccount",
        "identity.CreateClient",
        "identity.RegisterApplication",
        "identity.UpdateStaffRoles",
        "partners.GrantEntitlement",
        "partners.RevokeEntitlement",
    ),
    ROLE_CATALOG_OFFICER: DEPARTMENT_WORK
    | CATALOG_REVIEW
    | _ops(
        "catalog.CreateResource",
        "catalog.UpdateResource",
        "catalog.SubmitResource",
        "catalog.AnswerDemand",
        "exchange.PushRecords",
        "exchange.CreateInterfaceService",
    ),
    ROLE_SHARE_APPROVER: DEPARTMENT_WORK
    | _ops("exchange.DecideShareRequest", "exchange.RevokeGrant"),
    ROLE_LICENCE_ISSUER: DEPARTMENT_WORK
    | _ops(
        "licences.IssueLicence",
        "licences.SuspendLicence",
        "licences.ResumeLicence",
        "licences.RevokeLicence",
        "licences.RenewLicence",
        "licences.GetLicence",
        "licences.ListLicences",
    ),
    ROLE_SECURITY_OFFICER: DEPARTMENT_WORK
    | OVERSIGHT
    | ACCOUNT_ADMINISTRATION
    | AUTHORISATION_CODES
    | _ops(
        "identity.RotateSigningKey",
        "keys.CreateKey",
        "keys.UpdateKey",
        "keys.RotateKey",
        "keys.ScheduleKeyDeletion",
        "keys.CancelKeyDeletion",
        "keys.ReportIncident",
        "keys.AdvanceIncident",
    ),
    ROLE_AUDITOR: OVERSIGHT,
}


@functools.cache  # one per method of the platform
def operation(method: str) -> str:
    """`/smartcity.catalog.v1.CatalogService/CreateResource` -> `catalog.CreateResource`."""
    service, _, name = method.lstrip("/").partition("/")
    parts = service.split(".")
    return f"{parts[1] if len(parts) > 2 else service}.{name}"


def permits(roles: Iterable[str], op: str) -> bool:
    """Whether a member of staff with these roles may call the operation."""
    return op in EVERY_STAFF or any(op in PERMISSIONS.get(role, ()) for role in roles)


def roles_permitted(op: str) -> tuple[str, ...]:
    """The roles that may call an operation (all of them when every member of staff may)."""
    if op in EVERY_STAFF:
        return ROLES
    return tuple(role for role in ROLES if op in PERMISSIONS[role])


def check(roles: Iterable[str], method: str) -> None:
    """Refuse a member of staff whose roles do not list the method (`RoleNotPermitted`)."""
    op = operation(method)
    if not permits(roles, op):
        needed = ", ".join(roles_permitted(op)) or "no role of staff"
        raise RoleNotPermitted(f"{op} needs one of the roles: {needed}")

"""The role table (`runtime.roles`) against the services' methods: every method staff can reach
is in it, every operation it names exists, and the auditor writes nothing."""

from __future__ import annotations

import importlib

import pytest

from runtime import config, roles
from runtime.auth import Policy
from runtime.errors import RoleNotPermitted


def _policies() -> dict[str, Policy]:
    found: dict[str, Policy] = {}
    for name in config.SERVICES:
        module = importlib.import_module(f"services.{name}.servicer")
        found.update({roles.operation(m): p for m, p in module.POLICIES.items()})
    return found


POLICIES = _policies()
# Methods a member of staff can reach at all: an office token is admitted by the policy.
STAFF_REACHABLE = {op for op, p in POLICIES.items() if not p.anonymous and "office" in p.audiences}
# Reads by name: what the auditor may be given. Everything else changes something.
READ_PREFIXES = ("Get", "List", "Search", "Diff", "Verify")


def test_every_method_staff_can_reach_is_given_to_some_role() -> None:
    ungiven = sorted(op for op in STAFF_REACHABLE if not roles.roles_permitted(op))
    assert not ungiven, f"no role may call: {ungiven}"


def test_every_operation_the_table_names_is_a_method_staff_can_reach() -> None:
    named = roles.EVERY_STAFF.union(*roles.PERMISSIONS.values())
    assert named <= STAFF_REACHABLE, sorted(named - STAFF_REACHABLE)
    assert set(roles.PERMISSIONS) == set(roles.ROLES)


def test_the_auditor_reads_and_writes_nothing() -> None:
    auditor = {op for op in STAFF_REACHABLE if roles.permits([roles.ROLE_AUDITOR], op)}
    writes = sorted(
        op for op in auditor - roles.EVERY_STAFF if not op.split(".")[1].startswith(READ_PREFIXES)
    )
    assert not writes, writes
    # and no data values: records, presentations, licence contents
    for op in (
        "exchange.ListChanges",
        "exchange.QueryInterfaceService",
        "exchange.GetDataset",
        "licences.GetLicence",
        "licences.RetrieveLicence",
        "keys.Decrypt",
        "keys.Sign",
    ):
        assert not roles.permits([roles.ROLE_AUDITOR], op), op


def test_a_role_the_table_does_not_list_for_a_method_is_refused_naming_the_roles_needed() -> None:
    with pytest.raises(RoleNotPermitted, match=r"exchange\.CreateShareRequest needs one of"):
        roles.check(["auditor"], "/smartcity.exchange.v1.ExchangeService/CreateShareRequest")
    roles.check(["auditor"], "/smartcity.keys.v1.KeysService/ListAuditRecords")
    # staff without any role still reach what every member of staff may do
    roles.check([], "/smartcity.identity.v1.IdentityService/GetCurrentAccount")
    with pytest.raises(RoleNotPermitted):
        roles.check([], "/smartcity.catalog.v1.CatalogService/CreateResource")

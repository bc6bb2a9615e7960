"""What the demo data of the embedded mode (`make run`) shares between services: the identifiers
of the demo people identity creates and of the licensing systems the licences act as. Never in
production and never on PostgreSQL (see `runtime.config`)."""

from __future__ import annotations

from runtime import identifiers


def _resident_id(region: str, birth: str, sequence: str) -> str:
    first17 = region + birth + sequence
    return first17 + identifiers.resident_id_check_char(first17)


def _credit_code(region: str, organisation8: str) -> str:
    organisation = organisation8 + identifiers.organisation_code_check_char(organisation8)
    first17 = "91" + region + organisation
    return first17 + identifiers.credit_code_check_char(first17)


# The demo citizen and the demo enterprise hold the demo licences; the agent acts for the latter.
CITIZEN_RESIDENT_ID = _resident_id("460105", "19900307", "123")
AGENT_RESIDENT_ID = _resident_id("460106", "19850612", "246")
ENTERPRISE_CREDIT_CODE = _credit_code("460100", "MA5T0A1B")

# Each issuing department's own licensing system: a service client of identity that the licences
# demo issues the demo licences as.
LICENSING_DEPARTMENTS = ("psb", "hrss", "msa")


def licensing_system(department: str) -> str:
    """The username of a department's licensing system."""
    return f"{department}.licensing"

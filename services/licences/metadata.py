"""A licence's catalogue information (电子证照目录信息) as GB/T 36902 names it, for other platforms.

Pure functions, no I/O. The record carries personal data (the holder's name and number, the
licence's face): it is built for its holder, or for a use grant's party within the grant's claims,
and is never logged. Where the standard's item has no counterpart here the nearest is used: the
licence number (证照编号) is the number printed on the licence (a driving licence's 证号 is the
holder's ID number; a vehicle licence's, its plate).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from runtime.departments import DEPARTMENTS
from services.licences import domain, types
from services.licences.types import LicenceType
from smartcity.licences.v1 import licences_pb2 as pb

# The field printed as the licence's number, per type.
NUMBER_FIELD = {
    "id_card": "id_number",
    "social_security_card": "card_number",
    "driving_licence": "id_number",
    "vehicle_licence": "plate_number",
    "business_licence": "credit_code",
}
# The holder's name, per type.
NAME_FIELD = {"vehicle_licence": "owner"}
HOLDER_ID_TYPE = {types.CITIZEN: "公民身份号码", types.ENTERPRISE: "统一社会信用代码"}


def record(
    kind: LicenceType,
    *,
    licence_id: str,
    fields: Mapping[str, str],
    status: str,
    issued_us: int,
    valid_from: str,
    valid_until: str | None,
    visible: Collection[str] | None = None,
) -> pb.LicenceMetadata:
    """The catalogue record of a licence; with `visible`, only those fields of the licence's face
    (and the holder's name, number and the licence number only when among them)."""

    def shown(name: str) -> str:
        return fields.get(name, "") if visible is None or name in visible else ""

    department = DEPARTMENTS[kind.department]
    issued = datetime.fromtimestamp(issued_us / 1_000_000, tz=domain.CHINA).date()
    message = pb.LicenceMetadata(
        licence_name=kind.name,
        licence_number=shown(NUMBER_FIELD[kind.key]),
        licence_identifier=licence_id,
        type_code=kind.code,
        defining_authority=kind.authority.name,
        defining_authority_code=kind.authority.credit_code,
        holder_name=shown(NAME_FIELD.get(kind.key, "name")),
        holder_id_type=HOLDER_ID_TYPE[kind.holder_kind],
        holder_id_number=shown(kind.holder_field),
        issuing_organisation=department.name,
        issuing_organisation_code=department.credit_code,
        issue_date=issued.isoformat(),
        valid_from=valid_from,
        valid_until=valid_until or types.LONG_TERM,
        status=status,
    )
    for spec in kind.fields:
        value = shown(spec.name)
        if value:
            message.surface[spec.label] = value
    return message

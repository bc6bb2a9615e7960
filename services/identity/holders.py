"""Licence holders: the licences service names a holder by resident ID number or unified social
credit code, and identity answers with the account or enterprise that number is registered to.

The number is compared by its keyed hash, so identity never has to open a sealed number, and the
answer is an opaque id: the licences service learns nothing it did not already know.
"""

from __future__ import annotations

from runtime import identifiers
from runtime.auth import Principal
from runtime.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from runtime.service import ServiceRuntime
from services.identity import store
from services.identity.accounts import RESIDENT_ID
from services.identity.enterprises import CREDIT_CODE
from services.identity.personal import PersonalData
from smartcity.identity.v1 import identity_pb2 as pb

# The one client that may ask: holders are the licences service's business alone.
LICENCES_CLIENT = "licences"


async def resolve_holder(
    rt: ServiceRuntime,
    personal: PersonalData,
    principal: Principal,
    request: pb.ResolveHolderRequest,
) -> pb.ResolveHolderResponse:
    if principal.client != LICENCES_CLIENT:
        raise PermissionDenied("only the licences service resolves licence holders")
    if bool(request.resident_id_number) == bool(request.credit_code):
        raise InvalidArgument.of("resident_id_number", "give a resident ID number or a credit code")
    try:
        if request.resident_id_number:
            number = identifiers.parse_resident_id(request.resident_id_number).number
        else:
            code = identifiers.parse_credit_code(request.credit_code).code
    except identifiers.IdentifierError as exc:
        field = "resident_id_number" if request.resident_id_number else "credit_code"
        raise InvalidArgument.of(field, exc.reason) from None
    async with rt.db.read() as conn:
        if request.resident_id_number:
            account = await store.account_by_resident_id(
                conn, personal.identity_number_hash(number, kind=RESIDENT_ID)
            )
            if account is None:
                raise FailedPrecondition(
                    "the holder has no account on the public service platform yet"
                )
            return pb.ResolveHolderResponse(account_id=account)
        enterprise = await store.enterprise_by_credit_code(
            conn, personal.identity_number_hash(code, kind=CREDIT_CODE)
        )
    if enterprise is None:
        raise FailedPrecondition("the enterprise is not registered on the public service platform")
    return pb.ResolveHolderResponse(enterprise_id=enterprise)

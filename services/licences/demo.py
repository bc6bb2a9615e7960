"""Demo licences for the embedded mode (`make run`): the demo citizen holds an ID card, a social
security card, a driving licence and a vehicle licence, and the demo enterprise a business
licence, each issued by its own department and signed with its demo key.

Issued as any department's own system issues its licences: the demo signs in as each
department's licensing system (a service client holding the licence_issuer role, made by
identity's demo data with a secret derived from the demo password) and issues with that real
token, so the keys service signs, by the key's policy, only because the licences service acts for
a licence issuer of the department.

Never in production and never on PostgreSQL (see `runtime.config`). Issued through the same code
as any licence, once (idempotent request ids), after identity and keys answer.
"""

from __future__ import annotations

import asyncio

from runtime import crypto, demo, logs, service_credentials
from runtime.auth import Principal
from runtime.errors import DomainError
from runtime.service import ServiceRuntime, identity_client
from runtime.service_credentials import ServiceCredentials
from services.licences import types
from services.licences.licences import Contents, Licences
from services.licences.upstream import Upstream
from smartcity.licences.v1 import licences_pb2 as pb

log = logs.get(__name__)

ATTEMPTS = 30


def sample_fields(licence_type: str, holder_number: str) -> dict[str, str]:
    """Plausible fields of a licence of `licence_type` for the holder with that number (a
    resident ID number, or a credit code for the business licence); the birth date and sex are
    read from the resident ID number so that they agree with it."""
    if licence_type == "business_licence":
        return {
            "credit_code": holder_number,
            "name": "海口演示贸易有限公司",
            "entity_type": "有限责任公司",
            "legal_representative": "王芳",
            "registered_capital": "100万元",
            "established_date": "2015-03-01",
            "address": "海南省海口市龙华区滨海大道1号",
            "business_scope": "日用百货销售、进出口代理",
            "valid_from": "2015-03-01",
            "valid_until": types.LONG_TERM,
        }
    birth = f"{holder_number[6:10]}-{holder_number[10:12]}-{holder_number[12:14]}"
    sex = "男" if int(holder_number[16]) % 2 else "女"
    person = {"name": "李明", "sex": sex}
    if licence_type == "id_card":
        born = int(holder_number[6:10])
        start = born + 30  # aged 30: a 20-year card
        return {
            **person,
            "ethnicity": "汉",
            "birth_date": birth,
            "address": "海南省海口市美兰区海甸岛人民大道58号",
            "id_number": holder_number,
            "issuing_authority": "海口市公安局美兰分局",
            "valid_from": f"{start}-05-01",
            "valid_until": f"{start + 20}-05-01",
        }
    if licence_type == "social_security_card":
        return {
            **person,
            "id_number": holder_number,
            "card_number": "A" + holder_number[-8:].replace("X", "0"),
            "issuing_city": "海口市",
            "valid_from": "2021-01-01",
            "valid_until": "2031-01-01",
        }
    if licence_type == "driving_licence":
        first = int(holder_number[6:10]) + 22
        return {
            **person,
            "nationality": "中国",
            "address": "海南省海口市美兰区海甸岛人民大道58号",
            "birth_date": birth,
            "id_number": holder_number,
            "first_issue_date": f"{first}-06-01",
            "vehicle_class": "C1",
            "valid_from": "2020-06-01",
            "valid_until": "2030-06-01",
        }
    if licence_type == "vehicle_licence":
        return {
            "plate_number": "琼A12345",
            "vehicle_type": "小型轿车",
            "owner": "李明",
            "owner_id_number": holder_number,
            "use_character": "非营运",
            "model": "比亚迪牌BYD7152WT6HEVC",
            "vin": "1M8GDM9AXKP042788",
            "engine_number": "BYD473QE1234",
            "register_date": "2019-08-01",
            "valid_from": "2019-08-01",
            "valid_until": types.LONG_TERM,
        }
    raise ValueError(f"no sample for licence type {licence_type!r}")


async def seed(rt: ServiceRuntime) -> None:
    """Issue the demo licences that are not issued yet; retried while identity and keys start."""
    if rt.credentials is None:
        return
    licences = Licences(rt, Upstream(rt), Contents(crypto.master_key(rt.settings)))
    _, login, _ = identity_client(rt.settings)
    # the departments' licensing systems and the demo citizen, as identity creates them
    systems = {
        department: ServiceCredentials(
            service=demo.licensing_system(department),
            secret=service_credentials.demo_secret(
                rt.settings.demo_password, demo.licensing_system(department)
            ),
            login=login,
        )
        for department in demo.LICENSING_DEPARTMENTS
    }
    citizen = demo.CITIZEN_RESIDENT_ID
    wanted = [(t, citizen) for t in types.TYPES if t != "business_licence"]
    wanted.append(("business_licence", demo.ENTERPRISE_CREDIT_CODE))
    for attempt in range(ATTEMPTS):
        try:
            for key, number in wanted:
                issuer = await _signed_in(rt, systems[types.TYPES[key].department])
                request = pb.IssueLicenceRequest(
                    licence_type=key,
                    fields=sample_fields(key, number),
                    request_id=f"demo-{key}",
                )
                await licences.issue(issuer, request)
        except (DomainError, OSError) as exc:
            log.info(
                "demo_licences_waiting", attempt=attempt, error=type(exc).__name__, reason=str(exc)
            )
            await asyncio.sleep(1.0)
            continue
        log.info("demo_licences_issued", count=len(wanted))
        return
    log.warning("demo_licences_not_issued")


async def _signed_in(rt: ServiceRuntime, system: ServiceCredentials) -> Principal:
    """The department's licensing system as the licences service sees any caller: its token,
    verified."""
    return await rt.verifier.verify(await system.token(), audiences=("service",))

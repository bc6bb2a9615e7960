"""Demo data for the embedded mode (`make run`): one resource per demo department."""

from __future__ import annotations

from runtime import logs
from runtime.errors import AlreadyExists
from runtime.service import ServiceRuntime
from services.catalog import domain
from services.catalog.servicer import register_resource
from smartcity.catalog.v1 import catalog_pb2 as pb

log = logs.get(__name__)


def _item(name: str, kind: str, description: str, **extra: object) -> pb.DataItem:
    return pb.DataItem(name=name, type=kind, description=description, **extra)  # type: ignore[arg-type]


DEMO_RESOURCES = (
    pb.Resource(
        code="PSB-0001",
        name="机动车登记信息 Motor vehicle registrations",
        provider_department="psb",
        summary="Vehicles registered in Haikou, by plate number.",
        share_type=pb.SHARE_TYPE_CONDITIONAL,
        open_type=pb.OPEN_TYPE_NOT_OPEN,
        update_cycle=pb.UPDATE_CYCLE_DAILY,
        data_grade=pb.DATA_GRADE_SENSITIVE,
        data_items=[
            _item("plate_number", "string", "号牌号码 plate number"),
            _item("vehicle_type", "string", "车辆类型 vehicle type"),
            _item(
                "owner_id_number",
                "string",
                "所有人身份号码",
                personal=True,
                grade=pb.DATA_GRADE_SENSITIVE,
            ),
            _item("registration_date", "date", "注册登记日期 registration date"),
        ],
    ),
    pb.Resource(
        code="HRSS-0001",
        name="社会保障卡发放统计 Social security cards issued",
        provider_department="hrss",
        summary="Social security cards issued per district and month.",
        share_type=pb.SHARE_TYPE_UNCONDITIONAL,
        open_type=pb.OPEN_TYPE_OPEN,
        update_cycle=pb.UPDATE_CYCLE_MONTHLY,
        data_grade=pb.DATA_GRADE_PUBLIC,
        data_items=[
            _item("district", "string", "行政区 district"),
            _item("month", "date", "统计月份 month"),
            _item("cards_issued", "integer", "发卡数量 cards issued"),
        ],
    ),
    pb.Resource(
        code="MSA-0001",
        name="企业登记信息 Business registrations",
        provider_department="msa",
        summary="Enterprises registered in Haikou, by unified social credit code.",
        share_type=pb.SHARE_TYPE_CONDITIONAL,
        open_type=pb.OPEN_TYPE_CONDITIONAL,
        update_cycle=pb.UPDATE_CYCLE_REAL_TIME,
        data_grade=pb.DATA_GRADE_INTERNAL,
        data_items=[
            _item("unified_social_credit_code", "string", "统一社会信用代码"),
            _item("enterprise_name", "string", "企业名称 enterprise name"),
            _item(
                "legal_representative",
                "string",
                "法定代表人",
                personal=True,
                grade=pb.DATA_GRADE_INTERNAL,
            ),
            _item("registration_date", "date", "成立日期 date of establishment"),
        ],
    ),
)


async def seed(rt: ServiceRuntime) -> None:
    """Register the demo resources once, through the same path (and events) as any other."""
    for resource in DEMO_RESOURCES:
        domain.validate_new_resource(resource)
        try:
            await register_resource(
                rt, resource, created_by="demo", request_id=f"demo/{resource.code}"
            )
        except AlreadyExists:
            log.warning("demo_resource_code_taken", code=resource.code)
    log.info("demo_resources_ready", count=len(DEMO_RESOURCES))

"""Demo data for the embedded mode (`make run`): resources of each demo department, compiled,
confirmed and published through the same lifecycle (and events) as any other."""

from __future__ import annotations

from typing import Any

from runtime import departments, logs
from runtime.auth import Principal
from runtime.service import ServiceRuntime
from services.catalog import domain, resources, store
from smartcity.catalog.v1 import catalog_pb2 as pb

log = logs.get(__name__)

# Unified social credit codes of the demo departments (valid, made up: Haikou, organ category).
DEPARTMENT_CODES = {d.code: d.credit_code for d in departments.DEPARTMENTS.values()}
# The demo acts as the Big Data Bureau when it confirms and publishes its resources.
_BUREAU = Principal(
    subject="demo",
    audience="service",
    kind="service",
    department=domain.BUREAU,
    roles=frozenset({domain.ROLE_CATALOG_OFFICER}),
)


def _item(name: str, kind: str, description: str, **extra: Any) -> pb.DataItem:
    return pb.DataItem(name=name, type=kind, description=description, **extra)


def _resource(department: str, classification: tuple[str, str, str], **fields: Any) -> pb.Resource:
    category, item, sub_item = classification
    return pb.Resource(
        provider_department=department,
        provider_code=DEPARTMENT_CODES[department],
        classification=pb.Classification(category=category, item=item, sub_item=sub_item),
        **fields,
    )


# (resource, share catalog, open catalog)
DEMO_RESOURCES: tuple[tuple[pb.Resource, bool, bool], ...] = (
    (
        _resource(
            "psb",
            ("3", "01", "001"),
            name="机动车登记信息 Motor vehicle registrations",
            summary="海口市登记的机动车, 按号牌号码. Vehicles registered in Haikou, by plate.",
            format="database",
            share_type=pb.SHARE_TYPE_CONDITIONAL,
            share_conditions="仅用于交通管理与执法 Traffic management and enforcement only",
            share_methods=[pb.SHARE_METHOD_INTERFACE],
            open_type=pb.OPEN_TYPE_NOT_OPEN,
            update_cycle=pb.UPDATE_CYCLE_DAILY,
            data_grade=pb.DATA_GRADE_SENSITIVE,
            keywords=["机动车", "车辆", "vehicle"],
            data_items=[
                _item("号牌号码", "string", "plate number"),
                _item("车辆类型", "string", "vehicle type"),
                _item(
                    "所有人身份号码",
                    "string",
                    "owner's resident ID number",
                    personal=True,
                    grade=pb.DATA_GRADE_SENSITIVE,
                ),
                _item("注册登记日期", "date", "registration date"),
            ],
        ),
        True,
        False,
    ),
    (
        _resource(
            "hrss",
            ("2", "03", "002"),
            name="社会保障卡发放统计 Social security cards issued",
            summary="各区每月社会保障卡发放数量. Cards issued per district and month.",
            format="spreadsheet",
            share_type=pb.SHARE_TYPE_UNCONDITIONAL,
            share_methods=[pb.SHARE_METHOD_FILE, pb.SHARE_METHOD_INTERFACE],
            open_type=pb.OPEN_TYPE_OPEN,
            update_cycle=pb.UPDATE_CYCLE_MONTHLY,
            data_grade=pb.DATA_GRADE_PUBLIC,
            keywords=["社保卡", "统计"],
            data_items=[
                _item("行政区", "string", "district"),
                _item("统计月份", "date", "month"),
                _item("发卡数量", "integer", "cards issued"),
            ],
        ),
        True,
        True,
    ),
    (
        _resource(
            "msa",
            ("1", "02", "001"),
            name="企业登记信息 Business registrations",
            summary="在海口登记的企业, 按统一社会信用代码. Enterprises registered in Haikou.",
            format="database",
            share_type=pb.SHARE_TYPE_CONDITIONAL,
            share_conditions="用于市场监管与政务服务 Market supervision and public services",
            share_methods=[pb.SHARE_METHOD_INTERFACE, pb.SHARE_METHOD_SUBSCRIPTION],
            open_type=pb.OPEN_TYPE_CONDITIONAL,
            open_conditions="注册用户申请后使用 Registered users, on application",
            update_cycle=pb.UPDATE_CYCLE_REAL_TIME,
            data_grade=pb.DATA_GRADE_INTERNAL,
            keywords=["企业", "营业执照", "business"],
            data_items=[
                _item("统一社会信用代码", "string", "unified social credit code"),
                _item("企业名称", "string", "enterprise name"),
                _item(
                    "法定代表人",
                    "string",
                    "legal representative",
                    personal=True,
                    grade=pb.DATA_GRADE_INTERNAL,
                ),
                _item("成立日期", "date", "date of establishment"),
            ],
        ),
        True,
        True,
    ),
)


async def seed(rt: ServiceRuntime) -> None:
    """Register and publish the demo resources once; a restart finds them and carries on from
    wherever a previous start stopped."""
    for resource, share, open_ in DEMO_RESOURCES:
        domain.validate_resource(resource)
        key = f"demo/{resource.provider_department}/{resource.name[:40]}"
        async with rt.db.read() as conn:
            current = await store.find_by_request_id(conn, key)
        if current is None:
            current = await resources.register(rt, resource, created_by="demo", request_id=key)
        while (action := _NEXT.get(current.state)) is not None:
            current = await resources.step(
                rt,
                _BUREAU,
                current.id,
                action=action,
                authorise=_anyone,
                publication=(share, open_) if action == "publish" else None,
            )
    log.info("demo_resources_ready", count=len(DEMO_RESOURCES))


_NEXT = {domain.DRAFT: "submit", domain.SUBMITTED: "confirm", domain.CONFIRMED: "publish"}


def _anyone(principal: Principal, resource: pb.Resource) -> None:
    """The demo seeds on the Bureau's behalf: nothing to check."""

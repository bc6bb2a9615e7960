"""The catalog scenario's data: generated resources in the words of Haikou's catalog, and the
query mix searched on both sides.

Resources are built from a vocabulary of a few hundred Chinese words and their English
renderings (places, topics per department, kinds of dataset, data items, purposes), with the
same seed every run, and every one passes `services.catalog.domain.validate_resource`: personal
or sensitive data is shared and opened only on conditions, important data is never opened.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from services.catalog import demo, domain
from smartcity.catalog.v1 import catalog_pb2 as pb

SEED = 20240601
OPEN_SHARE = 0.7  # of the resources, listed in the open catalog too (all are in the share one)
# Publication times spread over the three years before the load.
PUBLISHED_OVER_US = 3 * 365 * 86_400_000_000

# (Chinese, English) of the places a dataset covers; None: the whole city, unnamed.
PLACES: tuple[tuple[str, str] | None, ...] = (
    None,
    None,
    ("海口市", "Haikou"),
    ("海口市", "Haikou"),
    ("秀英区", "Xiuying district"),
    ("龙华区", "Longhua district"),
    ("琼山区", "Qiongshan district"),
    ("美兰区", "Meilan district"),
    ("江东新区", "Jiangdong new area"),
    ("海南省", "Hainan province"),
    ("三亚市", "Sanya"),
    ("儋州市", "Danzhou"),
    ("琼海市", "Qionghai"),
    ("文昌市", "Wenchang"),
    ("万宁市", "Wanning"),
    ("洋浦经济开发区", "Yangpu economic development zone"),
)

# (Chinese, English) kinds of dataset: the end of a resource's name.
KINDS = (
    ("信息", "records"),
    ("登记信息", "registrations"),
    ("统计", "statistics"),
    ("名录", "directory"),
    ("台账", "ledger"),
    ("数据", "data"),
    ("月报", "monthly report"),
    ("年报", "annual report"),
    ("明细", "details"),
    ("汇总", "summary"),
    ("查询", "lookup"),
    ("目录", "catalogue"),
)

PURPOSES = (
    "城市管理",
    "交通规划",
    "公共服务",
    "应急管理",
    "社会治理",
    "产业分析",
    "民生保障",
    "科学研究",
    "旅游推广",
    "环境保护",
    "营商环境",
    "自贸港建设",
    "政务公开",
    "便民服务",
    "统计分析",
    "决策支持",
)

CYCLES = (
    (pb.UPDATE_CYCLE_REAL_TIME, "实时", "in real time"),
    (pb.UPDATE_CYCLE_DAILY, "每日", "daily"),
    (pb.UPDATE_CYCLE_WEEKLY, "每周", "weekly"),
    (pb.UPDATE_CYCLE_MONTHLY, "每月", "monthly"),
    (pb.UPDATE_CYCLE_QUARTERLY, "每季度", "quarterly"),
    (pb.UPDATE_CYCLE_YEARLY, "每年", "yearly"),
    (pb.UPDATE_CYCLE_IRREGULAR, "不定期", "irregularly"),
)

_Item = tuple[str, str, str, bool]  # name, type, description, personal


def _items(*specs: str) -> tuple[_Item, ...]:
    """'名称|type|description' or '名称|type|description|p' (personal)."""
    out = []
    for spec in specs:
        name, kind, description, *personal = spec.split("|")
        out.append((name, kind, description, bool(personal)))
    return tuple(out)


# Items any dataset may carry besides its topic's own.
COMMON_ITEMS = _items(
    "行政区|string|district",
    "统计月份|date|month",
    "记录编号|string|record number",
    "更新时间|datetime|last updated",
    "数据来源|string|source of the data",
    "经度|decimal|longitude",
    "纬度|decimal|latitude",
    "地址|string|address",
    "备注|string|remarks",
    "状态|string|status",
    "办理日期|date|date handled",
    "数量|integer|count",
    "金额|decimal|amount in yuan",
    "联系电话|string|contact telephone|p",
    "姓名|string|full name|p",
    "身份证号码|string|resident ID number|p",
)


@dataclass(frozen=True)
class Topic:
    """What a department publishes about: its name in both languages, keywords, items."""

    chinese: str
    english: str
    keywords: tuple[str, ...]
    items: tuple[_Item, ...]


def _topic(chinese: str, english: str, keywords: str, *items: str) -> Topic:
    return Topic(chinese, english, tuple(keywords.split()), _items(*items))


TOPICS: dict[str, tuple[Topic, ...]] = {
    "psb": (
        _topic(
            "机动车",
            "motor vehicles",
            "机动车 车辆 vehicle",
            "号牌号码|string|plate number",
            "车辆类型|string|vehicle type",
            "注册登记日期|date|registration date",
            "所有人身份号码|string|owner's resident ID number|p",
            "使用性质|string|use of the vehicle",
        ),
        _topic(
            "驾驶证",
            "driving licences",
            "驾驶证 驾驶人 licence",
            "准驾车型|string|permitted vehicle classes",
            "初次领证日期|date|first issued",
            "驾驶证状态|string|licence status",
            "累积记分|integer|penalty points",
        ),
        _topic(
            "户籍人口",
            "registered population",
            "户籍 人口 population",
            "户籍人口数|integer|registered residents",
            "出生人数|integer|births",
            "迁入人数|integer|moved in",
            "迁出人数|integer|moved out",
        ),
        _topic(
            "流动人口",
            "migrant population",
            "流动人口 居住证 residence",
            "居住证办理量|integer|residence permits issued",
            "来源省份|string|province of origin",
            "暂住人数|integer|temporary residents",
        ),
        _topic(
            "出入境证件",
            "exit-entry documents",
            "出入境 护照 passport",
            "证件类型|string|document type",
            "签发数量|integer|documents issued",
            "受理点|string|service point",
        ),
        _topic(
            "交通违法",
            "traffic violations",
            "交通违法 违章 traffic",
            "违法行为|string|offence",
            "违法地点|string|place of the offence",
            "处罚金额|decimal|fine in yuan",
            "违法时间|datetime|time of the offence",
        ),
        _topic(
            "道路交通事故",
            "road traffic accidents",
            "交通事故 道路 accident",
            "事故地点|string|place of the accident",
            "事故形态|string|kind of accident",
            "受伤人数|integer|people injured",
        ),
        _topic(
            "养犬登记",
            "dog registrations",
            "养犬 犬只 dog",
            "犬只品种|string|breed",
            "免疫日期|date|vaccination date",
            "养犬人姓名|string|owner's name|p",
        ),
        _topic(
            "电动自行车",
            "electric bicycles",
            "电动自行车 电动车 ebike",
            "车架号|string|frame number",
            "品牌型号|string|make and model",
            "上牌日期|date|date registered",
        ),
        _topic(
            "旅馆业治安",
            "hotel security",
            "旅馆 住宿 hotel",
            "旅馆名称|string|hotel name",
            "床位数|integer|beds",
            "入住人数|integer|guests checked in",
        ),
    ),
    "hrss": (
        _topic(
            "社会保障卡",
            "social security cards",
            "社保卡 社会保障 social",
            "发卡数量|integer|cards issued",
            "卡片状态|string|card status",
            "发卡网点|string|issuing branch",
        ),
        _topic(
            "城镇职工养老保险",
            "employee pension insurance",
            "养老保险 养老金 pension",
            "参保人数|integer|people insured",
            "缴费基数|decimal|contribution base",
            "待遇领取人数|integer|pensioners",
        ),
        _topic(
            "基本医疗保险",
            "basic medical insurance",
            "医疗保险 医保 insurance",
            "参保人数|integer|people insured",
            "报销金额|decimal|reimbursed amount",
            "定点医疗机构|string|designated hospital",
        ),
        _topic(
            "失业保险",
            "unemployment insurance",
            "失业保险 失业金 unemployment",
            "领取人数|integer|recipients",
            "发放金额|decimal|amount paid",
        ),
        _topic(
            "工伤保险",
            "work injury insurance",
            "工伤 工伤认定 injury",
            "认定结论|string|determination",
            "受伤部位|string|part of the body injured",
        ),
        _topic(
            "就业登记",
            "employment registrations",
            "就业 招聘 employment",
            "用人单位|string|employer",
            "岗位名称|string|job title",
            "招聘人数|integer|positions",
            "学历要求|string|education required",
        ),
        _topic(
            "职业技能培训",
            "vocational skills training",
            "培训 职业技能 training",
            "培训机构|string|training provider",
            "培训工种|string|trade",
            "结业人数|integer|graduates",
        ),
        _topic(
            "人才引进",
            "talent attraction",
            "人才 引进 talent",
            "人才类别|string|talent category",
            "落户人数|integer|people settled",
            "补贴金额|decimal|subsidy paid",
        ),
        _topic(
            "劳动人事争议仲裁",
            "labour dispute arbitration",
            "劳动仲裁 劳动争议 arbitration",
            "案件类型|string|kind of case",
            "结案数|integer|cases closed",
        ),
        _topic(
            "住房公积金",
            "housing provident fund",
            "公积金 住房 housing",
            "缴存人数|integer|contributors",
            "缴存比例|decimal|contribution rate",
            "贷款发放额|decimal|loans granted",
        ),
    ),
    "msa": (
        _topic(
            "企业",
            "enterprises",
            "企业 营业执照 business",
            "统一社会信用代码|string|unified social credit code",
            "企业名称|string|enterprise name",
            "法定代表人|string|legal representative|p",
            "成立日期|date|date of establishment",
            "注册资本|decimal|registered capital",
        ),
        _topic(
            "个体工商户",
            "individual businesses",
            "个体工商户 个体户 business",
            "字号名称|string|trade name",
            "经营者姓名|string|operator's name|p",
            "经营范围|string|scope of business",
        ),
        _topic(
            "食品经营许可",
            "food business licences",
            "食品安全 食品 food",
            "许可证编号|string|licence number",
            "经营项目|string|business activities",
            "有效期至|date|valid until",
        ),
        _topic(
            "药品零售企业",
            "retail pharmacies",
            "药品 药店 pharmacy",
            "药店名称|string|pharmacy name",
            "执业药师人数|integer|licensed pharmacists",
        ),
        _topic(
            "特种设备",
            "special equipment",
            "特种设备 电梯 elevator",
            "设备类别|string|equipment category",
            "使用单位|string|operator",
            "下次检验日期|date|next inspection",
        ),
        _topic(
            "商标注册",
            "trademark registrations",
            "商标 知识产权 trademark",
            "商标名称|string|trademark",
            "注册号|string|registration number",
            "核定类别|string|class",
        ),
        _topic(
            "产品质量抽检",
            "product quality inspections",
            "质量抽检 产品质量 quality",
            "产品名称|string|product",
            "抽检结果|string|result",
            "生产企业|string|manufacturer",
        ),
        _topic(
            "重要商品价格监测",
            "price monitoring of key goods",
            "价格 物价 price",
            "商品名称|string|goods",
            "零售价格|decimal|retail price",
            "监测点|string|monitoring point",
        ),
        _topic(
            "消费投诉举报",
            "consumer complaints",
            "消费投诉 消费者 complaint",
            "投诉类别|string|kind of complaint",
            "被投诉对象|string|business complained about",
            "处理结果|string|outcome",
        ),
        _topic(
            "免税商品经营",
            "duty-free retail",
            "免税 离岛免税 dutyfree",
            "免税店名称|string|duty-free shop",
            "销售额|decimal|sales",
            "购物人次|integer|shoppers",
        ),
    ),
    "bdb": (
        _topic(
            "政务服务事项",
            "government services",
            "政务服务 办事指南 service",
            "事项名称|string|service",
            "办理时限|integer|time limit in working days",
            "办件量|integer|applications handled",
        ),
        _topic(
            "电子证照",
            "electronic licences",
            "电子证照 证照 licence",
            "证照类型|string|kind of licence",
            "发证机关|string|issuing authority",
            "证照编号|string|licence number",
        ),
        _topic(
            "12345热线工单",
            "12345 hotline tickets",
            "12345 热线 hotline",
            "诉求类型|string|kind of request",
            "承办单位|string|department in charge",
            "办结时长|integer|hours to close",
        ),
        _topic(
            "气象观测",
            "weather observations",
            "气象 天气 weather",
            "观测站点|string|weather station",
            "气温|decimal|air temperature",
            "降水量|decimal|precipitation",
            "风速|decimal|wind speed",
        ),
        _topic(
            "空气质量",
            "air quality",
            "空气质量 环境 air",
            "监测站点|string|monitoring station",
            "PM2.5浓度|decimal|PM2.5 concentration",
            "空气质量指数|integer|air quality index",
        ),
        _topic(
            "水环境质量",
            "water quality",
            "水质 环境 water",
            "断面名称|string|monitoring section",
            "水质类别|string|water quality class",
            "溶解氧|decimal|dissolved oxygen",
        ),
        _topic(
            "旅游景区",
            "tourist attractions",
            "旅游 景区 tourism",
            "景区名称|string|attraction",
            "景区等级|string|grade",
            "接待游客人次|integer|visitors",
        ),
        _topic(
            "中小学校",
            "primary and secondary schools",
            "教育 学校 education",
            "学校名称|string|school",
            "在校生人数|integer|pupils",
            "教职工人数|integer|staff",
        ),
        _topic(
            "医疗机构",
            "medical institutions",
            "医疗 医院 hospital",
            "机构名称|string|institution",
            "床位数|integer|beds",
            "门诊量|integer|outpatient visits",
        ),
        _topic(
            "公交线路",
            "bus routes",
            "公交 交通 bus",
            "线路名称|string|route",
            "站点数|integer|stops",
            "首末班时间|string|first and last departures",
        ),
        _topic(
            "保障性住房",
            "affordable housing",
            "住房 保障房 housing",
            "项目名称|string|project",
            "房源套数|integer|homes",
            "建筑面积|decimal|floor area in m²",
        ),
        _topic(
            "国民经济统计",
            "economic statistics",
            "统计 经济 economy",
            "指标名称|string|indicator",
            "本期数|decimal|this period",
            "同比增长|decimal|year-on-year growth",
        ),
    ),
}

FORMATS = ("database", "spreadsheet", "document", "stream", "other")
# Classification items and sub-items a generated resource may sit in, per category.
CLASS_ITEMS = ("01", "02", "03", "04", "05", "06")
CLASS_SUB_ITEMS = ("001", "002", "003", "004")


@dataclass(frozen=True)
class Generated:
    """One resource to load: its content (what its department registers), the id and code the
    service would assign, and how it is published."""

    content: pb.Resource
    resource_id: str
    code: str
    open_catalog: bool
    published_us: int


def _summary(
    rng: random.Random,
    place: tuple[str, str] | None,
    topic: Topic,
    kind: tuple[str, str],
    items: list[_Item],
    cycle: tuple[int, str, str],
) -> str:
    where_cn, where_en = place or ("全市", "Haikou")
    by = [i for i in items if not i[3]][:2] or items[:1]
    purpose = rng.choice(PURPOSES)
    return (
        f"{where_cn}{topic.chinese}{kind[0]}, 按{'和'.join(i[0] for i in by)}汇总, "
        f"{cycle[1]}更新, 用于{purpose}. "
        f"{topic.english.capitalize()} {kind[1]} for {where_en}, "
        f"by {' and '.join(i[2] for i in by)}, updated {cycle[2]}."
    )


def _pick_items(rng: random.Random, topic: Topic, *, personal_ok: bool) -> list[_Item]:
    own = [i for i in topic.items if personal_ok or not i[3]]
    common = [i for i in COMMON_ITEMS if personal_ok or not i[3]]
    count = rng.randint(3, 12)
    chosen = rng.sample(own, min(len(own), max(2, count - 2)))
    rest = [i for i in common if i[0] not in {c[0] for c in chosen}]
    chosen += rng.sample(rest, max(0, count - len(chosen)))
    return chosen


def _listing(rng: random.Random, *, open_: bool, grade: int, personal: bool) -> dict[str, Any]:
    """Share and open types, with their conditions, that the catalog's rules allow."""
    protected = personal or grade >= pb.DATA_GRADE_SENSITIVE
    fields: dict[str, Any] = {
        "share_methods": rng.sample(
            [pb.SHARE_METHOD_INTERFACE, pb.SHARE_METHOD_FILE, pb.SHARE_METHOD_SUBSCRIPTION],
            rng.randint(1, 2),
        )
    }
    if protected or rng.random() < 0.3:
        fields["share_type"] = pb.SHARE_TYPE_CONDITIONAL
        fields["share_conditions"] = f"仅用于{rng.choice(PURPOSES)} For its stated purpose only"
    else:
        fields["share_type"] = pb.SHARE_TYPE_UNCONDITIONAL
    if open_:
        if protected or rng.random() < 0.25:
            fields["open_type"] = pb.OPEN_TYPE_CONDITIONAL
            fields["open_conditions"] = "注册用户申请后使用 Registered users, on application"
        else:
            fields["open_type"] = pb.OPEN_TYPE_OPEN
    else:
        fields["open_type"] = pb.OPEN_TYPE_NOT_OPEN
    return fields


def generate(count: int, *, now_us: int, first_sequence: int = 1000) -> Iterator[Generated]:
    """`count` resources, the same ones for the same arguments. Codes are numbered from
    `first_sequence` in each classification, clear of the demo's."""
    rng = random.Random(SEED)
    sequences: dict[str, int] = {}
    departments = sorted(TOPICS)
    for _ in range(count):
        department = rng.choice(departments)
        topic = rng.choice(TOPICS[department])
        place = rng.choice(PLACES)
        kind = rng.choice(KINDS)
        cycle = rng.choice(CYCLES)
        open_ = rng.random() < OPEN_SHARE
        grades = [pb.DATA_GRADE_PUBLIC, pb.DATA_GRADE_INTERNAL, pb.DATA_GRADE_SENSITIVE]
        if not open_:
            grades.append(pb.DATA_GRADE_IMPORTANT)
        grade = rng.choices(grades, weights=[40, 35, 20, 5][: len(grades)])[0]
        items = _pick_items(rng, topic, personal_ok=grade >= pb.DATA_GRADE_INTERNAL)
        personal = any(i[3] for i in items)
        classification = pb.Classification(
            category=rng.choice("123"),
            item=rng.choice(CLASS_ITEMS),
            sub_item=rng.choice(CLASS_SUB_ITEMS),
        )
        code_prefix = domain.classification_code(classification)
        sequence = sequences.get(code_prefix, first_sequence)
        sequences[code_prefix] = sequence + 1
        year = f"{rng.randint(2019, 2024)}年" if rng.random() < 0.15 else ""
        where_cn, where_en = place or ("", "")
        name = f"{year}{where_cn}{topic.chinese}{kind[0]} {topic.english.capitalize()} {kind[1]}"
        if where_en:
            name += f", {where_en}"
        keywords = list(topic.keywords)
        if where_cn:
            keywords.append(where_cn)
        keywords.append(rng.choice(PURPOSES))
        content = pb.Resource(
            name=name,
            provider_department=department,
            provider_code=demo.DEPARTMENT_CODES[department],
            classification=classification,
            summary=_summary(rng, place, topic, kind, items, cycle),
            format=rng.choice(FORMATS),
            update_cycle=cycle[0],
            data_grade=grade,
            keywords=keywords,
            data_items=[
                pb.DataItem(name=n, type=t, description=d, personal=p) for n, t, d, p in items
            ],
            **_listing(rng, open_=open_, grade=grade, personal=personal),
        )
        yield Generated(
            content=content,
            resource_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            code=domain.resource_code(classification, sequence),
            open_catalog=open_,
            published_us=now_us - rng.randrange(PUBLISHED_OVER_US),
        )


# --- the query mix ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """One search of the open catalog, as the gateway's query string gives it."""

    q: str
    provider_department: str = ""
    open_type: str = ""  # the gateway's short enum name, e.g. "open"

    def params(self) -> dict[str, str]:
        out = {"q": self.q}
        if self.provider_department:
            out["provider_department"] = self.provider_department
        if self.open_type:
            out["open_type"] = self.open_type
        return out

    def label(self) -> str:
        extra = [f"{k}={v}" for k, v in self.params().items() if k != "q"]
        return " ".join([repr(self.q), *extra])


# What the public types: place names, one- and two-character words, longer phrases, English
# words and prefixes, two words, and a department or open-type filter. Every one matches.
MIX: tuple[Query, ...] = (
    Query("海口"),
    Query("机动车"),
    Query("社会保障"),
    Query("公积金"),
    Query("企业登记"),
    Query("医疗"),
    Query("教育"),
    Query("交通违法"),
    Query("空气质量"),
    Query("气象"),
    Query("人口统计"),
    Query("旅游景区"),
    Query("海"),
    Query("车"),
    Query("vehicle"),
    Query("regist"),
    Query("social security"),
    Query("美兰区 企业"),
    Query("驾驶证", provider_department="psb"),
    Query("统计", open_type="open"),
)


def open_type_value(name: str) -> int:
    """The gateway's short enum name as the store's integer (`open` -> OPEN_TYPE_OPEN)."""
    return int(pb.OpenType.Value(f"OPEN_TYPE_{name.upper()}")) if name else 0

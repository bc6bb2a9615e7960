"""The open catalog's exports: DCAT-AP JSON-LD nodes, CSV rows safe for spreadsheets, and both
streamed page by page through the gateway's real middlewares."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import grpc
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf.timestamp_pb2 import Timestamp

from gateway import catalog_export
from gateway.app import observe
from gateway.catalog_export import (
    PUBLIC_URL,
    csv_chunks,
    csv_header,
    csv_row,
    dcat_dataset,
    jsonld_chunks,
    spreadsheet_safe,
)
from gateway.endpoints import Route, endpoint
from gateway.security import CorsPolicy, cors_middleware, security_headers
from gateway.upstream import Upstream
from runtime.auth import TokenVerifier
from smartcity.catalog.v1 import catalog_pb2 as pb

BASE = "https://data.haikou.example"
EU_FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"
EU_ACCESS = "http://publications.europa.eu/resource/authority/access-right/"
JSONLD_PATH = "/public/v1/catalog/open.jsonld"
CSV_PATH = "/public/v1/catalog/open.csv"


def timestamp(text: str) -> Timestamp:
    ts = Timestamp()
    ts.FromJsonString(text)
    return ts


def resource(n: int = 1, **fields: Any) -> Any:
    """A published resource of the open catalog, as SearchOpenCatalog returns it."""
    values: dict[str, Any] = {
        "id": f"res-{n}",
        "code": f"301001/{n:06d}",
        "name": "机动车登记信息 Motor vehicle registrations",
        "provider_department": "psb",
        "provider_code": "11460100MB1234567X",
        "summary": "全市机动车登记的号牌、车型与使用性质。",
        "classification": pb.Classification(category="3", item="01", sub_item="001"),
        "format": "database",
        "open_type": pb.OPEN_TYPE_CONDITIONAL,
        "open_conditions": "仅用于交通研究并注明出处",
        "update_cycle": pb.UPDATE_CYCLE_DAILY,
        "data_grade": pb.DATA_GRADE_PUBLIC,
        "keywords": ["机动车", "交通"],
        "data_items": [
            pb.DataItem(name="号牌号码", type="string", description="车辆号牌", personal=True),
            pb.DataItem(name="车辆类型", type="string", grade=pb.DATA_GRADE_INTERNAL),
        ],
        "version": 2,
        "publish_time": timestamp("2026-01-31T08:00:00Z"),
        "update_time": timestamp("2026-03-01T09:30:00.250Z"),
    }
    values.update(fields)
    return pb.Resource(**values)


# --- JSON-LD ------------------------------------------------------------------------------


def test_a_dataset_node_describes_the_resource_in_dcat_ap() -> None:
    # given a conditionally open resource
    res = resource()
    # when rendered
    node = dcat_dataset(res, base_url=BASE)
    # then it is a dcat:Dataset identified by its page in the open catalog
    url = f"{BASE}/public/v1/catalog/open/res-1"
    assert node["@id"] == url
    assert node["@type"] == "dcat:Dataset"
    assert node["dct:identifier"] == "301001/000001"
    assert node["dct:title"] == {
        "@value": "机动车登记信息 Motor vehicle registrations",
        "@language": "zh",
    }
    assert node["dct:description"] == {
        "@value": "全市机动车登记的号牌、车型与使用性质。",
        "@language": "zh",
    }
    assert node["dct:publisher"] == {
        "@type": "foaf:Agent",
        "foaf:name": "psb",
        "dct:identifier": "11460100MB1234567X",
    }
    assert node["dcat:keyword"] == [
        {"@value": "机动车", "@language": "zh"},
        {"@value": "交通", "@language": "zh"},
    ]
    assert node["dct:issued"] == {"@value": "2026-01-31T08:00:00Z", "@type": "xsd:dateTime"}
    assert node["dct:modified"] == {"@value": "2026-03-01T09:30:00.250Z", "@type": "xsd:dateTime"}
    assert node["dct:accrualPeriodicity"] == {"@id": EU_FREQUENCY + "DAILY"}
    assert node["dct:accessRights"] == {"@id": EU_ACCESS + "RESTRICTED"}
    assert node["dct:rights"] == {
        "@type": "dct:RightsStatement",
        "rdfs:label": {"@value": "仅用于交通研究并注明出处", "@language": "zh"},
    }
    assert node["dcat:theme"] == {
        "@type": "skos:Concept",
        "skos:notation": "301001",
        "skos:inScheme": {"@id": "sc:classification"},
    }
    assert node["owl:versionInfo"] == "2"
    assert node["dcat:landingPage"] == {"@id": url}
    assert node["dcat:distribution"] == {
        "@type": "dcat:Distribution",
        "dcat:accessURL": {"@id": url},
        "dct:format": "database",
    }
    assert "@context" not in node  # the document has one context, not one per dataset


def test_data_items_are_listed_in_order_without_personal_flags_or_grades() -> None:
    node = dcat_dataset(resource(), base_url=BASE)
    assert node["sc:dataItem"] == {
        "@list": [
            {
                "@type": "sc:DataItem",
                "dct:title": {"@value": "号牌号码", "@language": "zh"},
                "sc:dataType": "string",
                "dct:description": {"@value": "车辆号牌", "@language": "zh"},
            },
            {
                "@type": "sc:DataItem",
                "dct:title": {"@value": "车辆类型", "@language": "zh"},
                "sc:dataType": "string",
            },
        ]
    }
    text = orjson.dumps(node).decode()
    assert "personal" not in text
    assert "grade" not in text


@pytest.mark.parametrize(
    ("cycle", "frequency"),
    [
        (pb.UPDATE_CYCLE_REAL_TIME, "CONT"),
        (pb.UPDATE_CYCLE_DAILY, "DAILY"),
        (pb.UPDATE_CYCLE_WEEKLY, "WEEKLY"),
        (pb.UPDATE_CYCLE_MONTHLY, "MONTHLY"),
        (pb.UPDATE_CYCLE_QUARTERLY, "QUARTERLY"),
        (pb.UPDATE_CYCLE_YEARLY, "ANNUAL"),
        (pb.UPDATE_CYCLE_IRREGULAR, "IRREG"),
    ],
)
def test_update_cycles_map_to_the_eu_frequency_table(cycle: int, frequency: str) -> None:
    node = dcat_dataset(resource(update_cycle=cycle), base_url=BASE)
    assert node["dct:accrualPeriodicity"] == {"@id": EU_FREQUENCY + frequency}


@pytest.mark.parametrize(
    ("open_type", "right"),
    [(pb.OPEN_TYPE_OPEN, "PUBLIC"), (pb.OPEN_TYPE_CONDITIONAL, "RESTRICTED")],
)
def test_open_types_map_to_the_eu_access_right_table(open_type: int, right: str) -> None:
    node = dcat_dataset(resource(open_type=open_type), base_url=BASE)
    assert node["dct:accessRights"] == {"@id": EU_ACCESS + right}


def test_empty_fields_are_left_out_of_the_node() -> None:
    # given an open resource with no conditions, keywords, times, cycle or format
    bare = pb.Resource(
        id="res-9",
        code="101001/000009",
        name="路灯",
        summary="路灯位置",
        provider_department="hcb",
        open_type=pb.OPEN_TYPE_OPEN,
        version=1,
    )
    # when rendered
    node = dcat_dataset(bare, base_url=BASE)
    # then nothing empty is claimed
    for absent in (
        "dcat:keyword",
        "dct:issued",
        "dct:modified",
        "dct:accrualPeriodicity",
        "dct:rights",
    ):
        assert absent not in node, absent
    assert "dct:identifier" not in node["dct:publisher"]
    assert "dct:format" not in node["dcat:distribution"]
    assert node["sc:dataItem"] == {"@list": []}


async def pages_of(*pages: Sequence[Any]) -> AsyncIterator[Sequence[Any]]:
    for page in pages:
        yield page


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


@pytest.mark.parametrize(
    "pages",
    [
        (),
        ([],),
        ([resource(1)],),
        ([resource(1), resource(2)], [], [resource(3)]),
    ],
    ids=["no-pages", "one-empty-page", "one-dataset", "pages-with-an-empty-one"],
)
async def test_the_jsonld_export_is_one_valid_document(pages: tuple[list[Any], ...]) -> None:
    # when the pages are streamed
    body = await collect(jsonld_chunks(pages_of(*pages), base_url=BASE))
    # then the chunks make one JSON-LD document: a catalog holding every dataset in order
    document = orjson.loads(body)
    assert document["@context"]["dcat"] == "http://www.w3.org/ns/dcat#"
    assert document["@context"]["sc"] == f"{BASE}/ns#"
    [catalog] = document["@graph"]
    assert catalog["@type"] == "dcat:Catalog"
    assert catalog["@id"] == f"{BASE}/public/v1/catalog/open"
    assert {"@value": "海口市政务信息资源开放目录", "@language": "zh"} in catalog["dct:title"]
    assert {"@value": "Haikou open catalog", "@language": "en"} in catalog["dct:title"]
    assert {"@value": "海口市大数据管理局", "@language": "zh"} in catalog["dct:publisher"][
        "foaf:name"
    ]
    expected = [r.code for page in pages for r in page]
    assert [d["dct:identifier"] for d in catalog["dcat:dataset"]] == expected


async def test_the_jsonld_export_keeps_chinese_text_as_utf8() -> None:
    body = await collect(jsonld_chunks(pages_of([resource()]), base_url=BASE))
    assert "机动车登记信息".encode() in body  # not \u escapes
    assert body.decode("utf-8")


# --- CSV ----------------------------------------------------------------------------------


def test_the_csv_header_names_the_columns() -> None:
    assert csv_header() == [
        "code",
        "name",
        "provider_department",
        "provider_code",
        "classification",
        "summary",
        "format",
        "open_type",
        "open_conditions",
        "update_cycle",
        "data_grade",
        "keywords",
        "data_items",
        "version",
        "publish_time",
        "update_time",
        "url",
    ]


def test_a_csv_row_holds_the_resource_with_enums_by_short_name() -> None:
    row = dict(zip(csv_header(), csv_row(resource(), base_url=BASE), strict=True))
    assert row == {
        "code": "301001/000001",
        "name": "机动车登记信息 Motor vehicle registrations",
        "provider_department": "psb",
        "provider_code": "11460100MB1234567X",
        "classification": "301001",
        "summary": "全市机动车登记的号牌、车型与使用性质。",
        "format": "database",
        "open_type": "conditional",
        "open_conditions": "仅用于交通研究并注明出处",
        "update_cycle": "daily",
        "data_grade": "public",
        "keywords": "机动车;交通",
        "data_items": "号牌号码;车辆类型",
        "version": "2",
        "publish_time": "2026-01-31T08:00:00Z",
        "update_time": "2026-03-01T09:30:00.250Z",
        "url": f"{BASE}/public/v1/catalog/open/res-1",
    }


def test_unset_times_and_enums_are_empty_cells() -> None:
    row = dict(zip(csv_header(), csv_row(pb.Resource(id="x"), base_url=BASE), strict=True))
    for column in ("open_type", "update_cycle", "data_grade", "publish_time", "update_time"):
        assert row[column] == "", column


@pytest.mark.parametrize(
    "cell",
    [
        '=HYPERLINK("https://evil.example","点击")',
        "+1+2",
        "-2+3",
        "@SUM(A1:A2)",
        "\t=1+1",
        "\r=1+1",
    ],
)
def test_a_cell_that_starts_a_formula_gets_a_leading_quote(cell: str) -> None:
    assert spreadsheet_safe(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["", "机动车", "a=b", "1-2", "'=1", " =1", "2026-01-31T08:00:00Z"])
def test_a_harmless_cell_is_left_alone(cell: str) -> None:
    assert spreadsheet_safe(cell) == cell


def test_every_column_of_a_row_is_escaped() -> None:
    # given text a provider typed, each starting a formula
    res = resource(
        name="=cmd|' /C calc'!A0",
        summary="@SUM(1+1)",
        open_conditions="-1+1",
        keywords=["+机动车", "交通"],
        data_items=[pb.DataItem(name="=号牌", type="string")],
    )
    # when written as a row
    row = dict(zip(csv_header(), csv_row(res, base_url=BASE), strict=True))
    # then no cell starts a formula
    assert row["name"] == "'=cmd|' /C calc'!A0"
    assert row["summary"] == "'@SUM(1+1)"
    assert row["open_conditions"] == "'-1+1"
    assert row["keywords"] == "'+机动车;交通"
    assert row["data_items"] == "'=号牌"


async def test_the_csv_export_starts_with_a_bom_and_reads_back() -> None:
    # given text with the CSV's own separators in it
    tricky = resource(2, summary='含逗号,引号"和\n换行')
    # when two pages are streamed
    body = await collect(csv_chunks(pages_of([resource(1)], [tricky]), base_url=BASE))
    # then a spreadsheet sees UTF-8 and a reader gets back every cell
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert rows[0] == csv_header()
    assert rows[1] == csv_row(resource(1), base_url=BASE)
    assert rows[2][csv_header().index("summary")] == '含逗号,引号"和\n换行'
    assert len(rows) == 3


# --- handlers, through the gateway's middlewares ------------------------------------------


def unavailable() -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "catalog down"
    )


class OpenCatalog:
    """SearchOpenCatalog over a list, paged by offset; unavailable from `fail_at_page` on."""

    def __init__(self, resources: list[Any], *, fail_at_page: int | None = None) -> None:
        self.resources = resources
        self.fail_at_page = fail_at_page
        self.requests: list[Any] = []

    async def SearchOpenCatalog(self, request: Any, *, timeout: float, metadata: Any) -> Any:
        seen = pb.SearchOpenCatalogRequest()
        seen.CopyFrom(request)
        self.requests.append(seen)
        if self.fail_at_page is not None and len(self.requests) > self.fail_at_page:
            raise unavailable()
        start = int(request.page_token or 0)
        end = start + request.page_size
        more = end < len(self.resources)
        return pb.SearchOpenCatalogResponse(
            resources=self.resources[start:end], next_page_token=str(end) if more else ""
        )


async def no_keys() -> str:
    return '{"keys": []}'


@asynccontextmanager
async def gateway(catalog: OpenCatalog) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """The exports as anonymous routes, behind the middlewares `create_app` installs."""
    # The exports call the catalog only; the fake stands in for its stub.
    upstream = Upstream(channels={}, stubs={"catalog": catalog})
    verifier = TokenVerifier(no_keys, issuer=BASE)
    app = web.Application(
        middlewares=[
            security_headers,
            observe,
            cors_middleware(CorsPolicy(public=frozenset({"*"}))),
        ]
    )
    app[PUBLIC_URL] = BASE
    for path, handler in (
        (JSONLD_PATH, catalog_export.export_open_catalog_jsonld),
        (CSV_PATH, catalog_export.export_open_catalog_csv),
    ):
        route = Route(
            method="GET",
            path=path,
            operation_id=path,
            summary="export",
            tag="catalog",
            handler=handler,
            anonymous=True,
        )
        app.router.add_get(path, endpoint(route, upstream=upstream, verifier=verifier))
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_the_jsonld_export_pages_through_the_filtered_catalog() -> None:
    # given 250 open resources: three pages
    catalog = OpenCatalog([resource(n) for n in range(250)])
    async with gateway(catalog) as client:
        # when exported with filters, from a browser
        response = await client.get(
            JSONLD_PATH,
            params={"q": "机动车", "provider_department": "psb", "classification": "301"},
            headers={"Origin": "https://portal.example"},
        )
        body = await response.read()
    # then every resource is in one document
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/ld+json"
    [catalog_node] = orjson.loads(body)["@graph"]
    assert len(catalog_node["dcat:dataset"]) == 250
    assert catalog_node["dcat:dataset"][0]["@id"] == f"{BASE}/public/v1/catalog/open/res-0"
    # and the filters reached every page's search
    assert [r.page_token for r in catalog.requests] == ["", "100", "200"]
    for request in catalog.requests:
        assert (request.query, request.provider_department, request.classification) == (
            "机动车",
            "psb",
            "301",
        )
        assert request.page_size == 100
    # and the middlewares' headers reached the streamed export
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-Request-Id" in response.headers
    assert "traceresponse" in response.headers


async def test_the_csv_export_is_a_download_with_a_bom() -> None:
    catalog = OpenCatalog([resource(n) for n in range(101)])
    async with gateway(catalog) as client:
        response = await client.get(CSV_PATH)
        body = await response.read()
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="open-catalog.csv"'
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert len(rows) == 1 + 101


@pytest.mark.parametrize("path", [JSONLD_PATH, CSV_PATH])
async def test_an_unavailable_catalog_is_a_problem_before_anything_is_sent(path: str) -> None:
    async with gateway(OpenCatalog([resource()], fail_at_page=0)) as client:
        response = await client.get(path)
        problem = await response.json(content_type="application/problem+json")
    assert response.status == 503
    assert problem["status"] == 503


@pytest.mark.parametrize("path", [JSONLD_PATH, CSV_PATH])
async def test_a_failure_mid_stream_cuts_the_export_short_of_its_end(path: str) -> None:
    # given a catalog that fails on the second page
    catalog = OpenCatalog([resource(n) for n in range(150)], fail_at_page=1)
    async with gateway(catalog) as client:
        response = await client.get(path)
        # then the headers said 200, but the client sees that the body is incomplete
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()

"""The open catalog exported as DCAT-AP JSON-LD and as CSV, streamed page by page.

Both exports page through `SearchOpenCatalog` (100 resources a page) and write each page as it
arrives, so that an export of the whole catalog never holds more than one page in memory. The
optional query parameters `q`, `provider_department` and `classification` filter the export as
they filter a search.

JSON-LD follows DCAT-AP (2 and 3): one `dcat:Catalog` whose `dcat:dataset` array holds the
`dcat:Dataset` nodes inline (their ids are only known while streaming). Text is tagged `zh`;
frequencies and access rights are the EU authority tables' URIs. What DCAT-AP has no property
for is in the extension vocabulary `sc:`, the namespace `{base_url}/ns#`:

- `sc:dataItem`: a dataset's data items (信息项), in order (`@list`) of `sc:DataItem` nodes, each
  with `dct:title` (the item's name), `sc:dataType` (string, integer, decimal, boolean, date,
  datetime or binary) and `dct:description`;
- `sc:classification`: the catalog's classification tree (资源分类) as a `skos:ConceptScheme`;
  a dataset's `dcat:theme` is a `skos:Concept` in it whose `skos:notation` is the classification
  code (category, item and sub-item, e.g. "301001").

CSV is UTF-8 with a byte order mark (spreadsheet programs then read Chinese correctly), one row
per resource under `csv_header()`; cells that a spreadsheet would run as a formula are escaped.

The handlers return a `web.Response` whose body is an async iterator rather than preparing a
`web.StreamResponse` themselves: aiohttp then sends the headers only after the middlewares have
returned, so the security headers, CORS, `X-Request-Id` and `traceresponse` reach the export too.
"""

from __future__ import annotations

import asyncio
import contextvars
import csv
import io
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

import grpc
import orjson
from aiohttp import web
from opentelemetry import context as otel_context
from opentelemetry import trace

from gateway import jsonmap
from gateway.endpoints import Call
from runtime import logs, telemetry
from smartcity.catalog.v1 import catalog_pb2

log = logs.get(__name__)

JSONLD_CONTENT_TYPE = "application/ld+json"
CSV_CONTENT_TYPE = "text/csv"
CSV_CHARSET = "utf-8"
CSV_FILENAME = "open-catalog.csv"
PAGE_SIZE = 100  # the most SearchOpenCatalog returns at once

# The gateway's public URL (the token issuer). When the application holds it, identifiers are
# built from it; otherwise from the request, which behind a proxy may name an internal host.
PUBLIC_URL: web.AppKey[str] = web.AppKey("catalog_export_public_url", str)

_FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"
_ACCESS_RIGHT = "http://publications.europa.eu/resource/authority/access-right/"

ACCRUAL_PERIODICITY: Mapping[int, str] = {
    catalog_pb2.UPDATE_CYCLE_REAL_TIME: _FREQUENCY + "CONT",
    catalog_pb2.UPDATE_CYCLE_DAILY: _FREQUENCY + "DAILY",
    catalog_pb2.UPDATE_CYCLE_WEEKLY: _FREQUENCY + "WEEKLY",
    catalog_pb2.UPDATE_CYCLE_MONTHLY: _FREQUENCY + "MONTHLY",
    catalog_pb2.UPDATE_CYCLE_QUARTERLY: _FREQUENCY + "QUARTERLY",
    catalog_pb2.UPDATE_CYCLE_YEARLY: _FREQUENCY + "ANNUAL",
    catalog_pb2.UPDATE_CYCLE_IRREGULAR: _FREQUENCY + "IRREG",
}
ACCESS_RIGHTS: Mapping[int, str] = {
    catalog_pb2.OPEN_TYPE_OPEN: _ACCESS_RIGHT + "PUBLIC",
    catalog_pb2.OPEN_TYPE_CONDITIONAL: _ACCESS_RIGHT + "RESTRICTED",
    # Never in the open catalog; mapped so that a resource listed there by mistake says so.
    catalog_pb2.OPEN_TYPE_NOT_OPEN: _ACCESS_RIGHT + "NON_PUBLIC",
}

CATALOG_TITLE = {"zh": "海口市政务信息资源开放目录", "en": "Haikou open catalog"}
CATALOG_DESCRIPTION = {
    "zh": "海口市各政务部门向社会开放的政务信息资源。",
    "en": "The government information resources that the departments of Haikou open to everyone.",
}
BUREAU_NAME = {"zh": "海口市大数据管理局", "en": "Haikou Big Data Bureau"}

CSV_COLUMNS = (
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
)
# OWASP's list: a cell starting with one of these is a formula to Excel, Calc and Sheets.
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_BOM = "\ufeff".encode()


def jsonld_context(*, base_url: str) -> dict[str, str]:
    """The `@context` of the export: the prefixes it uses, `sc:` included."""
    return {
        "dcat": "http://www.w3.org/ns/dcat#",
        "dct": "http://purl.org/dc/terms/",
        "foaf": "http://xmlns.com/foaf/0.1/",
        "vcard": "http://www.w3.org/2006/vcard/ns#",
        "adms": "http://www.w3.org/ns/adms#",
        "owl": "http://www.w3.org/2002/07/owl#",
        "xsd": "http://www.w3.org/2001/XMLSchema#",
        "skos": "http://www.w3.org/2004/02/skos/core#",
        "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
        "sc": f"{base_url}/ns#",
    }


def landing_page(resource_id: str, *, base_url: str) -> str:
    """The resource's page in the open catalog; also its dataset's `@id`."""
    return f"{base_url}/public/v1/catalog/open/{resource_id}"


def classification_code(resource: catalog_pb2.Resource) -> str:
    """Category, item and sub-item run together, e.g. "301001"."""
    c = resource.classification
    return f"{c.category}{c.item}{c.sub_item}"


def _zh(text: str) -> dict[str, str]:
    return {"@value": text, "@language": "zh"}


def _languages(texts: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"@value": text, "@language": language} for language, text in texts.items()]


def _rfc3339(ts: Any) -> str:
    """RFC 3339 in UTC, as precise as the time is; empty when unset (zero, as in `jsonmap`)."""
    if not ts.seconds and not ts.nanos:
        return ""
    return str(ts.ToJsonString())


def _date_time(ts: Any) -> dict[str, str] | None:
    text = _rfc3339(ts)
    return {"@value": text, "@type": "xsd:dateTime"} if text else None


def dcat_dataset(resource: catalog_pb2.Resource, *, base_url: str) -> dict[str, Any]:
    """One resource of the open catalog as a `dcat:Dataset` node, without `@context`.

    Empty fields are left out. Personal-data flags and item grades are not part of the public
    export.
    """
    url = landing_page(resource.id, base_url=base_url)
    publisher: dict[str, Any] = {"@type": "foaf:Agent", "foaf:name": resource.provider_department}
    if resource.provider_code:
        publisher["dct:identifier"] = resource.provider_code
    node: dict[str, Any] = {
        "@id": url,
        "@type": "dcat:Dataset",
        "dct:identifier": resource.code,
        "dct:title": _zh(resource.name),
        "dct:description": _zh(resource.summary),
        "dct:publisher": publisher,
    }
    if resource.keywords:
        node["dcat:keyword"] = [_zh(word) for word in resource.keywords]
    # dcat:theme, not dct:type: the classification says what a resource is about (its
    # category in the catalog tree), not what kind of dataset it is.
    node["dcat:theme"] = {
        "@type": "skos:Concept",
        "skos:notation": classification_code(resource),
        "skos:inScheme": {"@id": "sc:classification"},
    }
    if issued := _date_time(resource.publish_time):
        node["dct:issued"] = issued
    if modified := _date_time(resource.update_time):
        node["dct:modified"] = modified
    if frequency := ACCRUAL_PERIODICITY.get(resource.update_cycle):
        node["dct:accrualPeriodicity"] = {"@id": frequency}
    if access := ACCESS_RIGHTS.get(resource.open_type):
        node["dct:accessRights"] = {"@id": access}
    if resource.open_conditions:
        node["dct:rights"] = {
            "@type": "dct:RightsStatement",
            "rdfs:label": _zh(resource.open_conditions),
        }
    node["owl:versionInfo"] = str(resource.version)
    node["dcat:landingPage"] = {"@id": url}
    # DCAT-AP puts dct:format on a distribution; the data is reached through the landing page,
    # which DCAT-AP then asks to be the distribution's access URL.
    distribution: dict[str, Any] = {"@type": "dcat:Distribution", "dcat:accessURL": {"@id": url}}
    if resource.format:
        distribution["dct:format"] = resource.format
    node["dcat:distribution"] = distribution
    items = []
    for item in resource.data_items:
        entry: dict[str, Any] = {
            "@type": "sc:DataItem",
            "dct:title": _zh(item.name),
            "sc:dataType": item.type,
        }
        if item.description:
            entry["dct:description"] = _zh(item.description)
        items.append(entry)
    node["sc:dataItem"] = {"@list": items}
    return node


def dcat_catalog(*, base_url: str) -> dict[str, Any]:
    """The `dcat:Catalog` node of the export, without its datasets."""
    return {
        "@id": f"{base_url}/public/v1/catalog/open",
        "@type": "dcat:Catalog",
        "dct:title": _languages(CATALOG_TITLE),
        "dct:description": _languages(CATALOG_DESCRIPTION),
        "dct:publisher": {"@type": "foaf:Agent", "foaf:name": _languages(BUREAU_NAME)},
        "dcat:themeTaxonomy": {
            "@id": "sc:classification",
            "@type": "skos:ConceptScheme",
            "dct:title": _zh("政务信息资源分类"),
        },
    }


def spreadsheet_safe(cell: str) -> str:
    """The cell with a leading `'` when a spreadsheet would otherwise run it as a formula."""
    return "'" + cell if cell.startswith(_FORMULA_TRIGGERS) else cell


def csv_header() -> list[str]:
    return list(CSV_COLUMNS)


def _enum_name(enum: Any, value: int) -> str:
    return jsonmap.enum_names(enum.DESCRIPTOR).get(value, "")


def csv_row(resource: catalog_pb2.Resource, *, base_url: str) -> list[str]:
    """One resource as the cells of `csv_header()`; enums by their short lower-case names, as
    the JSON API writes them."""
    cells = [
        resource.code,
        resource.name,
        resource.provider_department,
        resource.provider_code,
        classification_code(resource),
        resource.summary,
        resource.format,
        _enum_name(catalog_pb2.OpenType, resource.open_type),
        resource.open_conditions,
        _enum_name(catalog_pb2.UpdateCycle, resource.update_cycle),
        _enum_name(catalog_pb2.DataGrade, resource.data_grade),
        ";".join(resource.keywords),
        ";".join(item.name for item in resource.data_items),
        str(resource.version),
        _rfc3339(resource.publish_time),
        _rfc3339(resource.update_time),
        landing_page(resource.id, base_url=base_url),
    ]
    return [spreadsheet_safe(cell) for cell in cells]


def _jsonld_frame(base_url: str) -> tuple[bytes, bytes]:
    """What comes before the first dataset and after the last one."""
    catalog = orjson.dumps(dcat_catalog(base_url=base_url))
    head = b"".join(
        (
            b'{"@context":',
            orjson.dumps(jsonld_context(base_url=base_url)),
            b',"@graph":[',
            catalog[:-1],  # the catalog node left open for its datasets
            b',"dcat:dataset":[',
        )
    )
    return head, b"]}]}"


async def jsonld_chunks(
    pages: AsyncIterable[Sequence[catalog_pb2.Resource]], *, base_url: str
) -> AsyncIterator[bytes]:
    """The JSON-LD document, one chunk per page."""
    head, tail = _jsonld_frame(base_url)
    yield head
    separator = b""
    async for page in pages:
        if not page:
            continue
        datasets = b",".join(orjson.dumps(dcat_dataset(r, base_url=base_url)) for r in page)
        yield separator + datasets
        separator = b","
    yield tail


def _csv_lines(rows: Iterable[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)  # RFC 4180: quoted as needed, CRLF line ends
    return buffer.getvalue().encode()


async def csv_chunks(
    pages: AsyncIterable[Sequence[catalog_pb2.Resource]], *, base_url: str
) -> AsyncIterator[bytes]:
    """The CSV file, byte order mark and header first, then one chunk per page."""
    yield _BOM + _csv_lines([csv_header()])
    async for page in pages:
        yield _csv_lines(csv_row(r, base_url=base_url) for r in page)


def public_base_url(request: web.Request) -> str:
    """The public URL that identifiers start with: `PUBLIC_URL` when set, else the request's."""
    configured = request.app.get(PUBLIC_URL)
    return configured if configured is not None else str(request.url.origin())


async def _open_catalog(call: Call, *, export: str) -> AsyncIterator[Sequence[Any]]:
    """The pages of the open catalog that match the request's filters.

    The first page is fetched before this returns, so that its failure is the response
    (problem+json); the others are fetched while the body is written.
    """
    query = call.request.query
    search = catalog_pb2.SearchOpenCatalogRequest(
        query=query.get("q", ""),
        provider_department=query.get("provider_department", ""),
        classification=query.get("classification", ""),
        page_size=PAGE_SIZE,
        view=catalog_pb2.RESOURCE_VIEW_FULL,  # the data items are part of the export
    )
    first = await call.rpc(call.upstream.catalog.SearchOpenCatalog, search)
    # aiohttp writes the body after the middlewares have returned, when the request's span has
    # ended and its request id is unbound: the rest runs in a copy of this request's context.
    context = contextvars.copy_context()
    return _following_pages(call, search, first, context=context, export=export)


async def _following_pages(
    call: Call,
    search: Any,
    page: Any,
    *,
    context: contextvars.Context,
    export: str,
) -> AsyncIterator[Sequence[Any]]:
    # The span is current in the copy only, which goes with the export: nothing to detach.
    span, _ = context.run(
        telemetry.start_span,
        "export open catalog",
        parent=context.run(otel_context.get_current),
        kind=trace.SpanKind.INTERNAL,
        attributes={"smartcity.export": export},
    )
    started = time.perf_counter()
    resources = 0
    try:
        while True:
            yield page.resources
            resources += len(page.resources)
            if not page.next_page_token:
                break
            search.page_token = page.next_page_token
            try:
                page = await asyncio.create_task(
                    call.rpc(call.upstream.catalog.SearchOpenCatalog, search), context=context
                )
            except grpc.aio.AioRpcError as exc:
                span.set_status(trace.StatusCode.ERROR, "upstream failed mid-stream")
                context.run(
                    log.warning,
                    "open_catalog_export_cut",
                    export=export,
                    resources=resources,
                    grpc_status=exc.code().name,
                )
                # Ending cleanly would pass a truncated export off as complete. aiohttp drops
                # the connection on a ConnectionError without the final chunk: clients see an
                # incomplete body.
                raise ConnectionAbortedError("the open catalog export was cut") from None
        context.run(
            log.info,
            "open_catalog_exported",
            export=export,
            resources=resources,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )
    finally:
        span.set_attribute("smartcity.export.resources", resources)
        span.end()


async def export_open_catalog_jsonld(call: Call) -> web.StreamResponse:
    """`GET` the open catalog as DCAT-AP JSON-LD (`application/ld+json`)."""
    pages = await _open_catalog(call, export="jsonld")
    return web.Response(
        body=jsonld_chunks(pages, base_url=public_base_url(call.request)),
        content_type=JSONLD_CONTENT_TYPE,
    )


async def export_open_catalog_csv(call: Call) -> web.StreamResponse:
    """`GET` the open catalog as CSV (`text/csv; charset=utf-8`), as a download."""
    pages = await _open_catalog(call, export="csv")
    return web.Response(
        body=csv_chunks(pages, base_url=public_base_url(call.request)),
        content_type=CSV_CONTENT_TYPE,
        charset=CSV_CHARSET,
        headers={"Content-Disposition": f'attachment; filename="{CSV_FILENAME}"'},
    )

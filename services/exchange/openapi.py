"""An interface service described as OpenAPI 3.1: what a consumer's developers need to call it
(its parameters and answer typed from the catalog's data items), with nothing else of the
platform. Pure: the service and its resource's data items in, a JSON-ready document out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.exchange import domain
from smartcity.catalog.v1 import catalog_pb2
from smartcity.exchange.v1 import exchange_pb2

# Values travel as text in the data item's type (see exchange.proto, Record).
_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "integer": {"type": "string", "pattern": r"^[+-]?[0-9]+$"},
    "decimal": {"type": "string", "pattern": r"^[+-]?[0-9]+(\.[0-9]+)?$"},
    "boolean": {"type": "string", "enum": ["true", "false"]},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "binary": {"type": "string", "contentEncoding": "base64"},
}


def _field(item: catalog_pb2.DataItem) -> dict[str, Any]:
    schema = dict(_TYPES.get(item.type, {"type": "string"}))
    if item.description:
        schema["description"] = item.description
    return schema


def describe(
    service: exchange_pb2.InterfaceService,
    items: Sequence[catalog_pb2.DataItem],
    *,
    server_url: str,
) -> dict[str, Any]:
    by_name = {item.name: item for item in items}
    parameters = {name: _field(by_name[name]) for name in service.parameters if name in by_name}
    returned = {
        name: {
            **_field(by_name[name]),
            "description": (by_name[name].description + " " if by_name[name].description else "")
            + f'("{domain.MASK}" when outside the caller\'s grant)',
        }
        for name in service.returned_fields
        if name in by_name
    }
    request = {
        "type": "object",
        "required": ["purpose", "authorisation_code"],
        "additionalProperties": False,
        "properties": {
            "parameters": {
                "type": "object",
                "description": "Equality filters; only fields of the caller's grant.",
                "properties": parameters,
                "additionalProperties": False,
            },
            "purpose": {"type": "string", "maxLength": domain.MAX_QUERY_PURPOSE},
            "authorisation_code": {
                "type": "string",
                "description": "The interface authorisation code (接口授权码) issued to you.",
            },
            "limit": {"type": "integer", "minimum": 0, "maximum": domain.MAX_LIMIT},
        },
    }
    answer = {
        "type": "object",
        "properties": {
            "records": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"fields": {"type": "object", "properties": returned}},
                },
            },
            "masked_fields": {
                "type": "array",
                "items": {"type": "string", "enum": list(service.returned_fields)},
            },
            "evidence_id": {"type": "string"},
        },
    }
    operation = {
        "summary": service.description,
        "requestBody": {"required": True, "content": {"application/json": {"schema": request}}},
        "responses": {
            "200": {
                "description": "The records",
                "content": {"application/json": {"schema": answer}},
            },
            "403": {"description": "No live grant, a refused code, or a field outside the grant"},
            "422": {"description": "A parameter the interface does not take, or a bad value"},
            "429": {"description": "The code's rate limit; retry after Retry-After"},
        },
        "security": [{"bearer": []}],
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{service.name} (海口市政务数据共享交换平台 interface service)",
            "version": "1",
        },
        "servers": [{"url": server_url}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": {
            f"/{entry}/v1/exchange/interfaces/{service.name}/query": {
                "post": {**operation, "operationId": f"query_{entry}"}
            }
            for entry in ("office", "partner")
        },
    }

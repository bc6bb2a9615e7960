"""The OpenAPI 3.1 document, generated from the route table and the proto descriptors."""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.timestamp_pb2 import Timestamp

from gateway import jsonmap
from gateway.endpoints import Route, body_required, read_only, reserved_words, statuses
from runtime import constraints, fields, text

# what the field's type holds: a larger number is refused with 400 (jsonmap.OutOfRange)
_INT32 = {"minimum": -(2**31), "maximum": 2**31 - 1}
_INT64 = {"minimum": -(2**63), "maximum": 2**63 - 1}
_SCALARS: dict[int, dict[str, Any]] = {
    # every string the gateway takes is plain text (runtime.text): said here, clients know it
    FieldDescriptor.TYPE_STRING: {"type": "string", "pattern": text.PATTERN},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32", **_INT32},
    FieldDescriptor.TYPE_INT64: {"type": "integer", "format": "int64", **_INT64},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
    FieldDescriptor.TYPE_UINT64: {"type": "integer", "minimum": 0, "maximum": 2**64 - 1},
    FieldDescriptor.TYPE_DOUBLE: {"type": "number"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
}
# JSON object keys are text: how a map's integer and boolean keys are written
_INTEGER_KEY = {"pattern": "^-?[0-9]+$"}
_MAP_KEYS: dict[int, dict[str, Any]] = {
    FieldDescriptor.TYPE_INT32: _INTEGER_KEY,
    FieldDescriptor.TYPE_INT64: _INTEGER_KEY,
    FieldDescriptor.TYPE_SINT32: _INTEGER_KEY,
    FieldDescriptor.TYPE_SINT64: _INTEGER_KEY,
    FieldDescriptor.TYPE_UINT32: {"pattern": "^[0-9]+$"},
    FieldDescriptor.TYPE_UINT64: {"pattern": "^[0-9]+$"},
    FieldDescriptor.TYPE_BOOL: {"enum": ["true", "false"]},
}

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": "Stable in every language."},
        "title": {"type": "string", "description": "In the `Content-Language` negotiated."},
        "status": {"type": "integer"},
        "detail": {
            "type": "string",
            "description": "In the language negotiated where it has a translation, else English "
            "(`Content-Language` then lists both).",
        },
        "instance": {"type": "string"},
        "trace_id": {"type": "string", "description": "Find the request with `smartcity trace`."},
        "service": {
            "type": "string",
            "description": "503: the platform service that is down or cannot authenticate "
            "(not always the one the route calls).",
        },
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "detail": {"type": "string"}},
            },
        },
    },
}


def _ref(descriptor: Any) -> str:
    return str(descriptor.full_name).replace(".", "_")


def _field_schema(field: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any]
    entry = jsonmap.map_fields(field)
    if entry is not None:
        key, value = entry
        schema = {"type": "object", "additionalProperties": _field_schema(value, schemas)}
        if key.type in _MAP_KEYS:
            schema["propertyNames"] = _MAP_KEYS[key.type]
        return schema
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if field.message_type.full_name == Timestamp.DESCRIPTOR.full_name:
            schema = {"type": ["string", "null"], "format": "date-time"}
        else:
            _add_schema(field.message_type, schemas)
            schema = {"$ref": f"#/components/schemas/{_ref(field.message_type)}"}
            if not field.is_repeated:  # an absent object is written null (jsonmap.render)
                schema = {"anyOf": [schema, {"type": "null"}]}
    elif field.type == FieldDescriptor.TYPE_ENUM:
        schema = {"enum": [*jsonmap.enum_names(field.enum_type).values(), None]}
    else:
        schema = dict(_SCALARS.get(field.type, {}))
    found = constraints.rules(field)
    if field.is_repeated:
        if found is not None and found.items is not None:
            schema = _keywords(field, found.items, schema)
        schema = {"type": "array", "items": schema}
    if found is not None:
        schema = _keywords(field, found, schema)
    if fields.OUTPUT_ONLY in fields.behaviours(field):
        schema["readOnly"] = True  # the server sets it; a request sending it is refused
    return schema


_STRING_KEYWORDS = {"min_len": "minLength", "max_len": "maxLength"}
_INTEGER_KEYWORDS = {
    "gte": "minimum",
    "gt": "exclusiveMinimum",
    "lte": "maximum",
    "lt": "exclusiveMaximum",
}
_REPEATED_KEYWORDS = {"min_items": "minItems", "max_items": "maxItems"}


def _string_keywords(found: constraints.Rules, schema: dict[str, Any]) -> None:
    typed = found.typed
    for rule, keyword in _STRING_KEYWORDS.items():
        if typed.HasField(rule):
            schema[keyword] = getattr(typed, rule)
    if typed.HasField("len"):
        schema["minLength"] = schema["maxLength"] = typed.len
    if typed.HasField("pattern"):  # beside the plain-text pattern every string has
        pattern = typed.pattern if not found.ignore_zero else f"^$|{typed.pattern}"
        schema["allOf"] = [{"pattern": pattern}]
    if allowed := list(getattr(typed, "in")):
        schema["enum"] = allowed


def _integer_keywords(found: constraints.Rules, schema: dict[str, Any]) -> None:
    for rule, keyword in _INTEGER_KEYWORDS.items():
        if found.typed.HasField(rule):
            schema.pop(keyword.replace("exclusiveM", "m"), None)  # the type's own bound
            schema[keyword] = getattr(found.typed, rule)


def _enum_keywords(field: Any, found: constraints.Rules, schema: dict[str, Any]) -> None:
    names = jsonmap.enum_names(field.enum_type)
    numbers = set(getattr(found.typed, "in")) or set(names)
    listed = [names[n] for n in names if n in numbers and n not in set(found.typed.not_in)]
    schema["enum"] = [*listed, None]


def _repeated_keywords(found: constraints.Rules, schema: dict[str, Any]) -> None:
    for rule, keyword in _REPEATED_KEYWORDS.items():
        if found.typed.HasField(rule):
            schema[keyword] = getattr(found.typed, rule)
    if found.typed.unique:
        schema["uniqueItems"] = True


def _required(schema: dict[str, Any]) -> dict[str, Any]:
    """A REQUIRED field's schema: absent, null and empty are all refused."""
    if schema.get("type") == "string":
        schema["minLength"] = max(1, schema.get("minLength", 1))
    elif schema.get("type") == "array":
        schema["minItems"] = max(1, schema.get("minItems", 1))
    elif "anyOf" in schema:
        schema = {**schema["anyOf"][0], **{k: v for k, v in schema.items() if k != "anyOf"}}
    return schema


def _keywords(field: Any, found: constraints.Rules, schema: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema keywords for the rules a field declares in proto (runtime.constraints)."""
    schema = dict(schema)
    if found.kind == "string":
        _string_keywords(found, schema)
    elif found.kind in constraints.INTEGERS:
        _integer_keywords(found, schema)
    elif found.kind == "enum":
        _enum_keywords(field, found, schema)
    elif found.kind == "repeated":
        _repeated_keywords(found, schema)
    return _required(schema) if found.required else schema


def _add_schema(descriptor: Any, schemas: dict[str, Any]) -> str:
    name = _ref(descriptor)
    if name not in schemas:
        schemas[name] = {}  # placeholder first: recursive messages terminate
        schemas[name] = {
            "type": "object",
            "additionalProperties": False,
            "properties": {f.name: _field_schema(f, schemas) for f in descriptor.fields},
        }
        required = [f.name for f in descriptor.fields if (r := constraints.rules(f)) and r.required]
        if required:
            schemas[name]["required"] = sorted(required)
    return f"#/components/schemas/{name}"


OAUTH_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "string",
            "enum": [
                "invalid_request",
                "invalid_client",
                "invalid_grant",
                "unauthorized_client",
                "unsupported_grant_type",
                "invalid_scope",
            ],
        },
        "error_description": {"type": "string"},
    },
}


_PAGE = {"description": "An HTML page.", "content": {"text/html": {"schema": {"type": "string"}}}}


def _text(**extra: Any) -> dict[str, Any]:
    return {"type": "string", "pattern": text.PATTERN, **extra}


_QUERY_TYPES: dict[str, dict[str, Any]] = {
    "integer": {"type": "integer", "format": "int32", **_INT32},
    "int64": {"type": "integer", "format": "int64", **_INT64},
    "boolean": {"type": "boolean"},
}


def _parameters(
    route: Route, reserved: dict[tuple[str, int], frozenset[str]]
) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for i, segment in enumerate(route.path.split("/")):
        if not segment.startswith("{"):
            continue
        schema = _text(minLength=1)
        if words := reserved.get((route.path, i)):
            schema["not"] = {"enum": sorted(words)}  # those name routes of their own
        params.append({"name": segment[1:-1], "in": "path", "required": True, "schema": schema})
    params += [
        {
            "name": q.name,
            "in": "query",
            "description": q.description,
            "schema": _QUERY_TYPES.get(q.type) or _text(),
        }
        for q in route.query
    ]
    if route.idempotency_key:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "description": "Retrying with the same key returns the first result.",
                "schema": _text(maxLength=100),
            }
        )
    return params


def _operation(
    route: Route, schemas: dict[str, Any], reserved: dict[tuple[str, int], frozenset[str]]
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
        "responses": {},
    }
    if params := _parameters(route, reserved):
        op["parameters"] = params
    if route.body is not None:
        schema: dict[str, Any] = {"$ref": _add_schema(route.body.DESCRIPTOR, schemas)}
        refused = read_only(route)
        if refused:
            # OUTPUT_ONLY fields say readOnly in the message's schema; the route's own here
            own = sorted(refused - fields.output_only(route.body.DESCRIPTOR))
            schema = {
                "allOf": [schema, {"properties": {name: {"readOnly": True} for name in own}}],
                "description": "Read-only fields are refused: " + ", ".join(sorted(refused)),
            }
        op["requestBody"] = {
            "required": body_required(route),
            "content": {"application/json": {"schema": schema}},
        }
    if route.form:
        form_fields = {f.name: {"type": f.type, "description": f.description} for f in route.form}
        form_schema = {"type": "object", "properties": form_fields}
        op["requestBody"] = {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": form_schema}},
        }
    ok: dict[str, Any] = {"description": "Success"}
    if route.response is not None:
        ok["content"] = {
            "application/json": {
                "schema": {"$ref": _add_schema(route.response.DESCRIPTOR, schemas)}
            }
        }
    op["responses"][str(route.status)] = ok
    for status in route.errors if route.form else statuses(route):
        if status in route.pages:
            op["responses"][str(status)] = _PAGE
            continue
        answer = "OAuthError" if status in route.oauth_errors else "Problem"
        op["responses"][str(status)] = {"$ref": f"#/components/responses/{answer}"}
    if route.audience is not None:
        op["security"] = [{"bearer": []}]
        audiences = ", ".join(f"`{a}`" for a in route.audiences)
        op["description"] = f"Requires an access token for the {audiences} audience."
    else:
        op["security"] = []  # anonymous: no credentials (a token endpoint reads its own form)
    return op


def document(routes: tuple[Route, ...], *, server: str = "") -> dict[str, Any]:
    """The OpenAPI 3.1 document of the routes; `server`: the gateway's public URL."""
    schemas: dict[str, Any] = {"Problem": PROBLEM}
    paths: dict[str, Any] = {}
    reserved = reserved_words(routes)
    for route in routes:
        operation = _operation(route, schemas, reserved)
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    for path, summary in (
        ("/healthz", "The gateway process is up."),
        ("/readyz", "Every service answers."),
    ):
        paths[path] = {
            "get": {
                "summary": summary,
                "tags": ["operations"],
                "security": [],
                "responses": {"200": {"description": "OK"}, "503": {"description": "Not ready"}},
            }
        }
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Haikou smart-city platform gateway",
            "version": "1.0.0",
            "description": "The unified public service entry point (/public) for citizens and "
            "enterprises, the unified office entry point (/office) for government staff, and the "
            "partner entry point (/partner). A token is accepted only at the entry point it was "
            "issued for. Errors are RFC 9457 problem+json; every response carries a W3C "
            "traceresponse header. Problems honour Accept-Language: title and detail in Chinese "
            "(zh-CN, zh, zh-Hans) or English (the default); type, status, fields and rule codes "
            "are the same in both.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {
                "Problem": {
                    "description": "A problem (RFC 9457).",
                    "headers": {
                        "Content-Language": {
                            "description": "`en`, `zh-CN`, or `zh-CN, en` when some text has "
                            "no Chinese translation and stays English.",
                            "schema": {"type": "string"},
                        },
                    },
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    },
                },
                "OAuthError": {
                    "description": "An OAuth 2.0 error (RFC 6749 section 5.2).",
                    "content": {"application/json": {"schema": OAUTH_ERROR}},
                },
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
    if server:
        doc["servers"] = [{"url": server, "description": "the gateway"}]
    return doc

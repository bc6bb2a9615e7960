"""Tests for proto/lint.py: the real contracts are clean and each rule catches its mistake."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    # proto/ is not a package, so load the script by path; dataclasses look the module up in
    # sys.modules while the class body runs, hence the registration before exec_module.
    spec = importlib.util.spec_from_file_location("proto_lint", ROOT / "proto" / "lint.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


proto_lint = _load()

# A clean file exercising what must not be flagged: nested types, proto3 optional (synthetic
# oneof "_nick_name"), map fields (synthetic FooCountsEntry), a real oneof and an import.
GOOD = """\
syntax = "proto3";

// Foo is a test service.
package smartcity.foo.v1;

import "google/protobuf/timestamp.proto";

// FooService serves foos.
service FooService {
  // GetFoo returns one foo.
  rpc GetFoo(GetFooRequest) returns (GetFooResponse);
  // ListFoos pages through foos.
  rpc ListFoos(ListFoosRequest) returns (ListFoosResponse);
}

// Color is a foo's colour.
enum Color {
  COLOR_UNSPECIFIED = 0;
  COLOR_RED = 1;
}

// Foo is a thing.
message Foo {
  // Kind is nested.
  enum Kind {
    KIND_UNSPECIFIED = 0;
    KIND_BIG = 1;
  }
  // Part is nested.
  message Part {
    string part_name = 1;
  }
  string id = 1;
  Color color = 2;
  optional string nick_name = 3;
  map<string, int32> counts = 4;
  oneof owner {
    string user_id = 5;
    string group_id = 6;
  }
  Kind kind = 7;
  repeated Part parts = 8;
  google.protobuf.Timestamp create_time = 9;
}

message GetFooRequest {
  string id = 1;
}

message GetFooResponse {
  Foo foo = 1;
}

message ListFoosRequest {
  int32 page_size = 1;
}

message ListFoosResponse {
  repeated Foo foos = 1;
}
"""

FOO = "smartcity/foo/v1/foo.proto"


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _edit(*replacements: tuple[str, str]) -> str:
    text = GOOD
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def _rules(root: Path) -> set[str]:
    return {p.rule for p in proto_lint.lint(root)}


def test_real_proto_tree_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert proto_lint.main([str(ROOT / "proto")]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("rel", "package"),
    [(FOO, "smartcity.foo.v1"), ("smartcity/foo/v1beta1/foo.proto", "smartcity.foo.v1beta1")],
)
def test_good_file_is_clean(tmp_path: Path, rel: str, package: str) -> None:
    _write(tmp_path, rel, _edit(("package smartcity.foo.v1;", f"package {package};")))
    assert proto_lint.lint(tmp_path) == []


CASES: list[tuple[str, str, str, set[str]]] = [
    # (id, file path, text, exactly the rules expected)
    ("service-suffix", FOO, _edit(("service FooService", "service FooApi")), {"SERVICE_SUFFIX"}),
    (
        "service-case",
        FOO,
        _edit(("service FooService", "service foo_Service")),
        {"SERVICE_PASCAL_CASE"},
    ),
    (
        "enum-zero-suffix",
        FOO,
        _edit(("COLOR_UNSPECIFIED = 0", "COLOR_NONE = 0")),
        {"ENUM_ZERO_VALUE_SUFFIX"},
    ),
    ("enum-value-prefix", FOO, _edit(("COLOR_RED = 1", "RED = 1")), {"ENUM_VALUE_PREFIX"}),
    (
        "enum-value-case",
        FOO,
        _edit(("COLOR_RED = 1", "COLOR_Red = 1")),
        {"ENUM_VALUE_UPPER_SNAKE_CASE"},
    ),
    (
        "enum-case",
        FOO,
        _edit(("enum Color {", "enum color {"), ("Color color = 2", "color colour = 2")),
        {"ENUM_PASCAL_CASE"},
    ),
    (
        "package-directory",
        FOO,
        _edit(("package smartcity.foo.v1;", "package smartcity.bar.v1;")),
        {"PACKAGE_DIRECTORY_MATCH"},
    ),
    (
        "package-defined",
        FOO,
        _edit(("package smartcity.foo.v1;\n", "")),
        {"PACKAGE_DEFINED"},
    ),
    (
        "package-version",
        "smartcity/foo/foo.proto",
        _edit(("package smartcity.foo.v1;", "package smartcity.foo;")),
        {"PACKAGE_VERSION_SUFFIX", "PACKAGE_SMARTCITY_LAYOUT"},
    ),
    (
        "package-house-rule",
        "acme/foo/v1/foo.proto",
        _edit(("package smartcity.foo.v1;", "package acme.foo.v1;")),
        {"PACKAGE_SMARTCITY_LAYOUT"},
    ),
    (
        "package-case",
        "smartcity/fooBar/v1/foo.proto",
        _edit(("package smartcity.foo.v1;", "package smartcity.fooBar.v1;")),
        {"PACKAGE_LOWER_SNAKE_CASE"},
    ),
    ("file-case", "smartcity/foo/v1/FooApi.proto", GOOD, {"FILE_LOWER_SNAKE_CASE"}),
    (
        "message-case",
        FOO,
        _edit(("message Part {", "message part {"), ("repeated Part parts", "repeated part parts")),
        {"MESSAGE_PASCAL_CASE"},
    ),
    (
        "field-case",
        FOO,
        _edit(("string part_name = 1", "string partName = 1")),
        {"FIELD_LOWER_SNAKE_CASE"},
    ),
    ("oneof-case", FOO, _edit(("oneof owner", "oneof Owner")), {"ONEOF_LOWER_SNAKE_CASE"}),
    (
        "rpc-case",
        FOO,
        _edit(("rpc GetFoo(", "rpc get_foo(")),
        {"RPC_PASCAL_CASE", "RPC_REQUEST_STANDARD_NAME", "RPC_RESPONSE_STANDARD_NAME"},
    ),
    (
        "rpc-request-name",
        FOO,
        _edit(
            ("rpc GetFoo(GetFooRequest)", "rpc GetFoo(FooQuery)"), ("GetFooRequest {", "FooQuery {")
        ),
        {"RPC_REQUEST_STANDARD_NAME"},
    ),
    (
        "rpc-response-name",
        FOO,
        _edit(
            ("returns (ListFoosResponse)", "returns (FooPage)"), ("ListFoosResponse {", "FooPage {")
        ),
        {"RPC_RESPONSE_STANDARD_NAME"},
    ),
    (
        "rpc-request-reused",
        FOO,
        _edit(
            ("rpc ListFoos(ListFoosRequest)", "rpc ListFoos(GetFooRequest)"),
            ("message ListFoosRequest {\n  int32 page_size = 1;\n}\n\n", ""),
        ),
        {"RPC_REQUEST_RESPONSE_UNIQUE", "RPC_REQUEST_STANDARD_NAME"},
    ),
    (
        "comment-service",
        FOO,
        _edit(("// FooService serves foos.\n", "")),
        {"COMMENT_SERVICE"},
    ),
    ("comment-rpc", FOO, _edit(("  // ListFoos pages through foos.\n", "")), {"COMMENT_RPC"}),
    ("comment-message", FOO, _edit(("// Foo is a thing.\n", "")), {"COMMENT_MESSAGE"}),
    ("comment-enum", FOO, _edit(("// Color is a foo's colour.\n", "")), {"COMMENT_ENUM"}),
    ("comment-nested-enum", FOO, _edit(("  // Kind is nested.\n", "")), {"COMMENT_ENUM"}),
    (
        "import-unused",
        FOO,
        _edit(("google.protobuf.Timestamp create_time", "string create_time")),
        {"IMPORT_USED"},
    ),
    ("compile-error", FOO, _edit(("Color color = 2", "Colour color = 2")), {"COMPILE"}),
]


@pytest.mark.parametrize(
    ("rel", "text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule_catches_mistake(tmp_path: Path, rel: str, text: str, expected: set[str]) -> None:
    _write(tmp_path, rel, text)
    assert _rules(tmp_path) == expected


def test_request_reused_across_files(tmp_path: Path) -> None:
    _write(tmp_path, FOO, GOOD)
    _write(
        tmp_path,
        "smartcity/foo/v1/admin.proto",
        'syntax = "proto3";\n\n// Admin.\npackage smartcity.foo.v1;\n\n'
        'import "smartcity/foo/v1/foo.proto";\n\n'
        "// AdminService administers foos.\nservice AdminService {\n"
        "  // GetFoo returns one foo, for admins.\n"
        "  rpc GetFoo(GetFooRequest) returns (GetFooResponse);\n}\n",
    )
    problems = proto_lint.lint(tmp_path)
    assert {p.rule for p in problems} == {"RPC_REQUEST_RESPONSE_UNIQUE"}
    # Request and response, each reported at both RPCs.
    assert {(Path(p.path).name, p.line) for p in problems} == {
        ("foo.proto", 11),
        ("admin.proto", 11),
    }
    assert len(problems) == 4


def test_main_prints_path_line_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = _edit(("  // ListFoos pages through foos.\n", ""))
    _write(tmp_path, FOO, text)
    line = (
        text.splitlines().index("  rpc ListFoos(ListFoosRequest) returns (ListFoosResponse);") + 1
    )
    assert proto_lint.main([str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    assert out[0].startswith(f"{tmp_path.resolve() / FOO}:{line}: COMMENT_RPC ")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("DataGrade", "DATA_GRADE"), ("Color", "COLOR"), ("HTTPStatus", "HTTP_STATUS")],
)
def test_upper_snake(name: str, expected: str) -> None:
    assert proto_lint.upper_snake(name) == expected

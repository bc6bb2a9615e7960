"""Buf-style lint for the contracts under proto/, for a tree without the ``buf`` binary.

Partners generate clients from proto/ alone, so its names, layout and comments are the API.
Every .proto under the root is compiled with grpc_tools' bundled protoc into a FileDescriptorSet
with source info, and the descriptors are checked against buf STANDARD-like rules plus the house
rule that packages are ``smartcity.<service>.<version>``.

Usage: ``python proto/lint.py [PROTO_ROOT]`` (default: this script's directory). Prints one
``path:line: RULE_ID message`` line per problem and exits 1, or exits 0 when clean.
"""

from __future__ import annotations

import argparse
import importlib.resources
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from google.api import field_behavior_pb2
from google.protobuf.descriptor_pb2 import (
    DescriptorProto,
    EnumDescriptorProto,
    FileDescriptorProto,
    FileDescriptorSet,
)

# Field numbers of the descriptor.proto fields that make up SourceCodeInfo location paths.
_FILE_PACKAGE = 2
_FILE_MESSAGE = 4
_FILE_ENUM = 5
_FILE_SERVICE = 6
_MESSAGE_FIELD = 2
_MESSAGE_NESTED = 3
_MESSAGE_ENUM = 4
_MESSAGE_ONEOF = 8
_ENUM_VALUE = 2
_SERVICE_METHOD = 2
_METHOD_INPUT = 2
_METHOD_OUTPUT = 3

_PASCAL = re.compile(r"[A-Z][A-Za-z0-9]*")
_LOWER_SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
_UPPER_SNAKE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
# buf's accepted version components: v1, v2, v1beta1, v1alpha, v1p1beta1, v1test, v1testfoo.
_VERSION = re.compile(r"v\d+(?:test[a-z0-9]*|(?:p\d+)?(?:alpha|beta)\d*)?")
_PROTOC_LINE = re.compile(r"(?P<file>[^:]+\.proto)(?::(?P<line>\d+)(?::\d+)?)?: (?P<msg>.*)")
_UNUSED_IMPORT = re.compile(r"warning: Import (?P<dep>\S+) is unused\.")

_Loc = tuple[int, ...]
# Contracts vendored under the root with their licence, imported by ours, not ours to lint:
# protovalidate's constraint vocabulary (`buf.validate`).
VENDORED = ("buf/",)
# google/api/field_behavior.proto, shipped by googleapis-common-protos beside its Python module
_GOOGLEAPIS = Path(field_behavior_pb2.__file__).parents[2]


@dataclass(frozen=True)
class Problem:
    """One lint finding; ``path`` is the resolved lint root joined with the file's import path."""

    path: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule} {self.message}"


def upper_snake(name: str) -> str:
    """PascalCase to UPPER_SNAKE_CASE as buf derives enum prefixes: DataGrade -> DATA_GRADE."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return name.upper()


class _File:
    """A linted file with its SourceCodeInfo indexed by location path."""

    def __init__(self, fd: FileDescriptorProto, display: str) -> None:
        self.fd = fd
        self.display = display
        self.lines: dict[_Loc, int] = {}
        self.comments: dict[_Loc, str] = {}
        for loc in fd.source_code_info.location:
            key = tuple(loc.path)
            # A path can recur (e.g. split declarations); the first location is the declaration.
            if key not in self.lines:
                self.lines[key] = loc.span[0] + 1
                self.comments[key] = loc.leading_comments

    def problem(self, path: _Loc, rule: str, message: str) -> Problem:
        return Problem(self.display, self.lines.get(path, 1), rule, message)

    def has_comment(self, path: _Loc) -> bool:
        return bool(self.comments.get(path, "").strip())


@dataclass(frozen=True)
class _RpcUse:
    file: _File
    path: _Loc
    rpc: str
    role: str


def lint(root: Path) -> list[Problem]:
    """Lint every .proto under ``root`` (the include root, like buf's module root)."""
    root = root.resolve()
    names = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*.proto")
        if p.is_file() and not p.relative_to(root).as_posix().startswith(VENDORED)
    )
    if not names:
        return []
    fds, problems = _compile(root, names)
    if fds is None:
        return problems
    # --include_imports adds google/* and other dependencies; lint only what we were given.
    ours = set(names)
    files = [_File(fd, str(root / fd.name)) for fd in fds.file if fd.name in ours]

    rpc_types: set[str] = set()
    uses: dict[str, list[_RpcUse]] = defaultdict(list)
    for f in files:
        for si, service in enumerate(f.fd.service):
            for mi, method in enumerate(service.method):
                path = (_FILE_SERVICE, si, _SERVICE_METHOD, mi)
                rpc = f"{service.name}.{method.name}"
                for role, type_name, field in (
                    ("request", method.input_type, _METHOD_INPUT),
                    ("response", method.output_type, _METHOD_OUTPUT),
                ):
                    rpc_types.add(type_name)
                    uses[type_name].append(_RpcUse(f, (*path, field), rpc, role))

    for f in files:
        problems.extend(_lint_file(f, rpc_types))

    for type_name, type_uses in uses.items():
        if len(type_uses) < 2:
            continue
        # Shared request/response types couple RPCs: changing one silently changes the other.
        users = ", ".join(f"{u.rpc} ({u.role})" for u in type_uses)
        for u in type_uses:
            problems.append(
                u.file.problem(
                    u.path,
                    "RPC_REQUEST_RESPONSE_UNIQUE",
                    f'"{type_name.lstrip(".")}" is used by more than one RPC: {users}.',
                )
            )
    return sorted(problems, key=lambda p: (p.path, p.line, p.rule, p.message))


def _compile(root: Path, names: list[str]) -> tuple[FileDescriptorSet | None, list[Problem]]:
    """Run protoc; return the descriptor set (None if it failed) and protoc's findings."""
    include = importlib.resources.files("grpc_tools") / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "descriptors.pb"
        # A subprocess, because in-process protoc writes its diagnostics straight to fd 2.
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                f"-I{root}",
                f"-I{include}",
                f"-I{_GOOGLEAPIS}",
                "--include_source_info",
                "--include_imports",
                f"--descriptor_set_out={out}",
                *names,
            ],
            cwd=root,  # relative names must resolve against the root, not the caller's cwd
            capture_output=True,
            text=True,
            check=False,
        )
        problems = _protoc_problems(root, proc.stderr, failed=proc.returncode != 0)
        if proc.returncode != 0:
            if not problems:
                problems.append(
                    Problem(str(root), 1, "COMPILE", f"protoc exited {proc.returncode}")
                )
            return None, problems
        return FileDescriptorSet.FromString(out.read_bytes()), problems


def _protoc_problems(root: Path, stderr: str, *, failed: bool) -> list[Problem]:
    problems: list[Problem] = []
    for raw in stderr.splitlines():
        text = raw.strip()
        # absl's banner about its own log setup says nothing about the protos.
        if not text or text.startswith("WARNING: All log messages before absl::InitializeLog()"):
            continue
        m = _PROTOC_LINE.fullmatch(text)
        path = str(root / m["file"]) if m else str(root)
        line = int(m["line"]) if m and m["line"] else 1
        msg = m["msg"] if m else text
        # protoc's unused-import warning gives buf's IMPORT_USED for free.
        unused = _UNUSED_IMPORT.fullmatch(msg)
        if unused:
            problems.append(Problem(path, line, "IMPORT_USED", f'"{unused["dep"]}" is unused.'))
        elif failed:
            problems.append(Problem(path, line, "COMPILE", msg))
    return problems


# Complex on purpose: one check per buf-style rule, read top to bottom.
def _lint_file(f: _File, rpc_types: set[str]) -> Iterable[Problem]:  # noqa: C901 (one check per buf-style rule, read top to bottom)  # noqa: C901
    fd = f.fd
    stem = Path(fd.name).name.removesuffix(".proto")
    if not _LOWER_SNAKE.fullmatch(stem):
        yield f.problem(
            (),
            "FILE_LOWER_SNAKE_CASE",
            f'File name "{stem}.proto" should be lower_snake_case.proto.',
        )
    yield from _lint_package(f)

    prefix = f".{fd.package}." if fd.package else "."
    for i, message in enumerate(fd.message_type):
        path = (_FILE_MESSAGE, i)
        # Requests and responses are documented by their RPC; everything else needs its own words.
        if prefix + message.name not in rpc_types and not f.has_comment(path):
            yield f.problem(
                path, "COMMENT_MESSAGE", f'Message "{message.name}" should have a leading comment.'
            )
        yield from _lint_message(f, message, path)
    for i, enum in enumerate(fd.enum_type):
        yield from _lint_enum(f, enum, (_FILE_ENUM, i))

    for si, service in enumerate(fd.service):
        spath = (_FILE_SERVICE, si)
        if not _PASCAL.fullmatch(service.name):
            yield f.problem(
                spath, "SERVICE_PASCAL_CASE", f'Service "{service.name}" should be PascalCase.'
            )
        if not service.name.endswith("Service"):
            yield f.problem(
                spath, "SERVICE_SUFFIX", f'Service "{service.name}" should end in "Service".'
            )
        if not f.has_comment(spath):
            yield f.problem(
                spath, "COMMENT_SERVICE", f'Service "{service.name}" should have a leading comment.'
            )
        for mi, method in enumerate(service.method):
            mpath = (*spath, _SERVICE_METHOD, mi)
            rpc = f"{service.name}.{method.name}"
            if not _PASCAL.fullmatch(method.name):
                yield f.problem(mpath, "RPC_PASCAL_CASE", f'RPC "{rpc}" should be PascalCase.')
            if not f.has_comment(mpath):
                yield f.problem(mpath, "COMMENT_RPC", f'RPC "{rpc}" should have a leading comment.')
            for rule, type_name, field, want in (
                ("RPC_REQUEST_STANDARD_NAME", method.input_type, _METHOD_INPUT, "Request"),
                ("RPC_RESPONSE_STANDARD_NAME", method.output_type, _METHOD_OUTPUT, "Response"),
            ):
                got = type_name.rsplit(".", 1)[-1]
                if got != method.name + want:
                    yield f.problem(
                        (*mpath, field),
                        rule,
                        f'RPC "{rpc}" uses "{got}"; it should be "{method.name}{want}".',
                    )


def _lint_package(f: _File) -> Iterable[Problem]:
    package = f.fd.package
    ppath = (_FILE_PACKAGE,)
    if not package:
        yield f.problem((), "PACKAGE_DEFINED", "File should declare a package.")
        return
    parts = package.split(".")
    directory = Path(f.fd.name).parent.as_posix()
    if directory != "/".join(parts):
        yield f.problem(
            ppath,
            "PACKAGE_DIRECTORY_MATCH",
            f'Package "{package}" should be in directory "{"/".join(parts)}", not "{directory}".',
        )
    if not all(_LOWER_SNAKE.fullmatch(p) for p in parts):
        yield f.problem(
            ppath, "PACKAGE_LOWER_SNAKE_CASE", f'Package "{package}" should be lower_snake.case.'
        )
    if not _VERSION.fullmatch(parts[-1]):
        yield f.problem(
            ppath,
            "PACKAGE_VERSION_SUFFIX",
            f'Package "{package}" should end in a version such as "v1" or "v1beta1".',
        )
    # House rule: one package per service and version, under the smartcity root.
    if len(parts) != 3 or parts[0] != "smartcity":
        yield f.problem(
            ppath,
            "PACKAGE_SMARTCITY_LAYOUT",
            f'Package "{package}" should be "smartcity.<service>.v<N>".',
        )


def _lint_message(f: _File, message: DescriptorProto, path: _Loc) -> Iterable[Problem]:
    if message.options.map_entry:
        return  # synthesised by protoc for map<,> fields; not ours to name
    if not _PASCAL.fullmatch(message.name):
        yield f.problem(
            path, "MESSAGE_PASCAL_CASE", f'Message "{message.name}" should be PascalCase.'
        )
    synthetic_oneofs: set[int] = set()
    for i, field in enumerate(message.field):
        if field.proto3_optional:
            synthetic_oneofs.add(field.oneof_index)
        if not _LOWER_SNAKE.fullmatch(field.name):
            yield f.problem(
                (*path, _MESSAGE_FIELD, i),
                "FIELD_LOWER_SNAKE_CASE",
                f'Field "{message.name}.{field.name}" should be lower_snake_case.',
            )
    for i, oneof in enumerate(message.oneof_decl):
        # proto3 `optional` creates a oneof named "_field"; it is not written by the author.
        if i not in synthetic_oneofs and not _LOWER_SNAKE.fullmatch(oneof.name):
            yield f.problem(
                (*path, _MESSAGE_ONEOF, i),
                "ONEOF_LOWER_SNAKE_CASE",
                f'Oneof "{message.name}.{oneof.name}" should be lower_snake_case.',
            )
    for i, nested in enumerate(message.nested_type):
        yield from _lint_message(f, nested, (*path, _MESSAGE_NESTED, i))
    for i, enum in enumerate(message.enum_type):
        yield from _lint_enum(f, enum, (*path, _MESSAGE_ENUM, i))


def _lint_enum(f: _File, enum: EnumDescriptorProto, path: _Loc) -> Iterable[Problem]:
    if not _PASCAL.fullmatch(enum.name):
        yield f.problem(path, "ENUM_PASCAL_CASE", f'Enum "{enum.name}" should be PascalCase.')
    if not f.has_comment(path):
        yield f.problem(path, "COMMENT_ENUM", f'Enum "{enum.name}" should have a leading comment.')
    prefix = upper_snake(enum.name) + "_"
    for i, value in enumerate(enum.value):
        vpath = (*path, _ENUM_VALUE, i)
        if not _UPPER_SNAKE.fullmatch(value.name):
            yield f.problem(
                vpath,
                "ENUM_VALUE_UPPER_SNAKE_CASE",
                f'Enum value "{value.name}" should be UPPER_SNAKE_CASE.',
            )
        if not value.name.startswith(prefix):
            yield f.problem(
                vpath,
                "ENUM_VALUE_PREFIX",
                f'Enum value "{value.name}" should be prefixed with "{prefix}".',
            )
        if value.number == 0 and not value.name.endswith("_UNSPECIFIED"):
            yield f.problem(
                vpath,
                "ENUM_ZERO_VALUE_SUFFIX",
                f'Enum zero value "{value.name}" should end in "_UNSPECIFIED".',
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("root", nargs="?", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    root: Path = args.root
    if not root.is_dir():
        parser.error(f"{root} is not a directory")
    problems = lint(root)
    cwd = Path.cwd()
    for p in problems:
        # Paths relative to the caller's cwd, so editors and terminals can jump to them.
        shown = Path(p.path)
        path = shown.relative_to(cwd) if shown.is_relative_to(cwd) else shown
        print(f"{path}:{p.line}: {p.rule} {p.message}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

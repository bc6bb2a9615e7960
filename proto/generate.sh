#!/usr/bin/env bash
# Generates Python code for every .proto under proto/ into OUT (default: the repository root),
# as the package tree `smartcity/...` that mirrors the proto packages. Never edit the output.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$(dirname "$here")}
py=$(command -v "${PYTHON:-python}"); py=$(cd "$(dirname "$py")" && pwd)/$(basename "$py")
bindir=$(dirname "$py")
rm -rf "$out/smartcity" "$out/buf"
mkdir -p "$out"
# google/api/field_behavior.proto comes with googleapis-common-protos (a locked dependency)
googleapis=$("$py" -c 'import pathlib, google.api.field_behavior_pb2 as m; print(pathlib.Path(m.__file__).parents[2])')
cd "$here"
PATH="$bindir:$PATH" "$py" -m grpc_tools.protoc -I. -I"$googleapis" \
  --python_out="$out" --grpc_python_out="$out" --mypy_out="$out" --mypy_grpc_out="$out" \
  $(find smartcity buf -name '*.proto' | sort)
find "$out/smartcity" "$out/buf" -type d -exec sh -c 'printf "" > "$1/__init__.py"' _ {} \;

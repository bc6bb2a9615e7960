"""Services share only proto/ (the generated `smartcity` package) and runtime/: no service imports
another, the runtime imports no service, and the gateway reaches the services over gRPC only.

Read from the source with `ast`, every import statement anywhere in a module (inside functions
too, where the lazy ones hide). The composition root at the top of services/ (`registry.py`,
`platform.py`) is the one place that knows every service.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "__init__.py").exists())


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every module a source file imports, `from a import b` as `a.b`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_of(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing package
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def _sources(top: str) -> list[Path]:
    return sorted(p for p in (ROOT / top).rglob("*.py") if "node_modules" not in p.parts)


def _service_of(module: str) -> str | None:
    """The service a module belongs to (`services.<name>…`), else None."""
    parts = module.split(".")
    if parts[0] == "services" and len(parts) > 1 and parts[1] in SERVICES:
        return parts[1]
    return None


def violations(top: str) -> list[str]:
    found: list[str] = []
    for path in _sources(top):
        own = _service_of(_module_of(path))
        for line, module in imported(path):
            if not (module == "services" or module.startswith("services.")):
                continue
            where = f"{path.relative_to(ROOT)}:{line} imports {module}"
            if top != "services":
                found.append(where)  # runtime/ and gateway/ never import a service
            elif own is not None and _service_of(module) != own:
                found.append(where)  # a service imports only itself, proto and runtime
    return found


def test_the_services_are_the_ones_the_config_lists() -> None:
    from runtime import config

    assert set(SERVICES) == set(config.SERVICES)


def test_no_service_imports_another() -> None:
    assert violations("services") == []


def test_the_runtime_imports_no_service() -> None:
    assert violations("runtime") == []


def test_the_gateway_imports_no_service() -> None:
    assert violations("gateway") == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from services.catalog import events\n", ["services.catalog.events"]),
        ("def f():\n    import services.keys.algorithms\n", ["services.keys.algorithms"]),
        ("from .. import registry\n", ["services.registry"]),
        ("from . import store\n", ["services.exchange.store"]),
    ],
)
def test_the_reader_finds_every_kind_of_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, expected: list[str]
) -> None:
    # given a module inside a service package, as the checks read it
    package = tmp_path / "services" / "exchange"
    package.mkdir(parents=True)
    module = package / "events.py"
    module.write_text(source, encoding="utf-8")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    # then every import is seen, lazy and relative ones included
    assert [m for _, m in imported(module)] == expected

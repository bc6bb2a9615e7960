"""The command line of a platform process run alone (`python -m services.<name>`,
`python -m gateway`): `--help` prints what it runs and the settings it reads, and exits 0 before
anything starts, opens a database or binds a port; any other argument is a usage error (exit 2).

The settings themselves come from the environment (`runtime.config`), as under `smartcity up`.
"""

from __future__ import annotations

import argparse
import textwrap

from runtime import config, service_registry

__all__ = ["parser"]


def parser(process: str, *, prog: str, description: str) -> argparse.ArgumentParser:
    """The argument parser of `process` (a service's name, or "gateway"); callers add their
    own commands, if any, and parse."""
    paragraphs = (" ".join(p.split()) for p in description.strip().split("\n\n"))
    return argparse.ArgumentParser(
        prog=prog,
        description="\n\n".join(textwrap.fill(p, width=88) for p in paragraphs),
        epilog=settings_help(process),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def settings_help(process: str) -> str:
    """The settings `process` reads, with the defaults of the embedded single-machine mode."""
    name = process.upper()
    service = process in service_registry.names()
    ports, metrics_ports = config.default_ports(), config.default_metrics_ports()
    own_port = "gRPC" if service else "HTTP"
    rows = [
        ("SMARTCITY_DATA_DIR", "data directory (default ./var)"),
        (f"SMARTCITY_{name}_PORT", f"{own_port} port (default {ports[process]})"),
        (
            f"SMARTCITY_{name}_METRICS_PORT",
            f"Prometheus /metrics port (default {metrics_ports[process]})",
        ),
    ]
    if service:
        rows += [
            (
                "SMARTCITY_DATABASE_URL",
                f"a postgresql+asyncpg:// URL (default SQLite: DIR/{process}/{process}.db)",
            ),
            (
                "SMARTCITY_NATS_URL",
                f"NATS (default the embedded nats://127.0.0.1:{config.NATS_PORT})",
            ),
        ]
    rows += [
        (
            "SMARTCITY_ISSUER",
            f"the gateway's public URL (default http://localhost:{config.GATEWAY_PORT})",
        ),
        ("SMARTCITY_PRODUCTION", "true: refuse the embedded defaults (default false)"),
        ("SMARTCITY_LOG_LEVEL", "debug, info, warning or error (default info)"),
    ]
    width = max(len(variable) for variable, _ in rows) + 2
    lines = ["settings (environment variables; the defaults run on one machine):"]
    lines += [f"  {variable:<{width}}{meaning}" for variable, meaning in rows]
    lines.append("every setting: README.md, Configuration. `smartcity up` runs the whole platform.")
    return "\n".join(lines)

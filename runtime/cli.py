"""The `smartcity` command: `up` runs the platform, `trace` shows a trace, `audit` and
`assessment` read the keys service's database, `licence` verifies a licence presentation, `totp`
prints a code.

Every command that reads the platform's data takes `--data-dir`, and every one that calls it
takes `--gateway`, with the defaults `make run` uses (`runtime.command_line`). An expected
failure (no database, an unreachable gateway, bad input) is one line on stderr and a non-zero
exit status, never a traceback; `COMMAND --help` prints usage and starts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from runtime import command_line
from runtime.command_line import CommandFailed, parse
from runtime.platform import platform

USAGE = """usage: smartcity <command> [options]     (smartcity <command> --help for its options)

commands:
  up       run the whole platform on this machine (embedded NATS, SQLite, demo data):
           smartcity up [--data-dir DIR]
  trace    show a trace as a tree across every process (smartcity trace --help)
  audit    check the audit chain: smartcity audit verify [--json] [--data-dir DIR]
           (exit 1 when broken)
  assessment  the cryptographic assessment of every key, as JSON (Art. 39):
           smartcity assessment [--data-dir DIR]
  licence  verify a licence presentation (a QR code's text), online or offline:
           smartcity licence verify [--gateway URL] [--offline --trust-list F --status-list F]
           TEXT|- (exit 1 when not valid); smartcity licence fetch [--gateway URL] --out DIR
           saves both lists
  totp     print the current TOTP code of a base32 secret (smartcity totp SECRET), as an
           authenticator app would: for the demo staff accounts and for scripts;
           smartcity totp --demo USERNAME finds a demo officer's secret (embedded mode)

The data directory is --data-dir, else $SMARTCITY_DATA_DIR, else ./var; the gateway is --gateway,
else the one make run started for that directory, else $SMARTCITY_ISSUER, else
http://localhost:$SMARTCITY_GATEWAY_PORT (8080).
"""


# Every command, in the order of USAGE; `_command` imports each only when it is asked for.
COMMANDS = ("up", "trace", "audit", "assessment", "licence", "totp")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = args[0], args[1:]
    run = _command(command)
    if run is None:
        print(f"smartcity: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    try:
        return run(rest)
    except CommandFailed as exc:
        print(f"smartcity {command}: {exc.message}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return 130


def _command(name: str) -> Callable[[list[str]], int] | None:
    """The function that runs a command, imported only when that command is asked for."""
    if name == "up":
        return _up
    if name == "trace":
        from runtime.trace_cli import run as trace

        return trace
    # the rest are the platform's, registered with the runtime (runtime.platform)
    load = platform().commands.get(name)
    return load() if load is not None else None


def _up(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="smartcity up",
        description="Run the whole platform on this machine: an embedded NATS, every service, "
        "the gateway; restarts a process that crashes; Ctrl-C stops everything. Ports and "
        "the rest come from the SMARTCITY_* environment variables (README.md, Configuration).",
    )
    command_line.add_data_dir(parser, holds="databases, NATS store, logs and traces go there")
    parsed = parse(parser, args)
    if isinstance(parsed, int):
        return parsed
    if parsed.data_dir is not None:
        os.environ["SMARTCITY_DATA_DIR"] = str(Path(parsed.data_dir))  # for every child too

    from runtime import loop
    from runtime.launcher import up

    return loop.run(up())


if __name__ == "__main__":
    sys.exit(main())

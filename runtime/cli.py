"""The `smartcity` command: `up` runs the platform, `trace` shows a trace."""

from __future__ import annotations

import sys

USAGE = """usage: smartcity <command> [options]

commands:
  up       run the whole platform on this machine (embedded NATS, SQLite, demo data)
  trace    show a trace as a tree across every process (smartcity trace --help)
"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = args[0], args[1:]
    if command == "up":
        from runtime import loop
        from runtime.launcher import up

        return loop.run(up())
    if command == "trace":
        from runtime.trace_cli import run

        return run(rest)
    print(f"smartcity: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

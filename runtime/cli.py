"""The `smartcity` command: `up` runs the platform, `trace` shows a trace, `licence` verifies
a licence presentation, `totp` prints a code."""

from __future__ import annotations

import sys

USAGE = """usage: smartcity <command> [options]

commands:
  up       run the whole platform on this machine (embedded NATS, SQLite, demo data)
  trace    show a trace as a tree across every process (smartcity trace --help)
  audit    check the audit chain: smartcity audit verify [--json] (exit 1 when broken)
  assessment  the cryptographic assessment of every key, as JSON (Art. 39)
  licence  verify a licence presentation (a QR code's text), online or offline:
           smartcity licence verify [--offline --trust-list F --status-list F] TEXT|-
           (exit 1 when not valid); smartcity licence fetch --out DIR saves both lists
  totp     print the current TOTP code of a base32 secret (smartcity totp SECRET), as an
           authenticator app would: for the demo staff accounts and for scripts;
           smartcity totp --demo USERNAME finds a demo officer's secret (embedded mode)
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
    if command == "audit":
        from services.keys.audit_cli import run as audit

        return audit(rest)
    if command == "assessment":
        from services.keys.audit_cli import assess

        return assess(rest)
    if command == "licence":
        from services.licences.verify_cli import run as licence

        return licence(rest)
    if command == "totp":
        return _totp(rest)
    print(f"smartcity: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


def _totp(args: list[str]) -> int:
    import time

    from runtime import config
    from services.identity import demo, totp

    if len(args) == 2 and args[0] == "--demo":
        # embedded mode only: a demo officer's secret is derived from the demo password
        settings = config.load()
        if settings.production:
            print("smartcity totp: --demo has no demo accounts in production", file=sys.stderr)
            return 2
        secret = demo.totp_secret(settings.demo_password, args[1])
    elif len(args) == 1 and not args[0].startswith("-"):
        secret = args[0]
    else:
        print("usage: smartcity totp SECRET | smartcity totp --demo USERNAME", file=sys.stderr)
        return 0 if args in (["-h"], ["--help"]) else 2
    try:
        print(totp.code_at(secret, time.time()))
    except ValueError as exc:
        print(f"smartcity totp: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

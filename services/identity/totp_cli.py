"""`smartcity totp`: the current TOTP code of a base32 secret, as an authenticator app would
show it, or of a demo officer's secret (embedded mode only)."""

from __future__ import annotations

import argparse
import time

from runtime import command_line
from runtime.command_line import CommandFailed, parse
from services.identity import demo, totp


def run(args: list[str]) -> int:
    """`smartcity totp`."""
    parser = argparse.ArgumentParser(
        prog="smartcity totp",
        description="Print the current TOTP code of a base32 secret, as an authenticator app "
        "would (the demo staff accounts' secrets are in make run's banner).",
    )
    chosen = parser.add_mutually_exclusive_group(required=True)
    chosen.add_argument("secret", nargs="?", metavar="SECRET", help="the base32 secret")
    chosen.add_argument(
        "--demo",
        metavar="USERNAME",
        help="a demo officer's secret, derived from the demo password (embedded mode only)",
    )
    parsed = parse(parser, args)
    if isinstance(parsed, int):
        return parsed
    secret = parsed.secret
    if parsed.demo is not None:
        settings = command_line.settings(None)
        if settings.production:
            raise CommandFailed("--demo has no demo accounts in production", status=2)
        secret = demo.totp_secret(settings.demo_password, parsed.demo)
    try:
        print(totp.code_at(secret, time.time()))
    except ValueError as exc:
        raise CommandFailed(str(exc), status=2) from None
    return 0

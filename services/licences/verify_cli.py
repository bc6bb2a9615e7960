"""`smartcity licence`: verify a licence presentation (the text of its QR code) as any verifier
would, and fetch the public trust list and status list for later offline use.

    smartcity licence verify [--gateway URL] [--data-dir DIR] [--trust-list FILE]
                             [--status-list FILE] [--offline] [--no-status] [--json]
                             PRESENTATION|-
    smartcity licence fetch [--gateway URL] [--data-dir DIR] --out DIR

`verify` takes the trust list and the status list from the files given; each one not given is
fetched from the gateway (`/public/v1/licences/trust-list` and `.../status-list`), unless
`--offline` forbids the network. With both files it is fully offline. The algorithm is
`services.licences.credential.verify_offline`. The gateway is `--gateway`, else the running
platform's (`runtime.command_line.gateway`: the one `make run` started for `--data-dir`, else
`$SMARTCITY_ISSUER`, else `http://localhost:$SMARTCITY_GATEWAY_PORT`).

Exit status: 0 when the licence is valid, 1 when it is not (the result says why), 2 on a usage
error, an unreadable file or an unreachable gateway (the message names the URL).
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from runtime import command_line
from runtime.command_line import CommandFailed, Gateway
from services.licences import credential
from services.licences.credential import CredentialError, TrustList, Verification

__all__ = ["run"]

TRUST_LIST_PATH = "/public/v1/licences/trust-list"
STATUS_LIST_PATH = "/public/v1/licences/status-list"
TRUST_LIST_FILE = "trust-list.json"
STATUS_LIST_FILE = "status-list.txt"
TIMEOUT_SECONDS = 5.0
MAX_TRUST_LIST_BYTES = 4 * 1024 * 1024


class UsageError(CommandFailed):
    """Exit status 2: the message says what to fix (an argument, a file, a URL)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=2)


@dataclass(frozen=True)
class _Sources:
    trust: TrustList
    status_list: str | None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartcity licence",
        description="Verify electronic licence presentations, online or offline.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="verify a presentation (a QR code's text)")
    verify.add_argument("presentation", help="the presentation text, or - to read stdin")
    _add_platform_options(verify)
    verify.add_argument("--trust-list", type=Path, help="a trust list JSON file")
    verify.add_argument("--status-list", type=Path, help="a signed status list file")
    verify.add_argument("--offline", action="store_true", help="never use the network")
    verify.add_argument(
        "--no-status",
        action="store_true",
        help="do not check revocation when no status list is at hand (the reason says so)",
    )
    verify.add_argument("--json", action="store_true", help="print the verification as JSON")
    fetch = commands.add_parser("fetch", help="save the trust list and status list to a folder")
    _add_platform_options(fetch)
    fetch.add_argument("--out", type=Path, required=True, help="the folder to write to")
    return parser


def _add_platform_options(parser: argparse.ArgumentParser) -> None:
    command_line.add_gateway(parser)
    command_line.add_data_dir(parser, holds="used to find the gateway make run started")


def run(args: list[str]) -> int:
    parser = _parser()
    try:
        parsed = parser.parse_args(args)
    except SystemExit as exc:  # argparse exits 2 on a usage error, 0 on --help
        return int(exc.code or 0)
    try:
        if parsed.command == "fetch":
            return _fetch(gateway=_gateway(parsed), out=parsed.out)
        return _verify(parsed)
    except CommandFailed as exc:
        print(f"smartcity licence: {exc.message}", file=sys.stderr)
        return exc.status


def _gateway(parsed: argparse.Namespace) -> Gateway:
    return command_line.gateway(parsed.gateway, parsed.data_dir)


# --- verify ---------------------------------------------------------------------------------


def _verify(parsed: argparse.Namespace) -> int:
    text = sys.stdin.read() if parsed.presentation == "-" else parsed.presentation
    sources = _sources(parsed)
    verification = credential.verify_offline(
        text.strip(),
        trust=sources.trust,
        status_list=sources.status_list,
        now=time.time(),
        require_status=not parsed.no_status,
    )
    if parsed.json:
        print(orjson.dumps(_as_json(verification), option=orjson.OPT_INDENT_2).decode())
    else:
        print(_as_text(verification))
    return 0 if verification.result == "valid" else 1


def _sources(parsed: argparse.Namespace) -> _Sources:
    if parsed.trust_list is not None:
        trust_json = _read(parsed.trust_list)
    elif parsed.offline:
        raise UsageError("--offline needs --trust-list FILE (see smartcity licence fetch)")
    else:
        trust_json = _get(_gateway(parsed), TRUST_LIST_PATH, limit=MAX_TRUST_LIST_BYTES)
    trust = _trust_list(trust_json, origin=str(parsed.trust_list or _gateway(parsed).url))
    status_list: str | None
    if parsed.status_list is not None:
        status_list = _read(parsed.status_list).decode("utf-8", errors="replace")
    elif parsed.offline:
        status_list = None
    else:
        status_list = _get(
            _gateway(parsed), STATUS_LIST_PATH, limit=credential.MAX_STATUS_LIST_CHARS
        ).decode("utf-8", errors="replace")
    return _Sources(trust=trust, status_list=status_list)


def _trust_list(data: bytes, *, origin: str) -> TrustList:
    try:
        return TrustList.from_json(orjson.loads(data))
    except orjson.JSONDecodeError:
        raise UsageError(f"the trust list from {origin} is not JSON") from None
    except CredentialError as exc:
        raise UsageError(f"the trust list from {origin} is not usable: {exc}") from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def _get(gateway: Gateway, path: str, *, limit: int) -> bytes:
    url = gateway.url + path
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise UsageError(f"the gateway must be an http or https URL, not {gateway.url!r}")
    # S310 warns of file: and custom schemes; the scheme is checked just above.
    request = urllib.request.Request(url, headers={"Accept": "application/json, text/plain"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            body: bytes = response.read(limit + 1)
    except urllib.error.HTTPError as exc:
        raise UsageError(f"GET {url} failed: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise gateway.unreachable(url, exc.reason) from None
    except (TimeoutError, OSError) as exc:
        raise gateway.unreachable(url, exc) from None
    if len(body) > limit:
        raise UsageError(f"GET {url} returned more than {limit} bytes")
    return body


def _as_json(verification: Verification) -> dict[str, Any]:
    return {
        "result": verification.result,
        "reason": verification.reason,
        "licence_id": verification.licence_id,
        "licence_type": verification.licence_type,
        "issuer": verification.issuer,
        "disclosed": dict(verification.disclosed),
        "presentation_id": verification.presentation_id,
        "expires_at": verification.expires_at,
    }


def _as_text(verification: Verification) -> str:
    lines = [f"{verification.result.upper().replace('_', ' ')}: {verification.reason}"]
    rows = [
        ("licence", verification.licence_id),
        ("type", verification.licence_type),
        ("issuer", verification.issuer),
        ("presentation", verification.presentation_id),
    ]
    if verification.expires_at:
        expiry = datetime.fromtimestamp(verification.expires_at, tz=credential.CHINA_STANDARD_TIME)
        rows.append(("code expires", expiry.strftime("%Y-%m-%d %H:%M:%S China Standard Time")))
    lines += [f"  {label:<13}{value}" for label, value in rows if value]
    if verification.disclosed:
        lines.append("  disclosed:")
        for name, value in verification.disclosed.items():
            shown = value if isinstance(value, str) else orjson.dumps(value).decode()
            lines.append(f"    {name}: {shown}")
    elif verification.result == "valid":
        lines.append("  disclosed:    nothing (the holder revealed no field)")
    return "\n".join(lines)


# --- fetch ----------------------------------------------------------------------------------


def _fetch(*, gateway: Gateway, out: Path) -> int:
    trust_json = _get(gateway, TRUST_LIST_PATH, limit=MAX_TRUST_LIST_BYTES)
    trust = _trust_list(trust_json, origin=gateway.url)
    status_bytes = _get(gateway, STATUS_LIST_PATH, limit=credential.MAX_STATUS_LIST_CHARS)
    # Refuse to save a list that would only ever verify as "unknown status" later.
    problem = _status_list_problem(status_bytes.decode("utf-8", errors="replace"), trust)
    if problem is not None:
        raise UsageError(f"the status list from {gateway.url} is not usable: {problem}")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / TRUST_LIST_FILE).write_bytes(trust_json)  # as served, byte for byte
        (out / STATUS_LIST_FILE).write_bytes(status_bytes)
    except OSError as exc:
        raise UsageError(f"cannot write to {out}: {exc.strerror or exc}") from None
    print(f"saved {out / TRUST_LIST_FILE} and {out / STATUS_LIST_FILE}")
    print(
        f"verify offline with: smartcity licence verify --offline "
        f"--trust-list {out / TRUST_LIST_FILE} --status-list {out / STATUS_LIST_FILE} -"
    )
    return 0


def _status_list_problem(text: str, trust: TrustList) -> str | None:
    try:
        payload, payload_bytes, signature = credential.parse_status_list(text)
        name, version, der = credential.parse_signature(signature)
        credential.decode_status_list(credential.unb64u(payload["lst"]))
    except CredentialError as exc:
        return str(exc)
    key = trust.platform_keys.get((name, version))
    if key is None or not credential.verify_signature(key, credential.sm3(payload_bytes), der):
        return "its signature does not verify with the platform's keys"
    return None

"""CLI: ``python -m bench [SCENARIO ...]`` — gateway benchmarks that report ratios against
baselines measured in the same run.

Scenarios (default: all, in this order):

  gateway   the catalog GET through the gateway against two baselines (bare, hop)
  identity  the same identity read anonymous and with a staff token, alternating; the login rate
  keys      SM2 sign/verify and SM4-GCM encrypt: the raw library rate against the keys service
  authcodes interface authorisation codes checked from the hot path's cache, against a bare lookup
  catalog   open-catalog search through the gateway against the same searches on the database
  exchange  an interface-service query through the gateway against a bare handler's same JSON
  licences  licence presentations verified online through the gateway against raw SM2 verify;
            issuance and presentation rates
  partners  committed licence changes delivered to a partner by NATS and webhook against raw
            JetStream publish and consume: throughput, p50/p99 at a steady rate, no loss

--smoke: every scenario asked for (default: all) on tiny data and short runs, on one shared
platform, each within a time limit: it checks that the scenarios still work (no errors) and
prints their ratios and CPU per operation, but judges no timing.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import signal
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any, NoReturn

import orjson

from bench import authcodes, catalog, exchange, gateway, identity, keys, licences, partners
from bench._common import KEY_OPS
from bench.loadtool import choose_tool
from bench.runner import (
    SMOKE_OPTIONS,
    SMOKE_TIME_LIMIT_S,
    LoadSettings,
    Outcome,
    print_summary,
    scenario_guard,
)
from bench.targets import ROOT, shared_platform

SCENARIOS = (
    "gateway",
    "identity",
    "keys",
    "authcodes",
    "catalog",
    "exchange",
    "licences",
    "partners",
)
# The ones loaded with wrk (or bench._pyload); licences and partners bring their own clients.
HTTP_SCENARIOS = ("gateway", "identity", "catalog", "exchange")
# --duration and --warmup when not given: the keys scenario keeps its share of a default run short.
DEFAULT_DURATION_S = 10
DEFAULT_WARMUP_S = 2
RESULTS = ROOT / "bench" / "results"
DEFAULT_OUTPUT = RESULTS / "latest.json"


# Complex on purpose: one flat list of options, each with its check.
def _parse_args(argv: list[str] | None) -> argparse.Namespace:  # noqa: C901 (one flat list of options, each with its check)  # noqa: C901
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="SCENARIO",
        help=f"scenarios to run, from {', '.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument(
        "--only",
        default=",".join(gateway.ORDER),
        help="gateway: comma-separated targets to run, from bare,hop,real (default: all)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a smoke run: tiny data, short runs, one shared platform, a time limit per scenario; "
        "fails on errors, judges no timing (options given explicitly still apply)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        help=f"measured seconds per run (default: {DEFAULT_DURATION_S}; "
        f"keys {keys.DEFAULT_DURATION_S}; licences' raw runs {licences.RAW_DURATION_S:g}; "
        f"authcodes {authcodes.DURATION_S:g})",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        help=f"warm-up seconds per run, 0: none (default: {DEFAULT_WARMUP_S}; "
        f"keys {keys.DEFAULT_WARMUP_S})",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=32,
        help="concurrent connections (licences: verifications in flight)",
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (-t)")
    parser.add_argument(
        "--rounds",
        type=int,
        help=f"rounds per scenario, medians reported (default: gateway {gateway.DEFAULT_ROUNDS}, "
        f"identity {identity.DEFAULT_ROUNDS}, keys {keys.DEFAULT_ROUNDS}, "
        f"catalog {catalog.DEFAULT_ROUNDS}, exchange {exchange.DEFAULT_ROUNDS}, "
        f"licences {licences.DEFAULT_ROUNDS})",
    )
    parser.add_argument(
        "--login-connections", type=int, default=4, help="identity: connections for the logins"
    )
    parser.add_argument(
        "--login-duration", type=int, default=5, help="identity: measured seconds of logins"
    )
    parser.add_argument(
        "--keys-ops",
        default=",".join(KEY_OPS),
        help="keys: comma-separated operations, from sign,verify,encrypt,sign-batch (default: all)",
    )
    parser.add_argument(
        "--keys-concurrency",
        type=int,
        default=keys.DEFAULT_CONCURRENCY,
        help="keys: gRPC calls in flight, over all client processes",
    )
    parser.add_argument(
        "--keys-clients", type=int, default=1, help="keys: gRPC client processes (one channel each)"
    )
    parser.add_argument(
        "--keys-profile",
        nargs="?",
        const="python",
        choices=("python", "native"),
        help="keys: one more service run per operation with py-spy attached to the keys process "
        "(python: Python stacks, non-blocking; native: C frames too, slows the run); stacks "
        "under bench/results/keys-profile-<time>/, a summary printed",
    )
    parser.add_argument(
        "--catalog-resources",
        type=int,
        default=catalog.DEFAULT_RESOURCES,
        help="catalog: generated resources loaded before the runs",
    )
    parser.add_argument(
        "--exchange-records",
        type=int,
        help=f"exchange: records pushed before the runs (default: {exchange.DEFAULT_RECORDS})",
    )
    parser.add_argument(
        "--licences-count",
        type=int,
        default=licences.DEFAULT_LICENCES,
        help="licences: driving licences issued (and measured) before the verification runs",
    )
    parser.add_argument(
        "--licences-verifies",
        type=int,
        default=licences.DEFAULT_VERIFIES,
        help="licences: presentations made, then verified once each, per gateway run",
    )
    parser.add_argument(
        "--licences-concurrency",
        type=int,
        default=licences.DEFAULT_CONCURRENCY,
        help="licences: clients issuing licences and making presentations at once",
    )
    parser.add_argument(
        "--partners-licences",
        type=int,
        default=partners.DEFAULT_LICENCES,
        help="partners: driving licences issued, then suspended and resumed in turn",
    )
    parser.add_argument(
        "--partners-changes",
        type=int,
        default=partners.DEFAULT_CHANGES,
        help="partners: changes committed in the closed loop (the most the platform takes)",
    )
    parser.add_argument(
        "--partners-concurrency",
        type=int,
        default=partners.DEFAULT_CONCURRENCY,
        help="partners: changes in flight in the closed loop",
    )
    parser.add_argument(
        "--partners-backlog",
        type=int,
        default=partners.DEFAULT_BACKLOG,
        help="partners: changes committed while the partners process is paused, then drained "
        "(0: no backlog phase)",
    )
    parser.add_argument(
        "--partners-rate",
        type=float,
        help="partners: changes/s of the steady open loop (default: half the closed loop's)",
    )
    parser.add_argument(
        "--partners-steady",
        type=float,
        default=partners.DEFAULT_STEADY_S,
        help="partners: seconds of the steady open loop",
    )
    parser.add_argument(
        "--partners-raw",
        type=int,
        default=partners.DEFAULT_RAW_MESSAGES,
        help="partners: messages per raw JetStream run",
    )
    parser.add_argument(
        "--tool", choices=("auto", "wrk", "python"), default="auto", help="load generator"
    )
    parser.add_argument(
        "--no-install", action="store_true", help="never apt-get install wrk when missing"
    )
    parser.add_argument(
        "--body-file",
        type=Path,
        help="gateway: JSON body for the baselines when 'real' is not run (default: synthetic)",
    )
    parser.add_argument(
        "--ready-timeout", type=float, default=90.0, help="seconds to wait for /readyz"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="results JSON path")
    args = parser.parse_args(argv)
    if args.smoke:  # the smoke run's settings as defaults: options given explicitly still win
        parser.set_defaults(**SMOKE_OPTIONS)
        args = parser.parse_args(argv)
    unknown = sorted(set(args.scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}: choose from {', '.join(SCENARIOS)}")
    args.scenarios = [s for s in SCENARIOS if s in args.scenarios or not args.scenarios]
    only = [t.strip() for t in args.only.split(",") if t.strip()]
    unknown = sorted(set(only) - set(gateway.ORDER))
    if unknown or not only:
        parser.error(f"--only: unknown or empty target list {unknown or only}")
    args.targets = [t for t in gateway.ORDER if t in only]
    ops = [o.strip() for o in args.keys_ops.split(",") if o.strip()]
    unknown = sorted(set(ops) - set(KEY_OPS))
    if unknown or not ops:
        parser.error(f"--keys-ops: unknown or empty operation list {unknown or ops}")
    args.keys_ops = tuple(o for o in KEY_OPS if o in ops)
    if args.duration is not None and args.duration <= 0:
        parser.error("--duration must be > 0")
    for name in (
        "connections",
        "threads",
        "login_connections",
        "login_duration",
        "keys_concurrency",
        "keys_clients",
        "catalog_resources",
        "exchange_records",
        "licences_count",
        "licences_verifies",
        "licences_concurrency",
        "partners_licences",
        "partners_changes",
        "partners_concurrency",
        "partners_raw",
    ):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be >= 1")
    if args.keys_clients > args.keys_concurrency:
        parser.error("--keys-clients must be <= --keys-concurrency")
    if args.partners_backlog < 0:
        parser.error("--partners-backlog must be >= 0")
    if (args.partners_rate is not None and args.partners_rate <= 0) or args.partners_steady <= 0:
        parser.error("--partners-rate and --partners-steady must be > 0")
    if args.warmup is not None and args.warmup < 0:
        parser.error("--warmup must be >= 0")
    return args


def _raise_interrupt(_signum: int, _frame: types.FrameType | None) -> NoReturn:
    # SIGTERM takes the same path as Ctrl-C, so the finally blocks stop every child.
    raise KeyboardInterrupt


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2) + b"\n")


def run(args: argparse.Namespace) -> int:
    # The keys scenario brings its own gRPC clients: no HTTP load tool to find (or install).
    tool = None
    if any(s in HTTP_SCENARIOS for s in args.scenarios):
        tool = choose_tool(args.tool, allow_install=not args.no_install)
        print(f"bench: load tool: {tool.describe()}", file=sys.stderr)
    load = LoadSettings(
        duration_s=args.duration if args.duration is not None else DEFAULT_DURATION_S,
        warmup_s=args.warmup if args.warmup is not None else DEFAULT_WARMUP_S,
        connections=args.connections,
        threads=args.threads,
    )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    outcomes: dict[str, Outcome] = {}
    seconds: dict[str, float] = {}
    limit = SMOKE_TIME_LIMIT_S if args.smoke else None
    for scenario in args.scenarios:
        # A platform that fails to start leaves its logs here (its data dir is temporary).
        logs_dest = RESULTS / f"failed-{scenario}-{stamp}"
        started = time.monotonic()
        with (
            tempfile.TemporaryDirectory(prefix=f"smartcity-bench-{scenario}-") as tmp,
            scenario_guard(scenario, limit, outcomes),
        ):
            workdir = Path(tmp)
            if scenario == "gateway":
                assert tool is not None
                outcomes[scenario] = gateway.run(
                    tool,
                    load,
                    workdir=workdir,
                    targets_wanted=args.targets,
                    rounds=args.rounds or gateway.DEFAULT_ROUNDS,
                    ready_timeout=args.ready_timeout,
                    body_file_arg=args.body_file,
                    logs_dest=logs_dest,
                )
            elif scenario == "catalog":
                assert tool is not None
                outcomes[scenario] = catalog.run(
                    tool,
                    load,
                    workdir=workdir,
                    rounds=args.rounds or catalog.DEFAULT_ROUNDS,
                    resources=args.catalog_resources,
                    ready_timeout=args.ready_timeout,
                    logs_dest=logs_dest,
                )
            elif scenario == "exchange":
                assert tool is not None
                outcomes[scenario] = exchange.run(
                    tool,
                    load,
                    workdir=workdir,
                    rounds=args.rounds or exchange.DEFAULT_ROUNDS,
                    records=args.exchange_records or exchange.DEFAULT_RECORDS,
                    ready_timeout=args.ready_timeout,
                    logs_dest=logs_dest,
                )
            elif scenario == "licences":
                outcomes[scenario] = licences.run(
                    licences.LicencesSettings(
                        licences=args.licences_count,
                        verifies=args.licences_verifies,
                        rounds=args.rounds or licences.DEFAULT_ROUNDS,
                        concurrency=args.licences_concurrency,
                        verify_concurrency=args.connections,
                        raw_duration_s=args.duration or licences.RAW_DURATION_S,
                    ),
                    workdir=workdir,
                    ready_timeout=args.ready_timeout,
                    logs_dest=logs_dest,
                )
            elif scenario == "partners":
                outcomes[scenario] = partners.run(
                    partners.PartnersSettings(
                        licences=args.partners_licences,
                        changes=args.partners_changes,
                        concurrency=args.partners_concurrency,
                        backlog=args.partners_backlog,
                        steady_s=args.partners_steady,
                        rate=args.partners_rate,
                        raw_messages=args.partners_raw,
                    ),
                    workdir=workdir,
                    ready_timeout=args.ready_timeout,
                    logs_dest=logs_dest,
                )
            elif scenario == "authcodes":
                outcomes[scenario] = authcodes.run(args.duration or authcodes.DURATION_S)
            elif scenario == "keys":
                settings = keys.KeysSettings(
                    ops=args.keys_ops,
                    rounds=args.rounds or keys.DEFAULT_ROUNDS,
                    warmup_s=args.warmup if args.warmup is not None else keys.DEFAULT_WARMUP_S,
                    duration_s=(
                        args.duration if args.duration is not None else keys.DEFAULT_DURATION_S
                    ),
                    concurrency=args.keys_concurrency,
                    clients=args.keys_clients,
                    profile=args.keys_profile,
                    profile_dir=RESULTS / f"keys-profile-{stamp}",
                )
                outcomes[scenario] = keys.run(
                    settings, workdir=workdir, ready_timeout=args.ready_timeout, logs_dest=logs_dest
                )
            else:
                assert tool is not None
                outcomes[scenario] = identity.run(
                    tool,
                    load,
                    workdir=workdir,
                    rounds=args.rounds or identity.DEFAULT_ROUNDS,
                    ready_timeout=args.ready_timeout,
                    login_connections=args.login_connections,
                    login_duration=args.login_duration,
                    logs_dest=logs_dest,
                )
        seconds[scenario] = time.monotonic() - started
    payload = {
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "tool": {"kind": tool.kind, "version": tool.version} if tool is not None else None,
        "smoke": args.smoke,
        "scenarios": {name: o.payload for name, o in outcomes.items()},
        "exit_status": {name: o.exit_status for name, o in outcomes.items()},
        "headline": {name: o.headline for name, o in outcomes.items()},
        "seconds": seconds,
    }
    _write_json(args.output, payload)
    print_summary(outcomes, seconds)
    print(f"\nresults: {args.output}")
    # The worst scenario decides: 2 a target failed, 1 errors under load; targets never fail it.
    return max(o.exit_status for o in outcomes.values())


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        if not args.smoke:
            return run(args)
        with shared_platform(args.ready_timeout):  # every scenario's, in a smoke run
            return run(args)
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())

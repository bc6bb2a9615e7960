"""A closed-loop gRPC load client for the keys service: one ``grpc.aio`` channel, N calls in
flight (each worker sends its next call as soon as the previous answer is in).

Run as ``python -m bench._keysload --target HOST:PORT --op sign|verify|encrypt --key NAME
--concurrency N --duration S [--signature SIG]``, with the access token in ``BENCH_TOKEN`` (not
on the command line). Same handshake as :mod:`bench._keysraw`: ``READY`` once the channel is
connected, then the start time of the measured window on stdin; calls before it warm up.

Prints one JSON object: ``ok`` (calls completed in the window with the expected answer),
``failed`` (by gRPC status name, plus ``WRONG_ANSWER`` for a verify that said invalid or an
answer of the wrong shape), ``seconds``, ``p50_ms``, ``p99_ms``, ``cpu_s`` (this process's CPU
time in the window, all threads) and ``late_s``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import orjson
import uvloop

from bench._common import (
    KEY_OPS,
    SIGN_BATCH,
    SM2_MESSAGE,
    SM4_PLAINTEXT,
    report_ready_and_wait_for_start,
)
from runtime import grpcclient
from smartcity.keys.v1 import keys_pb2, keys_pb2_grpc

CALL_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 10.0


@dataclass
class _Tally:
    latencies_s: list[float] = field(default_factory=list)
    failed: Counter[str] = field(default_factory=Counter)


def _call(
    stub: Any, op: str, key: str, signature: str
) -> tuple[Callable[..., Any], Any, Callable[[Any], bool]]:
    """The stub method, the request (built once) and the check of each answer."""
    prefix = f"sc:{key}:v"
    request: Any
    if op == "sign":
        request = keys_pb2.SignRequest(name=key, message=SM2_MESSAGE)
        return stub.Sign, request, lambda r: str(r.signature).startswith(prefix)
    if op == "sign-batch":
        request = keys_pb2.SignBatchRequest(name=key, messages=[SM2_MESSAGE] * SIGN_BATCH)
        return stub.SignBatch, request, lambda r: len(r.signatures) == SIGN_BATCH
    if op == "verify":
        request = keys_pb2.VerifyRequest(name=key, message=SM2_MESSAGE, signature=signature)
        return stub.Verify, request, lambda r: bool(r.valid)
    request = keys_pb2.EncryptRequest(name=key, plaintext=SM4_PLAINTEXT)
    return stub.Encrypt, request, lambda r: str(r.ciphertext).startswith(prefix)


async def _worker(
    method: Callable[..., Any],
    request: Any,
    check: Callable[[Any], bool],
    metadata: tuple[tuple[str, str], ...],
    window: tuple[float, float],
    tally: _Tally,
) -> None:
    start, end = window
    while time.time() < end:
        t0 = time.perf_counter()
        try:
            reply = await method(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as exc:
            outcome = exc.code().name
        else:
            outcome = "" if check(reply) else "WRONG_ANSWER"
        done = time.time()
        if start <= done < end:  # completed inside the measured window
            if outcome:
                tally.failed[outcome] += 1
            else:
                tally.latencies_s.append(time.perf_counter() - t0)


async def _cpu_in_window(window: tuple[float, float]) -> float:
    """This process's CPU time (every thread: gRPC's own included) between the window's ends."""
    start, end = window
    await asyncio.sleep(max(0.0, start - time.time()))
    cpu0 = time.process_time()
    await asyncio.sleep(max(0.0, end - time.time()))
    return time.process_time() - cpu0


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return sorted_values[index]


async def _run(args: argparse.Namespace, token: str) -> dict[str, Any]:
    channel = grpcclient.channel(args.target)
    try:
        await asyncio.wait_for(channel.channel_ready(), CONNECT_TIMEOUT_S)
        stub = keys_pb2_grpc.KeysServiceStub(channel)
        method, request, check = _call(stub, args.op, args.key, args.signature)
        metadata = (("authorization", f"Bearer {token}"),)
        start_at = report_ready_and_wait_for_start()
        late_s = max(0.0, time.time() - start_at)
        window = (start_at, start_at + args.duration)
        tally = _Tally()
        cpu = asyncio.ensure_future(_cpu_in_window(window))
        await asyncio.gather(
            *(
                _worker(method, request, check, metadata, window, tally)
                for _ in range(args.concurrency)
            )
        )
        cpu_s = await cpu
    finally:
        await channel.close()
    latencies = sorted(tally.latencies_s)
    return {
        "op": args.op,
        # Signatures, not calls: a batch call makes SIGN_BATCH of them.
        "ok": len(latencies) * (SIGN_BATCH if args.op == "sign-batch" else 1),
        "failed": dict(tally.failed),
        "seconds": args.duration,
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else 0.0,
        "cpu_s": cpu_s,
        "late_s": late_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", required=True, help="HOST:PORT of the keys service")
    parser.add_argument("--op", choices=KEY_OPS, required=True)
    parser.add_argument("--key", required=True, help="the key's name")
    parser.add_argument("--concurrency", type=int, default=32, help="calls in flight")
    parser.add_argument("--duration", type=float, required=True, help="measured seconds")
    parser.add_argument("--signature", default="", help="verify: a signature of the message")
    args = parser.parse_args()
    token = os.environ.get("BENCH_TOKEN", "")
    if not token:
        raise SystemExit("BENCH_TOKEN is not set")
    result = uvloop.run(_run(args, token))
    print(orjson.dumps(result).decode(), flush=True)


if __name__ == "__main__":
    main()

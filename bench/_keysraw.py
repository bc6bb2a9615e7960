"""The raw library rate of one keys operation: a tight loop over ``runtime.algorithms`` in
this process, on one thread, as the keys service runs it (inline, one event-loop thread).

Run as ``python -m bench._keysraw --op sign|verify|encrypt --duration S``. The worker prepares
its key, prints ``READY``, reads the start time (``time.time()``) of the measured window from
stdin, runs the operation in a loop until then (warm-up), counts the operations completed in
the window, and prints one JSON object: ``op``, ``ops``, ``seconds``, ``cpu_s`` (this
process's CPU time in the window) and ``late_s`` (how long after the start time it began).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import orjson

from bench._common import (
    KEY_OPS,
    SM2_MESSAGE,
    SM4_KEY_NAME,
    SM4_PLAINTEXT,
    report_ready_and_wait_for_start,
)
from runtime import algorithms
from services.keys import domain


def operation(op: str) -> Callable[[], object]:
    """One call of ``op`` with a fresh key, exactly as the service makes it: the key material
    as stored (PKCS#8 DER, raw bytes), the public key as PEM, the same payloads."""
    if op in ("sign", "sign-batch"):  # raw, a batch is so many single signatures
        material = algorithms.generate("sm2")
        return lambda: algorithms.sign("sm2", material, SM2_MESSAGE)
    if op == "verify":
        material = algorithms.generate("sm2")
        pem = algorithms.public_key_pem("sm2", material)
        signature = algorithms.sign("sm2", material, SM2_MESSAGE)
        if not algorithms.verify("sm2", pem, SM2_MESSAGE, signature=signature):
            raise SystemExit("the SM2 signature does not verify")
        return lambda: algorithms.verify("sm2", pem, SM2_MESSAGE, signature=signature)
    if op == "encrypt":
        key = algorithms.generate("sm4-gcm")
        # What the service binds: the key's name and version, then the caller's (empty) data.
        bound = domain.associated_data(SM4_KEY_NAME, 1, b"")
        return lambda: algorithms.encrypt("sm4-gcm", key, SM4_PLAINTEXT, associated_data=bound)
    raise SystemExit(f"unknown operation {op!r}")


def measure(call: Callable[[], object], start_at: float, duration_s: float) -> dict[str, float]:
    late_s = max(0.0, time.time() - start_at)
    while time.time() < start_at:  # warm-up, discarded
        call()
    ops = 0
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    end = t0 + duration_s
    now = t0
    while now < end:
        call()
        ops += 1
        now = time.perf_counter()
    return {
        "ops": ops,
        "seconds": now - t0,
        "cpu_s": time.process_time() - cpu0,
        "late_s": late_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--op", choices=KEY_OPS, required=True)
    parser.add_argument("--duration", type=float, required=True)
    args = parser.parse_args()
    call = operation(args.op)
    call()
    start_at = report_ready_and_wait_for_start()
    result = measure(call, start_at, args.duration)
    print(orjson.dumps({"op": args.op, **result}).decode(), flush=True)


if __name__ == "__main__":
    main()

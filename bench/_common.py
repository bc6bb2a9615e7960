"""Small helpers shared by the benchmark's server processes."""

from __future__ import annotations

import asyncio
import signal
import sys


def identity(data: bytes) -> bytes:
    """Pass bytes through untouched: the bench gRPC method has no message schema."""
    return data


async def wait_for_stop_signal() -> None:
    """Block until SIGTERM or SIGINT so the process can shut down cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


# --- the keys scenario's worker processes (bench._keysraw, bench._keysload) ------------------

# The operations measured, as the raw workers and the gRPC clients name them.
KEY_OPS = ("sign", "verify", "encrypt", "sign-batch")
# Messages per SignBatch call in the `sign-batch` operation (rates count signatures, not calls).
SIGN_BATCH = 50
# The same payloads on both sides: a licence-sized SM2 message and a 256-byte SM4 plaintext.
SM2_MESSAGE = "电子驾驶证 1.2.156.3005.2.11.460100.0001 bench".encode().ljust(64, b".")
SM4_PLAINTEXT = bytes(range(256))
SM4_KEY_NAME = "bench.sm4"


def report_ready_and_wait_for_start() -> float:
    """The start handshake of a worker: say READY once prepared, then read the wall-clock time
    (``time.time()``) at which the measured window starts. Until then the worker warms up."""
    print("READY", flush=True)
    line = sys.stdin.readline()
    if not line.strip():
        raise SystemExit("no start time on stdin")
    return float(line)

"""Small helpers shared by the benchmark's server processes."""

from __future__ import annotations

import asyncio
import signal


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

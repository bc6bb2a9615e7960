"""Running a coroutine on uvloop where it is installed, asyncio otherwise.

`SMARTCITY_EVENT_LOOP=asyncio` forces the standard loop (for comparisons and debugging).
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    if os.environ.get("SMARTCITY_EVENT_LOOP", "uvloop") == "asyncio":
        return asyncio.run(main)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def stop_event() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT: the end of a process's main task."""
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    return stop


def settle_heap() -> None:
    """Call once a server has started: everything allocated so far (modules, descriptors, pools)
    lives as long as the process, so move it out of the collector's way, and collect the young
    generation less often. Full collections no longer rescan the whole import-time heap."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)

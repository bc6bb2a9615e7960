"""What the shared runtime needs from the platform it runs, registered by the platform instead of
imported from it: the `smartcity` command's subcommands beyond `up` and `trace`, the processes on
the bus (whose rights the embedded NATS server enforces), and the demo accounts' banner lines.

The runtime depends on nothing it serves: it names the platform's composition root once
(`COMPOSITION_ROOT`, which exposes `PLATFORM`) and imports it only when one of these is asked for.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.natsauth import Participant

COMPOSITION_ROOT = "services.platform"

Command = Callable[[list[str]], int]


@dataclass(frozen=True)
class Platform:
    """A platform as the runtime sees it. Each command is loaded only when it is asked for."""

    commands: Mapping[str, Callable[[], Command]]
    participants: Callable[[], Sequence[Participant]]
    demo_banner: Callable[[str], list[str]]


@functools.cache
def platform() -> Platform:
    """The platform the composition root registers."""
    registered = importlib.import_module(COMPOSITION_ROOT).PLATFORM
    if not isinstance(registered, Platform):
        raise TypeError(f"{COMPOSITION_ROOT}.PLATFORM is not a runtime.platform.Platform")
    return registered
